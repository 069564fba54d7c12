"""Ground truth for spike inference, brought to the target recording's frame rate and noise level.

Two sources:
  * CASCADE's database (Rupprecht et al. 2021): one .mat per neuron with simultaneous
    electrophysiology and imaging, at 7.5-60 Hz (2.5 Hz for the spinal-cord sets);
  * the simulator's ground truth: a fish's DF/F next to its true spikes per frame.

Both become `FrameTrace`s at the target frame rate: DF/F computed by *our* causal baseline (the
same one the dff stage uses on the real fish, so the network sees inputs of the same kind), the
spike count of every frame, and the measured CASCADE noise level (signal included, exactly as it
is measured on the real neurons that will be routed by it).

Resampling, two ways: `average` (the mean of the native samples inside each frame) or `sample`
(one native sample per frame, at a random phase inside the frame: a light-sheet plane is exposed
briefly once per volume; harder, and closer to the real data). Frame k covers
[t0 + k/fps, t0 + (k+1)/fps); its spike count is the number of spikes in that window.

Noise: the level of the *noise component* (as CASCADE defines it) is estimated at the native rate,
where frame-to-frame differences are mostly noise, carried through the resampling (averaging m
samples divides its std by sqrt(m)), and topped up with Gaussian noise to the target level.
Recordings already noisier than the target are skipped for that target.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import scipy.io

from sbm.io.chen import read_chen_fish, read_stim_codes
from sbm.io.errors import InputError
from sbm.spikes.dff import build_vocabulary, causal_baseline, noise_level, write_chen_dff
from sbm.synth.fish import SimConfig, simulate_fish

log = logging.getLogger(__name__)

# For white noise of std s: nu = 100 * median|diff| / sqrt(fps) = 100 * 0.6745 * sqrt(2) * s / sqrt(fps).
NU_PER_SIGMA = 100 * 0.6745 * np.sqrt(2)
MIN_FRAMES = 40  # shorter segments (between gaps) are not worth training on


def noise_std(level: float, fps: float) -> float:
    """Std (fraction of F0) of white noise whose CASCADE noise level at `fps` is `level`."""
    return level * np.sqrt(fps) / NU_PER_SIGMA


@dataclass
class Recording:
    """One trial of one neuron at its native rate."""

    name: str
    dataset: str
    time: np.ndarray  # (S,) seconds, increasing
    dff: np.ndarray  # (S,) DF/F as a fraction
    spike_times: np.ndarray  # seconds

    @property
    def fps(self) -> float:
        return float(1 / np.median(np.diff(self.time)))

    @property
    def noise_sigma(self) -> float:
        """Std of the noise component per native sample (frame-to-frame differences at the
        native rate are dominated by noise)."""
        return float(np.median(np.abs(np.diff(self.dff))) / (0.6745 * np.sqrt(2)))


@dataclass
class FrameTrace:
    """A stretch of one neuron at the target frame rate: what the network trains on."""

    name: str
    dataset: str
    dff: np.ndarray  # (T,) float32, our causal DF/F
    counts: np.ndarray  # (T,) float32, spikes per frame
    noise: float  # measured CASCADE noise level of dff
    added_noise: float | None = None  # the noise level it was degraded to; None: as recorded (native)


# ---------------------------------------------------------------------------------------------
# Loading


def load_cascade_dataset(folder: str | Path) -> list[Recording]:
    """Every usable trial of every neuron (.mat file) in one CASCADE ground-truth folder.

    Only `*_mini.mat` files are read, as CASCADE's own loader does: its authors excluded the neurons
    they renamed (`*_mXini.mat`, `*_miXni.mat`); those are counted in the log. Trials without
    fluorescence fields are skipped (and counted); NaN samples in fluo_time/fluo_mean are dropped
    (the trace is later split at the gap), as are samples that repeat the previous one's time (seen
    in DS27); NaN spike times are dropped.
    """
    folder = Path(folder)
    every = sorted(folder.glob("*.mat"))
    files = [f for f in every if f.name.endswith("_mini.mat")]
    if not files:
        raise InputError(folder, f"no *_mini.mat ground-truth files in this folder ({len(every)} other .mat files)")
    recordings, skipped, repeated = [], 0, 0
    for path in files:
        try:
            trials = scipy.io.loadmat(path)["CAttached"][0]
        except (KeyError, ValueError, OSError, TypeError, scipy.io.matlab.MatReadError) as err:
            raise InputError(path, f"not a CASCADE ground-truth file (expected a CAttached struct): {err}") from err
        for i, trial in enumerate(trials):
            t = trial[0][0]
            if not {"fluo_time", "fluo_mean", "events_AP"} <= set(t.dtype.names or ()):
                skipped += 1
                continue
            time = np.asarray(t["fluo_time"], float).ravel()
            dff = np.asarray(t["fluo_mean"], float).ravel()
            if time.size != dff.size:
                # Seen in the database (DS04): no way to tell which samples the times belong to.
                log.warning(
                    "%s trial %d: fluo_time has %d samples but fluo_mean %d; trial skipped",
                    path.name,
                    i,
                    time.size,
                    dff.size,
                )
                skipped += 1
                continue
            ok = np.isfinite(time) & np.isfinite(dff)
            time, dff = time[ok], dff[ok]
            repeat = np.r_[False, np.diff(time) == 0]
            repeated += int(repeat.sum())
            time, dff = time[~repeat], dff[~repeat]
            spikes = np.asarray(t["events_AP"], float).ravel() / 1e4  # stored in units of 0.1 ms
            spikes = np.sort(spikes[np.isfinite(spikes)])
            if time.size < 10 or np.any(np.diff(time) <= 0):
                skipped += 1
                continue
            recordings.append(Recording(f"{path.stem}#{i}", folder.name, time, dff, spikes))
    if not recordings:
        raise InputError(folder, f"none of the {len(files)} files has a usable trial")
    log.info(
        "%s: %d trials from %d neurons (%d excluded files by CASCADE's authors, %d trials without usable "
        "fluorescence and %d samples repeating a time skipped)",
        folder.name,
        len(recordings),
        len(files),
        len(every) - len(files),
        skipped,
        repeated,
    )
    return recordings


def load_cascade(ground_truth_dir: str | Path, datasets: list[str]) -> dict[str, list[Recording]]:
    root = Path(ground_truth_dir)
    out = {}
    for name in datasets:
        if not (root / name).is_dir():
            raise InputError(root / name, "ground-truth dataset folder not found")
        out[name] = load_cascade_dataset(root / name)
    return out


# ---------------------------------------------------------------------------------------------
# Resampling and noise


def _segments(valid: np.ndarray) -> list[slice]:
    """Runs of consecutive True in valid, at least MIN_FRAMES long."""
    edges = np.flatnonzero(np.diff(np.r_[0, valid.astype(np.int8), 0]))
    return [slice(a, b) for a, b in zip(edges[::2], edges[1::2]) if b - a >= MIN_FRAMES]


def resample(rec: Recording, fps: float, mode: str, rng: np.random.Generator):
    """Fluorescence per frame (T,), spike counts (T,), noise std per frame (T,), NaN where a
    frame has no sample (a gap in the recording)."""
    t0 = rec.time[0] + rng.uniform(0, 1 / fps)  # random frame phase: more varied training data
    n = int((rec.time[-1] - t0) * fps)
    if n < 1:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    edges = t0 + np.arange(n + 1) / fps
    lo = np.searchsorted(rec.time, edges[:-1])
    hi = np.searchsorted(rec.time, edges[1:])
    m = hi - lo  # native samples in each frame
    sigma = np.full(n, rec.noise_sigma)
    if mode == "average":
        csum = np.r_[0, np.cumsum(rec.dff)]
        with np.errstate(invalid="ignore", divide="ignore"):
            frames = (csum[hi] - csum[lo]) / m
            sigma = sigma / np.sqrt(m)
    elif mode == "sample":
        # One short exposure per frame, at the same phase in every frame (one plane).
        at = edges[:-1] + rng.uniform(0, 1 / fps)
        j = np.clip(np.searchsorted(rec.time, at), 1, len(rec.time) - 1)
        j = np.where(np.abs(rec.time[j - 1] - at) < np.abs(rec.time[j] - at), j - 1, j)
        frames = rec.dff[j].astype(float)
        frames[np.abs(rec.time[j] - at) > 1.5 / rec.fps] = np.nan  # inside a gap
    else:
        raise ValueError(f"unknown resampling mode {mode!r}: use 'average' or 'sample'")
    frames = np.where(m > 0, frames, np.nan)
    counts = np.histogram(rec.spike_times, bins=edges)[0].astype(float)
    return frames, counts, sigma


def frame_traces(
    recordings: list[Recording],
    fps: float,
    mode: str,
    noise_target: float | None,
    rng: np.random.Generator,
    baseline_window_s: float = 30.0,
    baseline_percentile: float = 8.0,
    rebaseline: bool = True,
) -> list[FrameTrace]:
    """Bring recordings to `fps` and to the noise level `noise_target` (None: as recorded).

    rebaseline=False keeps the database's own DF/F (its authors' F0, not necessarily causal)
    instead of recomputing it with the pipeline's causal baseline: only for comparisons with
    numbers published on that DF/F."""
    window = max(1, int(round(baseline_window_s * fps)))
    out = []
    for rec in recordings:
        frames, counts, sigma = resample(rec, fps, mode, rng)
        if noise_target is not None:
            target = noise_std(noise_target, fps)
            if np.nanmedian(sigma) > target:
                continue  # already noisier than asked: cannot be denoised
            frames = frames + rng.normal(size=len(frames)) * np.sqrt(np.clip(target**2 - sigma**2, 0, None))
        for seg in _segments(np.isfinite(frames)):
            f = 1.0 + frames[seg]  # DF/F as fluorescence in units of its own baseline
            f0 = causal_baseline(f[:, None], window, baseline_percentile)[:, 0] if rebaseline else np.ones_like(f)
            if np.any(f0 <= 0):
                continue
            dff = ((f - f0) / f0).astype(np.float32)
            counts_seg = counts[seg].astype(np.float32)
            out.append(FrameTrace(rec.name, rec.dataset, dff, counts_seg, float(noise_level(dff, fps)), noise_target))
    return out


def simulated_traces(
    dff: np.ndarray,
    counts: np.ndarray,
    fps: float,
    noise_target: float | None,
    noise_sigma: np.ndarray,
    rng: np.random.Generator,
    name: str,
) -> list[FrameTrace]:
    """FrameTraces from a simulated fish: its DF/F (T, n) from the dff stage and true spike
    counts (T, n); `noise_sigma` (n,) is each neuron's known noise std (fraction of F0)."""
    out = []
    for j in range(dff.shape[1]):
        x = dff[:, j].astype(float)
        if noise_target is not None:
            target = noise_std(noise_target, fps)
            if noise_sigma[j] > target:
                continue
            x = x + rng.normal(size=len(x)) * np.sqrt(target**2 - noise_sigma[j] ** 2)
        x = x.astype(np.float32)
        counts_j = counts[:, j].astype(np.float32)
        out.append(FrameTrace(f"{name}#{j}", name, x, counts_j, float(noise_level(x, fps)), noise_target))
    return out


