"""The Chen 2018 reader: quirks handled, and every malformed input named with its file."""

import h5py
import numpy as np
import pytest

from sbm.io.chen import WRAPPED_FRAMES, read_chen_fish, read_mat_fields, write_mat_fields
from sbm.io.errors import InputError
from tests.conftest import SMALL

FIELDS = ["CellXYZ", "CellXYZ_norm", "IX_inval_anat", "fpsec", "stim_full", "Behavior_full"]


def rewrite_mat(folder, **changes):
    """Rewrite data_full.mat with some fields replaced (None deletes a field)."""
    fields = read_mat_fields(folder / "data_full.mat", FIELDS)
    for k, v in changes.items():
        if v is None:
            del fields[k]
        else:
            fields[k] = v
    write_mat_fields(folder / "data_full.mat", fields)


def rewrite_resp(folder, resp=None, abs_ix=None):
    with h5py.File(folder / "TimeSeries.h5", "r+") as f:
        if resp is not None:
            del f["CellResp"]
            f["CellResp"] = resp
        if abs_ix is not None:
            del f["absIX"]
            f["absIX"] = abs_ix


def test_reader_drops_quirks(small_fish):
    fish = read_chen_fish(small_fish)
    with h5py.File(small_fish / "TimeSeries.h5") as f:
        abs_ix = f["absIX"][()].ravel().astype(int)
    mat = read_mat_fields(small_fish / "data_full.mat", FIELDS)
    invalid = np.isin(abs_ix, mat["IX_inval_anat"].ravel())
    nan = np.isnan(mat["CellXYZ_norm"][abs_ix - 1]).any(axis=1) & ~invalid
    assert fish.n_frames == SMALL.n_frames - WRAPPED_FRAMES
    assert fish.n_neurons == len(abs_ix) - invalid.sum() - nan.sum()
    assert fish.dropped == {"invalid_anat": int(invalid.sum()), "nan_position": int(nan.sum())}
    assert fish.dropped["invalid_anat"] > 0 and fish.dropped["nan_position"] > 0
    np.testing.assert_array_equal(fish.cell_id, abs_ix[~invalid & ~nan])
    # Positions come through absIX from the full list, in micrometres.
    np.testing.assert_allclose(fish.xyz_um, mat["CellXYZ_norm"][fish.cell_id - 1] * [0.798, 0.798, 2.0], rtol=1e-6)
    assert np.isfinite(fish.xyz_um).all()
    assert fish.behavior.shape == (fish.n_frames, 5) and fish.stim_code.shape == (fish.n_frames,)
    block = fish.read_block(0, 50)
    with h5py.File(small_fish / "TimeSeries.h5") as f:
        np.testing.assert_array_equal(block, f["CellResp"][: fish.n_frames][:, fish.columns[:50]])


def test_raw_positions_use_their_own_voxel_size(small_fish):
    fish = read_chen_fish(small_fish, position_field="CellXYZ", voxel_size_um=(0.4, 0.4, 5.0))
    mat = read_mat_fields(small_fish / "data_full.mat", ["CellXYZ"])
    np.testing.assert_allclose(fish.xyz_um, mat["CellXYZ"][fish.cell_id - 1] * [0.4, 0.4, 5.0], rtol=1e-6)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(stim_full=None), "missing field 'stim_full'"),
        (dict(stim_full=np.zeros((1, 10))), "stim_full has 10 frames but CellResp has 400"),
        (dict(stim_full=np.full((1, 400), 1.5)), "integer stimulus codes"),
        (dict(CellXYZ_norm=np.zeros((3, 40))), "looks transposed"),
        (dict(CellXYZ_norm=np.zeros((40, 3))), "absIX refers to cell"),
        (dict(fpsec=np.array([[np.nan]])), "fpsec must be one frame rate"),
    ],
)
def test_malformed_data_full(fish_copy, change, message):
    rewrite_mat(fish_copy, **change)
    with pytest.raises(InputError, match=message) as err:
        read_chen_fish(fish_copy)
    assert "data_full.mat" in str(err.value) or "TimeSeries.h5" in str(err.value)


@pytest.mark.parametrize(
    "behavior, problem",
    [
        (None, "data_full.mat has no Behavior_full"),
        (np.full((5, 400), np.nan), "Behavior_full holds 2000 non-finite values (first: left_turn at frame 0)"),
        (np.zeros((400, 5)), "looks transposed"),
        (np.zeros((3, 400)), "Behavior_full must be 5 x frames"),
        (np.zeros((5, 399)), "Behavior_full has 399 frames but CellResp has 400"),
    ],
)
def test_unusable_behaviour_leaves_the_brain_readable(fish_copy, behavior, problem):
    """Only the behaviour stages need behaviour: the fish still opens, with the problem named."""
    rewrite_mat(fish_copy, Behavior_full=behavior)
    fish = read_chen_fish(fish_copy)
    assert fish.behavior is None and problem in fish.behavior_problem
    assert fish.read_block(0, 5).shape == (fish.n_frames, 5)


def test_transposed_cellresp(fish_copy):
    with h5py.File(fish_copy / "TimeSeries.h5") as f:
        resp = f["CellResp"][()]
    rewrite_resp(fish_copy, resp=resp.T)
    with pytest.raises(InputError, match=r"TimeSeries.h5: CellResp is \(300, 400\).*looks transposed"):
        read_chen_fish(fish_copy)


def test_absix_mismatch_and_duplicates(fish_copy):
    with h5py.File(fish_copy / "TimeSeries.h5") as f:
        abs_ix = f["absIX"][()].ravel()
    rewrite_resp(fish_copy, abs_ix=abs_ix[:-1])
    with pytest.raises(InputError, match="CellResp has 300 cells but absIX lists 299"):
        read_chen_fish(fish_copy)
    dup = abs_ix.copy()
    dup[1] = dup[0]
    rewrite_resp(fish_copy, abs_ix=dup)
    with pytest.raises(InputError, match="more than once"):
        read_chen_fish(fish_copy)


def test_nan_in_fluorescence_is_named(fish_copy):
    with h5py.File(fish_copy / "TimeSeries.h5", "r+") as f:
        f["CellResp"][7, 3] = np.nan
    fish = read_chen_fish(fish_copy)  # opening reads no fluorescence
    with pytest.raises(InputError, match=r"TimeSeries.h5: CellResp has 1 non-finite values.*frame 7, column 3"):
        fish.read_block(0, fish.n_neurons)


def test_truncated_files(fish_copy):
    ts = fish_copy / "TimeSeries.h5"
    ts.write_bytes(ts.read_bytes()[: ts.stat().st_size // 2])
    with pytest.raises(InputError, match="TimeSeries.h5: not a readable HDF5 file"):
        read_chen_fish(fish_copy)
    mat = fish_copy / "data_full.mat"
    mat.write_bytes(mat.read_bytes()[:300])
    with pytest.raises(InputError, match="data_full.mat: not a readable MATLAB file"):
        read_mat_fields(mat, ["fpsec"])


def test_missing_files_and_datasets(fish_copy, tmp_path):
    with pytest.raises(InputError, match="TimeSeries.h5: file not found"):
        read_chen_fish(tmp_path / "nowhere")
    with h5py.File(fish_copy / "TimeSeries.h5", "r+") as f:
        del f["absIX"]
    with pytest.raises(InputError, match="missing dataset 'absIX'"):
        read_chen_fish(fish_copy)
