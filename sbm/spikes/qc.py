"""How faithful is the DF/F of a simulated fish to its ground truth?"""

import numpy as np

from sbm.io.contracts import DFF, GROUND_TRUTH, open_checked
from sbm.io.errors import InputError
from sbm.spikes.metrics import lagged_r


def dff_vs_truth(dff_path, truth_path, block: int = 8192) -> dict:
    """Per fish: median r between each neuron's DF/F and its true rate (same frame, and with the
    DF/F one frame later, where most of a spike's fluorescence arrives at ~2 Hz), and the range
    of noise levels."""
    with open_checked(dff_path, DFF) as d, open_checked(truth_path, GROUND_TRUTH) as g:
        cell_id, truth_id = d["cell_id"][()], g["cell_id"][()]
        col = np.searchsorted(truth_id, cell_id)
        if np.any(col >= len(truth_id)) or np.any(truth_id[np.minimum(col, len(truth_id) - 1)] != cell_id):
            raise InputError(dff_path, f"cells missing from the ground truth {truth_path}")
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


def _columns(dset, cols: np.ndarray) -> np.ndarray:
    """Read columns from an HDF5 dataset through their enclosing contiguous range (h5py's
    fancy indexing is slow and needs increasing indices)."""
    lo, hi = int(cols.min()), int(cols.max()) + 1
    return dset[:, lo:hi][:, cols - lo]
