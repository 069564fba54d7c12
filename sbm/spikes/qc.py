"""How faithful is the DF/F of a simulated fish to its ground truth? What do a fish's spike
probabilities say, beside what a reader can check them against?"""

import json

import numpy as np

from sbm.io.contracts import DFF, GROUND_TRUTH, PROBS, open_checked
from sbm.io.errors import InputError
from sbm.spikes.metrics import lagged_r


def dff_vs_truth(dff_path, truth_path, block: int = 8192) -> dict:
    """Per fish: median r between each neuron's DF/F and its true rate (same frame, and with the
    DF/F one frame later, where most of a spike's fluorescence arrives at ~2 Hz), and the range
    of noise levels."""
    with open_checked(dff_path, DFF) as d, open_checked(truth_path, GROUND_TRUTH) as g:
        cell_id = d["cell_id"][()]
        col = truth_columns(cell_id, g["cell_id"][()], dff_path, truth_path)
        if d["dff"].shape[0] != g["rate"].shape[0]:
            raise InputError(dff_path, f"{d['dff'].shape[0]} frames but the ground truth has {g['rate'].shape[0]}")
        r0, r1 = [], []
        for start in range(0, len(cell_id), block):
            dff = d["dff"][:, start : start + block]
            rate = _columns(g["rate"], col[start : start + block])
            r0.append(lagged_r(dff, rate, 0))
            r1.append(lagged_r(dff, rate, 1))
        noise = d["noise_level"][()]
        return {
            "subject": d.attrs["subject"],
            "fps": round(float(d.attrs["fps"]), 3),
            "neurons": len(cell_id),
            "frames": d["dff"].shape[0],
            "median_r_lag0": round(float(np.nanmedian(np.concatenate(r0))), 3),
            "median_r_lag1": round(float(np.nanmedian(np.concatenate(r1))), 3),
            "noise_level_min": round(float(noise.min()), 2),
            "noise_level_p5": round(float(np.percentile(noise, 5)), 2),
            "noise_level_median": round(float(np.median(noise)), 2),
            "noise_level_p95": round(float(np.percentile(noise, 95)), 2),
            "noise_level_max": round(float(noise.max()), 2),
        }


def truth_columns(cell_id: np.ndarray, truth_id: np.ndarray, path, truth_path) -> np.ndarray:
    """The ground truth's column of each of a file's cells (the truth's cell_id is sorted); every
    cell must be there."""
    col = np.searchsorted(truth_id, cell_id)
    if np.any(col >= len(truth_id)) or np.any(truth_id[np.minimum(col, len(truth_id) - 1)] != cell_id):
        raise InputError(path, f"cells missing from the ground truth {truth_path}")
    return col


def _columns(dset, cols: np.ndarray) -> np.ndarray:
    """Read columns from an HDF5 dataset through their enclosing contiguous range (h5py's
    fancy indexing is slow and needs increasing indices)."""
    lo, hi = int(cols.min()), int(cols.max()) + 1
    return dset[:, lo:hi][:, cols - lo]


P_BINS = 50  # histogram bins of p over [0, 1]


def probability_summary(probs_path, truth_path=None, block: int = 8192) -> dict:
    """Per fish, what its probs file says and what to check it against:
    - the histogram of p over every neuron and frame (P_BINS bins over [0, 1]) and the fraction
      of values exactly 0 (frames the model saw no evidence of a spike in);
    - the fraction of frames a user should expect to hold a spike: the mean p (under the model,
      the expected fraction of (neuron, frame) pairs with at least one spike);
    - the model's floor (p of a frame whose DF/F sits still) and the p its neurons get from
      noise alone (median, 5th and 95th percentile over neurons), where the file records them;
    - on a simulated fish, the true fraction of frames with a spike and the true mean p."""
    with open_checked(probs_path, PROBS) as f:
        T, N = f["prob"].shape
        counts, zeros, total = np.zeros(P_BINS, np.int64), 0, 0.0
        for start in range(0, N, block):
            p = f["prob"][:, start : start + block]
            counts += np.histogram(p, bins=P_BINS, range=(0.0, 1.0))[0]
            zeros += int((p == 0).sum())
            total += float(p.sum(dtype=np.float64))
        out = {
            "subject": str(f.attrs["subject"]),
            "fps": round(float(f.attrs["fps"]), 3),
            "method": str(f.attrs.get("method", "")),
            "model_parameters": json.loads(f.attrs.get("model_parameters", "{}") or "{}"),
            "neurons": N,
            "frames": T,
            "histogram": counts.tolist(),
            "fraction_zero": zeros / (T * N),
            "expected_fraction_with_spike": total / (T * N),
            "floor": float(f.attrs["floor"]) if "floor" in f.attrs else None,
        }
        if "silent_p" in f:
            out["silent_p"] = {k: float(f["silent_p"].attrs[k]) for k in ("p05", "median", "p95")}
        cell_id = f["cell_id"][()] if truth_path is not None else None
    if truth_path is not None:
        with open_checked(truth_path, GROUND_TRUTH) as g:
            if g["spikes"].shape[0] != T:
                raise InputError(probs_path, f"{T} frames but the ground truth {truth_path} has {g['spikes'].shape[0]}")
            col = truth_columns(cell_id, g["cell_id"][()], probs_path, truth_path)
            spiking, true_p = 0, 0.0
            for start in range(0, N, block):
                cols = col[start : start + block]
                spiking += int((_columns(g["spikes"], cols) > 0).sum())
                true_p += float(-np.expm1(-_columns(g["rate"], cols)).sum(dtype=np.float64))
            out["true_fraction_with_spike"] = spiking / (T * N)
            out["true_mean_p"] = true_p / (T * N)
    return out
