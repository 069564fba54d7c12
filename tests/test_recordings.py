"""Your own recordings: the table and NWB readers (round trips with the simulated fish, and every
kind of bad input named with its file), the dataset's stimulus vocabulary, and the region export."""

from dataclasses import replace
from datetime import datetime, timezone

import h5py
import numpy as np
import pynwb
import pytest
from conftest import good_fields, run_script, write_fields

from sbm.io.chen import read_chen_fish, read_stim_codes
from sbm.io.errors import InputError
from sbm.io.export import chen_recording, fit_regions, region_recording
from sbm.io.nwb import write_nwb
from sbm.io.recording import align_stimulus, recording_vocabulary
from sbm.io.sources import read_recording, recording_stimulus_names
from sbm.io.table import table_kind, write_table
from sbm.spikes.dff import build_vocabulary

ZBRAIN_VOXEL = (0.798, 0.798, 2.0)


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
    with pytest.raises(InputError, match="0 RoiResponseSeries match 'deconvolved'"):
        read_recording(nwb_file(neurons, tmp_path / "subject_3.nwb"), nwb_series="deconvolved")
    assert read_recording(tmp_path / "subject_3.nwb", nwb_series="RoiResponseSeries").n_neurons == neurons.n_neurons


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
