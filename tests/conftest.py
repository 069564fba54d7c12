"""Shared fixtures: small simulated fish, written once per test session."""

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from sbm.synth.fish import SimConfig, simulate_fish

SMALL = SimConfig(n_neurons=300, n_frames=400, chunk_frames=64)


def ground_truth_dir() -> Path | None:
    """CASCADE's ground-truth datasets, where a user has them: the folder named by the environment
    variable SBM_GROUND_TRUTH_DIR, or what the download_ground_truth rule fetched into this
    checkout. Tests that read real ground truth skip without it (CI points the variable at the
    copy beside the repository)."""
    folder = (
        os.environ.get("SBM_GROUND_TRUTH_DIR")
        or Path(__file__).resolve().parents[1] / "resources" / "cascade_ground_truth"
    )
    return Path(folder) if Path(folder, "DS06-GCaMP6f-zf-aDp").is_dir() else None


needs_ground_truth = pytest.mark.skipif(
    ground_truth_dir() is None,
    reason="no CASCADE ground truth with DS06-GCaMP6f-zf-aDp: "
    "set SBM_GROUND_TRUTH_DIR or run `snakemake download_ground_truth --configfile config/chen2018.yaml`",
)


@pytest.fixture(scope="session")
def small_fish(tmp_path_factory):
    """One simulated fish in the Chen layout (read-only: copy it before changing anything)."""
    folder = tmp_path_factory.mktemp("raw") / "subject_1"
    simulate_fish(SMALL, "subject_1", folder)
    return folder


@pytest.fixture
def fish_copy(small_fish, tmp_path):
    """A private copy of the small fish that a test may damage."""
    folder = tmp_path / "subject_1"
    shutil.copytree(small_fish, folder)
    return folder


def load_script(name: str):
    """Import scripts/<name>.py as a module (scripts are not a package), to call its main()."""
    path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # as when run: its arguments' help is the module's docstring
    spec.loader.exec_module(module)
    return module


SIMULATED_CASCADE = "DS-simulated-GCaMP6f"


def write_cascade_dataset(
    folder: Path, n_neurons: int = 6, seconds: float = 300.0, fps: float = 30.0, seed: int = 0
) -> Path:
    """A ground-truth dataset folder in CASCADE's format (one .mat per neuron: a CAttached cell of
    trial structs with fluo_time in s, fluo_mean as DF/F and events_AP in units of 0.1 ms), made
    of Poisson spikes through a GCaMP6f-like kernel plus noise, so that the loader, the spike
    models and the workflow's real-data path run on any machine; the real database is checked too
    where it is available (needs_ground_truth)."""
    import scipy.io

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    kernel = np.exp(-np.arange(0, 3, 1 / fps) / 0.5) - np.exp(-np.arange(0, 3, 1 / fps) / 0.05)
    for n in range(n_neurons):
        time = np.arange(0, seconds, 1 / fps)
        spikes = np.sort(rng.uniform(0, seconds, rng.poisson(rng.uniform(0.2, 1.0) * seconds)))
        train = np.histogram(spikes, bins=np.r_[time, seconds])[0]
        dff = 0.4 * np.convolve(train, kernel)[: len(time)] + rng.normal(0, 0.03, len(time))
        trials = np.empty((1, 1), dtype=object)
        trials[0, 0] = {"fluo_time": time, "fluo_mean": dff, "events_AP": spikes * 1e4}
        scipy.io.savemat(folder / f"cell{n}_mini.mat", {"CAttached": trials})
    return folder


@pytest.fixture(scope="session")
def simulated_ground_truth(tmp_path_factory) -> Path:
    """A ground-truth folder holding one simulated dataset in CASCADE's format (read-only)."""
    root = tmp_path_factory.mktemp("ground_truth")
    write_cascade_dataset(root / SIMULATED_CASCADE)
    return root


def run_script(name: str, argv: list[str]) -> int:
    """Run scripts/<name>.py's main on a command line, as `python scripts/<name>.py argv` does:
    its exit status (1 after a one-line `error:` for bad input)."""
    from sbm.cli import run

    script = load_script(name)
    return run(script.main, script.Args, [str(a) for a in argv])


