"""DF/F with a strictly causal baseline, and the CASCADE noise level of every neuron.

F0(t) is a low running percentile (default the 8th over 30 s) of F over frames t-W+1 .. t only:
never a future frame, so the DF/F at t (and every target built on it) is free of the future.
For the first W-1 frames the window is simply shorter (frames 0..t).
"""

import logging
from pathlib import Path

import h5py
import numpy as np
from scipy import ndimage

from sbm.io.atomic import atomic_path
from sbm.io.chen import ChenFish
from sbm.io.errors import InputError

log = logging.getLogger(__name__)


def causal_baseline(f: np.ndarray, window: int, percentile: float) -> np.ndarray:
    """Running `percentile` of f (T, n) over the past `window` frames, per column.

    The rank inside a window of w samples is int(percentile / 100 * w), as in
    scipy.ndimage.percentile_filter, for full and (at the start) shortened windows alike.
    """
    if window < 1:
        raise ValueError(f"baseline window must be at least 1 frame, got {window}")
    T, n = f.shape
    out = np.empty_like(f)
    # The 1-D filter is an order of magnitude faster than the 2-D one with a (W, 1) footprint.
    # origin shifts the window fully into the past: it covers t-W+1 .. t.
    cols = np.ascontiguousarray(f.T)
    for j in range(n):
        out[:, j] = ndimage.percentile_filter(
            cols[j], percentile, size=window, origin=(window - 1) // 2, mode="nearest"
        )
    for t in range(min(window - 1, T)):  # shortened windows at the start
        k = min(int(percentile / 100 * (t + 1)), t)
        out[t] = np.partition(f[: t + 1], k, axis=0)[k]
    return out


def noise_level(dff: np.ndarray, fps: float) -> np.ndarray:
    """CASCADE's noise level nu = 100 * median_t |dF(t+1) - dF(t)| / sqrt(fps), per column.

    DF/F is a fraction (not percent); nu is in % per sqrt(Hz). At ~2 Hz signal changes inflate it.
    """
    return 100 * np.median(np.abs(np.diff(dff, axis=0)), axis=0) / np.sqrt(fps)


def one_hot(codes: np.ndarray, vocabulary: list[int], source: str | Path) -> np.ndarray:
    index = {c: k for k, c in enumerate(vocabulary)}
    unknown = sorted(set(np.unique(codes).tolist()) - set(index))
    if unknown:
        raise InputError(
            source, f"stimulus codes {unknown} are not in the stimulus vocabulary {vocabulary}: rebuild it"
        )
    out = np.zeros((len(codes), len(vocabulary)), np.float32)
    out[np.arange(len(codes)), [index[c] for c in codes.tolist()]] = 1
    return out