# ---------------------------------------------------------------------------------------------
# Training sets


def cascade_training_traces(
    recordings: dict[str, list[Recording]],
    fps: float,
    mode: str,
    noise_levels: list[float],
    repeats: int,
    seed: int,
    baseline_window_s: float = 30.0,
    baseline_percentile: float = 8.0,
    rebaseline: bool = True,
) -> list[FrameTrace]:
    """Every recording at `fps`, as recorded and degraded to each of `noise_levels`, `repeats`
    times over (each repeat with a new frame phase and new noise)."""
    rng = np.random.default_rng(seed)
    out = []
    for recs in recordings.values():
        for _ in range(repeats):
            for nu in [None, *noise_levels]:
                out += frame_traces(recs, fps, mode, nu, rng, baseline_window_s, baseline_percentile, rebaseline)
    return out


def synthetic_training_traces(
    fps: float,
    sim_settings: dict,
    n_fish: int,
    noise_levels: list[float],
    seed: int,
    workdir: str | Path,
    baseline_window_s: float = 30.0,
    baseline_percentile: float = 8.0,
) -> list[FrameTrace]:
    """Ground truth from the simulator: `n_fish` calibration fish at exactly `fps`, with seeds
    that no dataset fish uses, through the same reader and DF/F as the real data."""
    rng = np.random.default_rng(seed)
    cfg = SimConfig.from_dict({**sim_settings, "fps_range": [fps, fps], "seed": seed})
    out = []
    for k in range(1, n_fish + 1):
        folder = Path(workdir) / f"subject_{k}"
        simulate_fish(cfg, f"subject_{k}", folder)
        fish = read_chen_fish(folder)
        vocab = build_vocabulary({fish.subject: read_stim_codes(folder)})
        write_chen_dff(
            fish, folder / "dff.h5", vocab, baseline_window_s=baseline_window_s, baseline_percentile=baseline_percentile
        )
        with h5py.File(folder / "dff.h5") as d, h5py.File(folder / "ground_truth.h5") as g:
            col = np.searchsorted(g["cell_id"][()], d["cell_id"][()])
            dff, counts = d["dff"][()], g["spikes"][()][:, col]
            sigma = g["noise_sd"][()][col]
        for nu in [None, *noise_levels]:
            out += simulated_traces(dff, counts, fps, nu, sigma, rng, f"calibration_{k}")
    return out
