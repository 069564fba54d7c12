"""Your own recordings: the table and NWB readers (round trips with the simulated fish, and every
kind of bad input named with its file), the dataset's stimulus vocabulary, and the region export."""

import shutil
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np
import pynwb
import pytest
import yaml
from conftest import good_fields, run_script, suite2p_to_nwb, write_fields, write_suite2p

from sbm.io.check import check_recordings
from sbm.io.chen import read_chen_fish, read_stim_codes
from sbm.io.errors import InputError
from sbm.io.export import chen_recording, fit_regions, region_recording
from sbm.io.nwb import NWBSettings, write_nwb
from sbm.io.recording import align_stimulus, recording_vocabulary
from sbm.io.sources import read_recording, recording_stimulus_names
from sbm.io.table import table_kind, write_table
from sbm.spikes.dff import build_vocabulary
from sbm.workflow import read_config

ZBRAIN_VOXEL = (0.798, 0.798, 2.0)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def neurons(small_fish):
    """The small simulated fish as the Chen path reads it."""
    vocabulary = build_vocabulary({"subject_1": read_stim_codes(small_fish)}, {3: "all_white"})
    return chen_recording(read_chen_fish(small_fish), vocabulary)


def behavior_by_name(rec) -> dict:
    return {name: rec.behavior[:, k] for k, name in enumerate(rec.behavior_names)}


@pytest.mark.parametrize("suffix", [".h5", ".npz", ".nwb"])
def test_a_fish_written_in_each_format_reads_back_as_the_chen_reader_gave_it(neurons, tmp_path, suffix):
    path = tmp_path / f"subject_1{suffix}"
    if suffix == ".nwb":
        write_nwb(path, neurons, ZBRAIN_VOXEL)
    else:
        write_table(path, neurons)
    back = read_recording(path)
    assert back.subject == "subject_1" and back.kind == "fluorescence" and back.fps == pytest.approx(neurons.fps)
    np.testing.assert_array_equal(back.activity, neurons.activity)
    np.testing.assert_array_equal(back.cell_id, neurons.cell_id)
    # NWB: each ROI's voxel mask over its 8 neighbouring voxels has the position as its centroid.
    np.testing.assert_allclose(back.xyz_um, neurons.xyz_um, atol=1e-3)
    np.testing.assert_array_equal(align_stimulus(back, list(neurons.stimulus_names)), neurons.stimulus)
    assert set(back.stimulus_names) <= set(neurons.stimulus_names)  # NWB intervals: stimuli that were shown
    expected = behavior_by_name(neurons)
    assert all(np.array_equal(values, expected[name]) for name, values in behavior_by_name(back).items())
    assert set(back.behavior_names) == set(neurons.behavior_names)
    assert set(recording_stimulus_names(path)) == set(back.stimulus_names)


def test_the_vocabulary_puts_the_configs_names_first_and_fills_what_a_fish_never_saw(neurons):
    vocabulary = recording_vocabulary(
        {"a": ("dot", "all_white"), "b": ("flash", "all_black")}, ["all_black", "all_white"]
    )
    assert vocabulary["names"] == ["all_black", "all_white", "dot", "flash"]
    fish = replace(neurons, stimulus=neurons.stimulus[:, :1], stimulus_names=(neurons.stimulus_names[0],))
    names = ["other", neurons.stimulus_names[0]]
    aligned = align_stimulus(fish, names)
    assert not aligned[:, 0].any() and np.array_equal(aligned[:, 1], neurons.stimulus[:, 0])
    with pytest.raises(InputError, match="not in the stimulus vocabulary"):
        align_stimulus(fish, ["other"])


def nan_activity(f):
    f["activity"][3, 2] = np.nan