def write_dff(
    fish: ChenFish,  # or an sbm.io.recording.Recording: what they share (n_frames, read_block, ...)
    path: str | Path,
    stimulus: np.ndarray,
    stimulus_names: list[str],
    stimulus_codes: list[int] | None = None,
    baseline_window_s: float = 30.0,
    baseline_percentile: float = 8.0,
    block_neurons: int = 4096,
) -> dict:
    """Compute DF/F for every neuron of `fish`, block by block, and write the dff file with its
    `stimulus` (T, K) columns. A fish of kind `dff` (a recording that is DF/F already) is written
    as it is, with its noise level.

    Neurons whose causal baseline is ever <= 0 cannot have a DF/F (the file is not raw
    fluorescence there): they are dropped, counted in the log and in the file's attributes.
    Returns a summary (neurons, dropped, noise-level percentiles).
    """
    given = fish.kind == "dff"
    window = max(1, int(round(baseline_window_s * fish.fps)))
    T, N = fish.n_frames, fish.n_neurons
    keep = np.zeros(N, bool)
    noise = []
    chunks = (min(T, 128), min(N, 2048))
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as out:
        dset = out.create_dataset("dff", (T, 0), np.float32, maxshape=(T, N), chunks=chunks)
        for start in range(0, N, block_neurons):
            f = fish.read_block(start, start + block_neurons)
            if given:
                ok, dff = np.ones(f.shape[1], bool), f
            else:
                f0 = causal_baseline(f, window, baseline_percentile)
                ok = np.all(f0 > 0, axis=0)
                dff = (f[:, ok] - f0[:, ok]) / f0[:, ok]
            keep[start : start + f.shape[1]] = ok
            n0 = dset.shape[1]
            dset.resize(n0 + dff.shape[1], axis=1)
            dset[:, n0:] = dff
            noise.append(noise_level(dff, fish.fps))
        n_bad = int((~keep).sum())
        if n_bad == N:
            raise InputError(
                fish.source,
                "every neuron has a non-positive baseline: the activity does not look like raw fluorescence",
            )
        if n_bad:
            log.warning("%s: dropped %d of %d neurons whose causal baseline is <= 0", fish.subject, n_bad, N)
        noise = np.concatenate(noise).astype(np.float32)
        dset.attrs["units"] = "fraction (F - F0) / F0"
        out.create_dataset("noise_level", data=noise).attrs["units"] = "% per sqrt(Hz) (CASCADE nu)"
        out.create_dataset("xyz", data=fish.xyz_um[keep]).attrs["units"] = "micrometre"
        out.create_dataset("cell_id", data=fish.cell_id[keep]).attrs["meaning"] = "the neuron's id in the raw data"
        out.create_dataset("stimulus", data=stimulus).attrs["meaning"] = "columns are stimulus_names"
        if stimulus_codes is not None:  # the Chen layout's per-frame code, one-hot in `stimulus`
            out.create_dataset("stimulus_code", data=fish.stim_code)
            out.attrs["stimulus_codes"] = list(stimulus_codes)
        if fish.behavior is not None:
            out.create_dataset("behavior", data=fish.behavior).attrs["meaning"] = "columns are behavior_names"
        dropped = dict(fish.dropped, nonpositive_baseline=n_bad)
        out.attrs.update(
            subject=fish.subject,
            fps=fish.fps,
            stimulus_names=list(stimulus_names),
            behavior_names=list(fish.behavior_names),
            behavior_problem=fish.behavior_problem,  # why there is no `behavior` dataset ("" if there is one)
            dff_from="the recording (kind dff)" if given else "fluorescence, causal baseline",
            baseline_window_s=baseline_window_s,
            baseline_window_frames=window,
            baseline_percentile=baseline_percentile,
            source=str(fish.source),
            **{f"dropped_{k}": v for k, v in dropped.items()},
            # how a recording's reader made the fish (series, ROIs kept, neuropil, positions); the
            # Chen reader says it through the dropped_* counts alone
            **{f"recording_{k}": v for k, v in getattr(fish, "provenance", {}).items()},
        )
    q = np.percentile(noise, [5, 50, 95]) if len(noise) else [np.nan] * 3
    summary = {
        "subject": fish.subject,
        "neurons": int(keep.sum()),
        "frames": T,
        "fps": fish.fps,
        "dropped": dropped,
        "noise_level_p5_p50_p95": [round(float(v), 3) for v in q],
    }
    log.info(
        "%s: DF/F of %d neurons x %d frames, baseline %d frames; noise level p5/p50/p95 = %s",
        fish.subject,
        summary["neurons"],
        T,
        window,
        summary["noise_level_p5_p50_p95"],
    )
    return summary


def write_chen_dff(fish: ChenFish, path: str | Path, vocabulary: dict, **settings) -> dict:
    """write_dff for a Chen-layout fish: its stimulus codes one-hot over the dataset's vocabulary."""
    stimulus = one_hot(fish.stim_code, vocabulary["codes"], fish.folder / "data_full.mat")
    return write_dff(fish, path, stimulus, vocabulary["names"], vocabulary["codes"], **settings)


def build_vocabulary(codes_per_subject: dict[str, np.ndarray], names: dict | None = None) -> dict:
    """One stimulus vocabulary across the dataset: the sorted union of every fish's codes.

    `names` maps a code to a readable name (from the config); unnamed codes are called code_<k>.
    """
    names = {int(k): str(v) for k, v in (names or {}).items()}
    codes = sorted(set().union(*[set(np.unique(c).tolist()) for c in codes_per_subject.values()]))
    return {
        "codes": codes,
        "names": [names.get(c, f"code_{c}") for c in codes],
        "subjects": {s: sorted(np.unique(c).tolist()) for s, c in codes_per_subject.items()},
    }