def write_probs(path, n_frames=60, n_neurons=24, n_stimuli=3, seed=0, subject="subject_1"):
    """A small probs file in the contract of the probabilities stage: slowly varying probabilities
    (an AR(1) drive through a sigmoid, with a stimulus effect), positions, a one-hot stimulus, and
    five behaviour columns read out of the activity of brain regions (so a PNM can learn them):
    bouts when a region's mean activity is high, and two raw channels mixing them."""

    rng = np.random.default_rng(seed)
    code = np.repeat(rng.integers(0, n_stimuli, n_frames // 10 + 1), 10)[:n_frames]
    drive = np.zeros((n_frames, n_neurons))
    gain = rng.normal(0, 1, (n_stimuli, n_neurons))
    for t in range(1, n_frames):
        drive[t] = 0.8 * drive[t - 1] + 0.5 * rng.normal(size=n_neurons) + 0.5 * gain[code[t]]
    with h5py.File(path, "w") as f:
        f["prob"] = (1 / (1 + np.exp(-(drive - 1.5)))).astype(np.float32)
        f["xyz"] = rng.uniform(0, [400, 800, 250], (n_neurons, 3)).astype(np.float32)
        f["stimulus"] = np.eye(n_stimuli, dtype=np.float32)[code]
        f.attrs.update(subject=subject, fps=2.0, stimulus_names=[f"stim_{k}" for k in range(n_stimuli)])
        prob, xyz = f["prob"][()], f["xyz"][()]
        regions = [xyz[:, 0] < 130, xyz[:, 0] > 270, xyz[:, 1] > 550]  # left, right, rostral
        bouts = np.stack(
            [np.maximum(prob[:, r].mean(axis=1) - np.quantile(prob[:, r].mean(axis=1), 0.8), 0) for r in regions],
            axis=1,
        )
        raw = np.stack([bouts[:, 0] + 0.5 * bouts[:, 2], bouts[:, 1] + 0.5 * bouts[:, 2]], axis=1) + 0.01 * rng.random(
            (n_frames, 2)
        )
        f["behavior"] = np.concatenate([bouts, raw], axis=1).astype(np.float32)
        f.attrs.update(
            behavior_names=["left_turn", "right_turn", "forward_swim", "raw_left", "raw_right"], behavior_problem=""
        )
    return path


@pytest.fixture(scope="session")
def probs_dir(tmp_path_factory):
    """Five small probs files (subject_1..5), 24-32 neurons each: read-only."""
    folder = tmp_path_factory.mktemp("probs")
    for i in range(1, 6):
        write_probs(folder / f"subject_{i}.h5", n_neurons=24 + 2 * i, seed=i, subject=f"subject_{i}")
    return folder


def write_fields(path, fields: dict) -> None:
    """A table file with exactly these fields (a test's damaged version of a good one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".npz":
        np.savez(path, **fields)
        return
    with h5py.File(path, "w") as f:
        for name, value in fields.items():
            value = np.asarray(value)
            if value.dtype.kind == "U":
                f.attrs[name] = value.tolist()
            elif value.ndim == 0:
                f.attrs[name] = value
            else:
                f.create_dataset(name, data=value)


def good_fields(T=40, N=6, kind="dff") -> dict:
    rng = np.random.default_rng(0)
    return {
        "activity": rng.random((T, N)).astype(np.float32),
        "xyz": rng.random((N, 3)) * 100,
        "kind": np.asarray(kind),
        "fps": np.asarray(2.0),
        "stimulus": (rng.random((T, 2)) > 0.5).astype(np.float32),
        "stimulus_names": np.asarray(["dark", "light"]),
    }


def write_suite2p(folder: Path, fluorescence, neuropil, centres, iscell, fps: float, shape=(48, 64), seed=0):
    """A suite2p output folder (<folder>/plane0) as suite2p writes it: ops.npy (fs, nframes, Ly,
    Lx, meanImg), stat.npy (per ROI its pixels: ypix rows, xpix columns, weights lam, and med),
    F.npy and Fneu.npy (ROIs x frames; F holds the neuropil's contamination), spks.npy, iscell.npy
    (is-a-cell, probability). `fluorescence` and `neuropil` are (frames, ROIs), `centres` (ROIs,
    2) in pixels (row, column). Returns each ROI's lam-weighted centre (row, column): the position
    a reader must find."""
    rng = np.random.default_rng(seed)
    plane = Path(folder) / "plane0"
    plane.mkdir(parents=True, exist_ok=True)
    stat, truth = [], []
    for row, col in np.round(centres).astype(int):
        dy, dx = np.mgrid[-2:3, -2:3]
        inside = (
            (dy**2 + dx**2 <= 5) & (row + dy >= 0) & (row + dy < shape[0]) & (col + dx >= 0) & (col + dx < shape[1])
        )
        ypix, xpix = (row + dy)[inside], (col + dx)[inside]
        lam = rng.uniform(0.2, 1.0, ypix.size).astype(np.float32)
        stat.append({"ypix": ypix, "xpix": xpix, "lam": lam, "med": [int(row), int(col)], "npix": ypix.size})
        truth.append([np.average(ypix, weights=lam), np.average(xpix, weights=lam)])
    np.save(plane / "stat.npy", np.array(stat, dtype=object), allow_pickle=True)
    frames = len(fluorescence)
    ops = {
        "fs": fps,
        "nframes": frames,
        "Ly": shape[0],
        "Lx": shape[1],
        "meanImg": rng.random(shape).astype(np.float32),
    }
    np.save(plane / "ops.npy", ops, allow_pickle=True)
    np.save(plane / "F.npy", np.asarray(fluorescence, np.float32).T)
    np.save(plane / "Fneu.npy", np.asarray(neuropil, np.float32).T)
    np.save(plane / "spks.npy", rng.exponential(1.0, np.shape(fluorescence)).astype(np.float32).T)
    np.save(plane / "iscell.npy", np.c_[np.asarray(iscell, float), rng.random(len(iscell))])
    return np.asarray(truth)


def suite2p_to_nwb(folder: Path, path: Path, subject_id: str | None = None, grid_spacing_um=None) -> Path:
    """A suite2p folder converted to NWB as labs do, with neuroconv's Suite2pSegmentationInterface;
    the pixel size (x, y) and the subject, when given, through neuroconv's metadata."""
    from datetime import datetime, timezone

    from neuroconv.datainterfaces import Suite2pSegmentationInterface

    interface = Suite2pSegmentationInterface(folder_path=str(folder))
    metadata = interface.get_metadata()
    metadata["NWBFile"]["session_start_time"] = datetime(2024, 1, 1, tzinfo=timezone.utc)
    if grid_spacing_um is not None:
        for plane in metadata["Ophys"]["ImagingPlanes"].values():
            plane.update(grid_spacing=[v * 1e-6 for v in grid_spacing_um], grid_spacing_unit="meters")
    if subject_id is not None:
        metadata["Subject"] = {"subject_id": subject_id, "species": "Danio rerio", "sex": "U", "age": "P7D"}
    path.parent.mkdir(parents=True, exist_ok=True)
    interface.run_conversion(nwbfile_path=str(path), metadata=metadata, overwrite=True)
    return path