@pytest.mark.parametrize("suffix", [".h5", ".npz"])
@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda f: f.pop("xyz"), r"missing field\(s\) \['xyz'\]"),
        (lambda f: f.pop("fps"), r"missing field\(s\) \['fps \(or timestamps\)'\]"),
        (nan_activity, "activity holds 1 non-finite values \\(first at frame 3, neuron 2\\)"),
        (lambda f: f.update(xyz=f["xyz"].T), "xyz must be neurons x 3 .*it looks transposed"),
        (lambda f: f.update(activity=f["activity"][:, 0]), "activity must be frames x neurons"),
        (lambda f: f.update(kind=np.asarray("spikes")), "kind must be one of"),
        (lambda f: f.update(kind=np.asarray("activity"), activity=f["activity"] * 3), "must lie in \\[0, 1\\]"),
        (lambda f: f.update(stimulus=f["stimulus"][:-1]), "stimulus must be frames x columns with 40 frames"),
        (lambda f: f.update(stimulus_names=np.asarray(["dark"])), "1 stimulus_names for 2 stimulus columns"),
        (lambda f: f.update(timestamps=np.r_[np.arange(20), np.arange(20)] / 2.0), "timestamps are not increasing"),
        (lambda f: f.update(timestamps=np.r_[np.arange(20), np.arange(21, 41)] / 2.0), "not evenly spaced"),
        (lambda f: f.update(subject=np.asarray("subject_9")), "holds fish 'subject_9', not 'subject_1'"),
        (lambda f: f.update(cell_id=np.zeros(6, int)), "cell_id must be 6 distinct ids"),
        (lambda f: f.update(cell_id=np.arange(6) + 0.5), "cell_id must hold integer ids"),
        (lambda f: f.update(fps=np.asarray("fast")), "fps is not numeric"),
    ],
)
def test_a_bad_table_file_is_refused_with_its_name_and_the_problem(tmp_path, suffix, damage, message):
    fields = good_fields()
    damage(fields)
    path = tmp_path / f"subject_1{suffix}"
    write_fields(path, fields)
    with pytest.raises(InputError, match=message) as err:
        read_recording(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("suffix", [".h5", ".npz", ".nwb"])
def test_a_truncated_file_is_refused(neurons, tmp_path, suffix):
    path = tmp_path / f"subject_1{suffix}"
    write_nwb(path, neurons, ZBRAIN_VOXEL) if suffix == ".nwb" else write_table(path, neurons)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InputError, match="truncated|damaged|cannot be read") as err:
        read_recording(path)
    assert str(path) in str(err.value)


def test_the_timestamps_give_the_frame_rate_and_behaviour_with_nan_defers_to_the_behaviour_stages(tmp_path):
    fields = good_fields()
    fields.pop("fps")
    fields.update(timestamps=100 + np.arange(40) / 2.5, behavior=np.ones((40, 1)), behavior_names=np.asarray(["tail"]))
    fields["behavior"][5] = np.nan
    write_fields(tmp_path / "subject_1.h5", fields)
    rec = read_recording(tmp_path / "subject_1.h5")
    assert rec.fps == pytest.approx(2.5) and rec.behavior is None and "tail at frame 5" in rec.behavior_problem
    assert table_kind(tmp_path / "subject_1.h5") == "dff"


def nwb_file(neurons, path, **changes):
    write_nwb(path, replace(neurons, **changes), ZBRAIN_VOXEL)
    return path


def test_bad_nwb_files_are_refused_with_their_name(neurons, tmp_path):
    path = nwb_file(neurons, tmp_path / "subject_1.nwb")
    with h5py.File(path, "r+") as f:  # an imaging plane without its grid: no positions
        del f["general/optophysiology/ImagingPlane/grid_spacing"]
    with pytest.raises(InputError, match="positions missing: imaging plane 'ImagingPlane' has no grid_spacing"):
        read_recording(path)
    empty = tmp_path / "subject_2.nwb"
    with pynwb.NWBHDF5IO(str(empty), "w") as io:
        io.write(
            pynwb.NWBFile(session_description="no ophys", identifier="x", session_start_time=datetime.now(timezone.utc))
        )
    with pytest.raises(InputError, match="no RoiResponseSeries"):
        read_recording(empty)
    with pytest.raises(InputError, match="0 RoiResponseSeries match nwb.series 'deconvolved'"):
        read_recording(
            nwb_file(neurons, tmp_path / "subject_3.nwb", subject="subject_3"),
            nwb_settings=NWBSettings(series="deconvolved"),
        )
    rec = read_recording(tmp_path / "subject_3.nwb", nwb_settings=NWBSettings(series="RoiResponseSeries"))
    assert rec.n_neurons == neurons.n_neurons


