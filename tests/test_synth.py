"""The simulated fish: Chen layout and quirks, determinism, plausible statistics."""

import h5py
import numpy as np
import pytest

from sbm.io.chen import WRAPPED_FRAMES, read_chen_fish, read_mat_fields
from sbm.synth.brain import canonical_brain
from sbm.synth.fish import SimConfig, sample_fish, simulate_fish
from tests.conftest import SMALL


def read_all(folder):
    with h5py.File(folder / "TimeSeries.h5") as f:
        resp, abs_ix = f["CellResp"][()], f["absIX"][()].ravel()
    with h5py.File(folder / "ground_truth.h5") as g:
        truth = {k: g[k][()] for k in g}
    mat = read_mat_fields(
        folder / "data_full.mat", ["CellXYZ", "CellXYZ_norm", "IX_inval_anat", "fpsec", "stim_full", "Behavior_full"]
    )
    return resp, abs_ix, truth, mat


def test_chen_layout_and_quirks(small_fish):
    resp, abs_ix, truth, mat = read_all(small_fish)
    T, N = SMALL.n_frames, SMALL.n_neurons
    assert resp.shape == (T, N) and resp.dtype == np.float32  # time x cells, as h5py sees the real file
    n_all = mat["CellXYZ"].shape[0]
    assert mat["CellXYZ"].shape == (n_all, 3) and n_all > N  # absIX is a subset of all cells
    assert np.all(np.diff(abs_ix) > 0) and abs_ix.min() >= 1 and abs_ix.max() <= n_all
    assert np.isin(mat["IX_inval_anat"].ravel(), np.arange(1, n_all + 1)).all()
    assert np.isnan(mat["CellXYZ_norm"][abs_ix.astype(int) - 1]).any(axis=1).sum() >= 1  # a few NaN positions
    # The -2 frame shift: the last two frames are wrapped copies of the first two.
    np.testing.assert_array_equal(resp[T - WRAPPED_FRAMES :], resp[:WRAPPED_FRAMES])
    assert not np.array_equal(resp[T - WRAPPED_FRAMES - 1], resp[0])
    assert mat["stim_full"].size == T and mat["Behavior_full"].shape == (5, T)
    assert SMALL.fps_range[0] <= float(mat["fpsec"].ravel()[0]) <= SMALL.fps_range[1]
    assert np.all(mat["Behavior_full"] >= 0) and (mat["Behavior_full"][:3] > 0).any(axis=1).all()
    # The ground truth covers exactly the frames and cells that survive the wrap.
    assert truth["rate"].shape == truth["spikes"].shape == (T - WRAPPED_FRAMES, N)
    np.testing.assert_array_equal(truth["cell_id"], abs_ix)
    assert resp.min() > 0  # fluorescence, not DF/F


def test_deterministic_per_seed_and_subject(small_fish, tmp_path):
    simulate_fish(SMALL, "subject_1", tmp_path / "again")
    simulate_fish(SMALL, "subject_2", tmp_path / "other")
    a, b, c = read_all(small_fish), read_all(tmp_path / "again"), read_all(tmp_path / "other")
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[2]["spikes"], b[2]["spikes"])
    assert a[0].shape == c[0].shape and not np.allclose(a[0], c[0])


def test_chunking_does_not_change_the_fish(small_fish, tmp_path):
    cfg = SimConfig(**{**SMALL.__dict__, "chunk_frames": 37})
    simulate_fish(cfg, "subject_1", tmp_path / "s")
    np.testing.assert_array_equal(read_all(small_fish)[0], read_all(tmp_path / "s")[0])


def test_v73_mat_reads_the_same(small_fish, tmp_path):
    cfg = SimConfig(**{**SMALL.__dict__, "mat_format": "v7.3"})
    simulate_fish(cfg, "subject_1", tmp_path / "subject_1")
    assert h5py.is_hdf5(tmp_path / "subject_1" / "data_full.mat")
    assert (tmp_path / "subject_1" / "data_full.mat").read_bytes()[:10] == b"MATLAB 7.3"
    v5, v73 = read_chen_fish(small_fish), read_chen_fish(tmp_path / "subject_1")
    np.testing.assert_array_equal(v5.cell_id, v73.cell_id)
    np.testing.assert_allclose(v5.xyz_um, v73.xyz_um)
    np.testing.assert_array_equal(v5.stim_code, v73.stim_code)
    np.testing.assert_allclose(v5.behavior, v73.behavior)
    assert v5.fps == v73.fps


def test_spikes_and_rates_are_plausible(tmp_path):
    # Long enough for every fish's protocol to include phototaxis (dark half-fields).
    simulate_fish(SimConfig(n_neurons=300, n_frames=1500), "subject_1", tmp_path)
    truth = read_all(tmp_path)[2]
    p_spike = (truth["spikes"] > 0).mean()
    assert 0.02 < p_spike < 0.5
    # Expected and sampled spikes agree on average (Poisson).
    assert abs(truth["spikes"].mean() - truth["rate"].mean()) < 0.05 * truth["rate"].mean() + 0.01
    # Stimulus-driven populations respond: tectal darkness cells fire more in the dark half-field.
    brain = canonical_brain()
    rate = truth["population_rate"]
    dark_cells = brain.pop_index("tectum_R_dark")  # the right tectum sees the left visual field
    code = truth["stimulus_code"]
    assert rate[code == 1, dark_cells].mean() > 2 * rate[code == 2, dark_cells].mean()


def test_unknown_setting_is_rejected():
    with pytest.raises(ValueError, match="unknown simulator settings"):
        SimConfig.from_dict({"n_neurons": 10, "n_nerons": 5})


def test_wiring_gain_scales_every_connection_and_only_them():
    brain = canonical_brain()
    # The same seed for both fish: the same draws.
    base = sample_fish(brain, SimConfig(n_neurons=200), np.random.default_rng(3))
    strong = sample_fish(brain, SimConfig(n_neurons=200, wiring_gain=2.0), np.random.default_rng(3))
    assert np.count_nonzero(base.weights) > 10
    np.testing.assert_allclose(strong.weights, 2.0 * base.weights)
    np.testing.assert_array_equal(strong.pop, base.pop)