def test_nwb_data_are_read_in_their_unit_through_conversion_and_offset(neurons, tmp_path):
    path = nwb_file(neurons, tmp_path / "subject_1.nwb")
    with h5py.File(path, "r+") as f:
        data = f["processing/ophys/Fluorescence/RoiResponseSeries/data"]
        data.attrs["conversion"], data.attrs["offset"] = 0.5, 10.0
    np.testing.assert_allclose(read_recording(path).activity, neurons.activity * 0.5 + 10, rtol=1e-6)


def test_a_dff_nwb_file_in_percent_is_read_as_a_fraction(neurons, tmp_path):
    dff = neurons.activity / neurons.activity.mean(0) - 1
    path = nwb_file(neurons, tmp_path / "subject_1.nwb", kind="dff", activity=dff * 100)
    with h5py.File(path, "r+") as f:
        f["processing/ophys/DfOverF/RoiResponseSeries/data"].attrs["unit"] = "%"
    back = read_recording(path)
    assert back.kind == "dff"
    np.testing.assert_allclose(back.activity, dff, rtol=1e-5, atol=1e-6)


def test_region_export_averages_the_true_probabilities_over_shared_regions(small_fish, neurons):
    regions = fit_regions([neurons.xyz_um], 12)
    rec = region_recording(neurons, small_fish / "ground_truth.h5", regions)
    assert rec.kind == "activity" and rec.n_frames == neurons.n_frames and rec.n_neurons <= 12
    assert 0 <= rec.activity.min() and rec.activity.max() <= 1
    with h5py.File(small_fish / "ground_truth.h5") as g:
        order = np.searchsorted(g["cell_id"][()], neurons.cell_id)
        first = regions.predict(neurons.xyz_um.astype(float)) == rec.cell_id[0] - 1
        expected = (-np.expm1(-g["rate"][()][:, order][:, first])).mean(1)
    np.testing.assert_allclose(rec.activity[:, 0], expected, rtol=1e-5)


def test_the_export_script_writes_every_fish_of_a_config(small_fish, tmp_path):
    config = tmp_path / "mine.yaml"
    config.write_text(f"dataset: mine\nsource: chen2018\nraw_dir: {small_fish.parent}\nsubjects: [subject_1]\n")
    assert run_script("export_fish", ["--config", config, "--format", "npz", "--out-dir", tmp_path / "out"]) == 0
    assert read_recording(tmp_path / "out/subject_1.npz").kind == "fluorescence"
    assert run_script("export_fish", ["--config", config, "--format", "parquet", "--out-dir", tmp_path]) == 1


def test_nwb_stimulus_at_another_rate_is_held_per_frame_and_behaviour_at_another_rate_defers(neurons, tmp_path):
    path = nwb_file(neurons, tmp_path / "subject_1.nwb")
    frame_times = np.arange(neurons.n_frames) / neurons.fps
    fast = np.arange(4 * neurons.n_frames, dtype=float) % 7  # four samples per frame
    with pynwb.NWBHDF5IO(str(path), "a") as io:
        nwb = io.read()
        nwb.add_stimulus(pynwb.TimeSeries(name="laser", data=fast, unit="mW", rate=4 * neurons.fps))
        series = nwb.processing["behavior"]["BehavioralTimeSeries"]["left_turn"]
        nwb.processing["behavior"]["BehavioralTimeSeries"].create_timeseries(
            name="tail", data=np.zeros(3 * neurons.n_frames), unit="rad", rate=3 * series.rate
        )
        io.write(nwb)
    back = read_recording(path)
    laser = back.stimulus[:, back.stimulus_names.index("laser")]
    np.testing.assert_array_equal(laser, fast[np.round(frame_times * 4 * neurons.fps).astype(int)])
    assert back.behavior is None and "tail has" in back.behavior_problem and back.n_neurons == neurons.n_neurons


# --- suite2p output converted by neuroconv, as labs bring it -------------------------------------
PIXEL_UM = (0.6, 0.8)  # x (along the image's columns, suite2p's xpix), y (along its rows, ypix): not square
NOT_CELLS = [3, 11, 17, 30]  # ROIs suite2p marked iscell = 0


@pytest.fixture(scope="module")
def suite2p(neurons, tmp_path_factory):
    """The small fish's first 40 neurons as a suite2p plane (48 x 64 pixels): F holds 0.7 of a
    neuropil signal beside the cell's own fluorescence, 4 ROIs are not cells. Returns the folder,
    the cells' own fluorescence (frames, ROIs), the ROIs' weighted centres (row, column) in pixels."""
    rng = np.random.default_rng(1)
    n = 40
    own = neurons.activity[:, :n]
    t = np.arange(neurons.n_frames)[:, None]
    neuropil = 50 + 20 * np.sin(t / 9.0 + rng.uniform(0, 6, n)) + rng.normal(0, 1, (neurons.n_frames, n))
    centres = np.c_[rng.uniform(2, 46, n), rng.uniform(2, 62, n)]
    iscell = np.isin(np.arange(n), NOT_CELLS, invert=True)
    folder = tmp_path_factory.mktemp("suite2p") / "suite2p"
    truth = write_suite2p(folder, own + 0.7 * neuropil, neuropil, centres, iscell, neurons.fps)
    return folder, own, truth


def expected_xyz(truth_rc, rows) -> np.ndarray:
    """Micrometres (x, y, 0) of ROI centres (row, column) on 0.6 (x) x 0.8 (y) um pixels."""
    return np.c_[truth_rc[rows, 1] * PIXEL_UM[0], truth_rc[rows, 0] * PIXEL_UM[1], np.zeros(len(rows))]


def test_a_neuroconv_suite2p_file_reads_the_neuropil_corrected_cells_at_their_centres(suite2p, tmp_path):
    folder, own, truth = suite2p
    path = suite2p_to_nwb(folder, tmp_path / "fish_01.nwb")  # neuroconv writes no grid_spacing
    with pytest.raises(InputError, match="has no grid_spacing; give the pixel size .* nwb.grid_spacing_um"):
        read_recording(path)
    rec = read_recording(path, nwb_settings=NWBSettings(grid_spacing_um=PIXEL_UM))
    cells = np.flatnonzero(np.isin(np.arange(40), NOT_CELLS, invert=True))
    assert rec.kind == "fluorescence" and rec.fps == pytest.approx(2.0, rel=0.2) and rec.subject == "fish_01"
    np.testing.assert_array_equal(rec.cell_id, cells)  # the not-a-cell ROIs are left out, counted
    assert rec.dropped == {"not_a_cell": 4} and rec.provenance["neurons_kept_by"] == "the cells of column iscell"
    # F - 0.7 Fneu: the cell's own fluorescence, never the Neuropil or Deconvolved series
    np.testing.assert_allclose(rec.activity, own[:, cells], rtol=1e-5, atol=1e-3)
    assert rec.provenance["neuropil_series"] == "ophys/Fluorescence/Neuropil"
    assert rec.provenance["activity_from"] == "ophys/Fluorescence/RoiResponseSeries"
    # Positions: x along the columns, y along the rows, whatever axis neuroconv stored first.
    np.testing.assert_allclose(rec.xyz_um, expected_xyz(truth, cells), atol=1e-3)
    # The same file with the pixel size in it (NWB's grid_spacing is (x, y)) gives the same positions.
    with_grid = suite2p_to_nwb(folder, tmp_path / "fish_02.nwb", grid_spacing_um=PIXEL_UM)
    np.testing.assert_allclose(read_recording(with_grid).xyz_um, rec.xyz_um, atol=1e-4)
    with pytest.raises(InputError, match=r"grid_spacing \(0.6, 0.8\) um, the config key nwb.grid_spacing_um says"):
        read_recording(with_grid, nwb_settings=NWBSettings(grid_spacing_um=(0.8, 0.6)))
    # Read as the schema's x (column) instead, the rows and columns trade places: the setting matters.
    swapped = read_recording(with_grid, nwb_settings=NWBSettings(pixel_mask_x="column")).xyz_um
    np.testing.assert_allclose(swapped[:, :2], np.c_[truth[cells, 0] * 0.6, truth[cells, 1] * 0.8], atol=1e-3)


def test_the_config_keeps_every_roi_or_the_raw_fluorescence_and_refuses_other_traces(suite2p, tmp_path):
    folder, own, _ = suite2p
    path = suite2p_to_nwb(folder, tmp_path / "fish_01.nwb", grid_spacing_um=PIXEL_UM)
    every = read_recording(path, nwb_settings=NWBSettings(rois="all", neuropil_coefficient=0))
    assert every.n_neurons == 40 and every.dropped == {} and every.provenance["neuropil_coefficient"] == 0
    raw = np.load(folder / "plane0/F.npy").T
    np.testing.assert_allclose(every.activity, raw, rtol=1e-6)  # F as written, nothing subtracted
    half = read_recording(path, nwb_settings=NWBSettings(neuropil_coefficient=0.5))
    neuropil = np.load(folder / "plane0/Fneu.npy").T
    np.testing.assert_allclose(half.activity, (raw - 0.5 * neuropil)[:, half.cell_id], rtol=1e-5)
    for other in ("Deconvolved", "Neuropil"):
        with pytest.raises(InputError, match=f"nwb.series '{other}' is the segmenter's {other.lower()} trace"):
            read_recording(path, nwb_settings=NWBSettings(series=other))


def test_nwb_messages_name_the_file_the_problem_and_the_real_config_key(suite2p, neurons, tmp_path):
    folder, _, _ = suite2p
    path = suite2p_to_nwb(folder, tmp_path / "fish_01.nwb", grid_spacing_um=PIXEL_UM)
    with pynwb.NWBHDF5IO(str(path), "a") as io:  # a second raw fluorescence series of the same ROIs
        nwb = io.read()
        first = nwb.processing["ophys"]["Fluorescence"]["RoiResponseSeries"]
        nwb.processing["ophys"]["Fluorescence"].create_roi_response_series(
            name="RoiResponseSeriesChan2", data=first.data[:], rois=first.rois, unit="n.a.", rate=first.rate
        )
        io.write(nwb)
    with pytest.raises(InputError, match="several RoiResponseSeries of fluorescence .*config key nwb.series") as err:
        read_recording(path)
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    assert "series" in schema["properties"]["nwb"]["properties"]  # the key the message names exists
    assert str(path) in str(err.value)
    assert read_recording(path, nwb_settings=NWBSettings(series="RoiResponseSeriesChan2")).n_neurons == 36
    # Without masks: pynwb refuses the PlaneSegmentation; one short line, not its dump of the file.
    bare = suite2p_to_nwb(folder, tmp_path / "fish_02.nwb", grid_spacing_um=PIXEL_UM)
    with h5py.File(bare, "r+") as f:
        plane = f["processing/ophys/ImageSegmentation/PlaneSegmentation"]
        del plane["pixel_mask"], plane["pixel_mask_index"]
        plane.attrs["colnames"] = [c for c in plane.attrs["colnames"] if not c.startswith("pixel_mask")]
    with pytest.raises(InputError, match="cannot be read as NWB: .*'image_mask', 'pixel_mask', or 'voxel_mask'") as err:
        read_recording(bare)
    assert str(bare) in str(err.value) and len(str(err.value)) < 400 and "\n" not in str(err.value)
    # Subject.subject_id names another fish: refused, unless the name is DANDI's sub-<subject_id>_...
    other = suite2p_to_nwb(folder, tmp_path / "fish_03.nwb", subject_id="fish_07", grid_spacing_um=PIXEL_UM)
    with pytest.raises(InputError, match="holds fish 'fish_07' \\(its Subject.subject_id\\), not 'fish_03'") as err:
        read_recording(other)
    assert str(other) in str(err.value) and "\n" not in str(err.value)
    dandi = tmp_path / "sub-fish_07_ses-2_ophys.nwb"
    other.rename(dandi)
    assert read_recording(dandi).subject == "sub-fish_07_ses-2_ophys"
    assert read_recording(nwb_file(neurons, tmp_path / "subject_1.nwb")).subject == "subject_1"  # its own id


@pytest.mark.parametrize("with_timestamps", [False, True])
def test_a_table_of_neurons_x_frames_is_blamed_on_the_activity(tmp_path, with_timestamps):
    fields = good_fields(T=40, N=6)
    fields["activity"] = fields["activity"].T
    if with_timestamps:  # read before the positions: the message still blames the activity
        fields.update(timestamps=np.arange(40) / 2.0)
    write_fields(tmp_path / "fish_01.h5", fields)
    with pytest.raises(InputError, match=r"activity must be frames x neurons, got 6 x 40, .*looks transposed") as err:
        read_recording(tmp_path / "fish_01.h5")
    assert str(tmp_path / "fish_01.h5") in str(err.value) and "xyz must" not in str(err.value)


def test_check_recordings_reads_every_fish_and_names_every_problem_at_once(suite2p, tmp_path):
    folder, _, _ = suite2p
    raw = tmp_path / "mine"
    suite2p_to_nwb(folder, raw / "fish_01.nwb", subject_id="fish_01")
    suite2p_to_nwb(folder, raw / "fish_02.nwb", subject_id="fish_07")  # another fish's file
    shutil.copy(raw / "fish_01.nwb", raw / "fish_03.nwb")
    with h5py.File(raw / "fish_03.nwb", "r+") as f:  # its ROIs have no masks
        plane = f["processing/ophys/ImageSegmentation/PlaneSegmentation"]
        del plane["pixel_mask"], plane["pixel_mask_index"]
        plane.attrs["colnames"] = [c for c in plane.attrs["colnames"] if not c.startswith("pixel_mask")]
    config = {"dataset": "mine", "source": "nwb", "raw_dir": str(raw), "subjects": ["fish_01", "fish_02", "fish_03"]}
    config["subjects"].append("fish_04")  # no file at all
    config.update(nwb={"grid_spacing_um": list(PIXEL_UM)})
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(config))
    checks = {c.subject: c.line() for c in check_recordings(read_config(tmp_path / "mine.yaml"))}
    assert checks["fish_01"].startswith("fish_01: PROBLEM: behaviour ['left_turn'")  # pnm.behaviors' defaults
    assert "36 of 40 neurons (the cells of column iscell), F - 0.7 x ophys/Fluorescence/Neuropil" in checks["fish_01"]
    assert "holds fish 'fish_07'" in checks["fish_02"] and "pixel_mask" in checks["fish_03"]
    assert checks["fish_04"] == f"fish_04: PROBLEM: {raw}: no file fish_04.nwb"
    # Without behaviour stages the good fish passes; the script prints one line per fish, exit 1.
    config.update(pnm={"behaviors": []})
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(config))
    assert run_script("check_recordings", ["--config", tmp_path / "mine.yaml"]) == 1
    config["subjects"] = ["fish_01"]
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(config))
    assert run_script("check_recordings", ["--config", tmp_path / "mine.yaml"]) == 0
    assert check_recordings(read_config(tmp_path / "mine.yaml"))[0].line().startswith("fish_01: ok: ")
