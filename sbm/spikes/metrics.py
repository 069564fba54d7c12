"""Scores for spike inference: Pearson r per neuron, at a lag, after causal smoothing."""

import numpy as np


def pearson_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r between matching columns of a and b (T, n); NaN where a column is constant."""
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    a = a - a.mean(0)
    b = b - b.mean(0)
    denom = np.sqrt((a * a).sum(0) * (b * b).sum(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (a * b).sum(0) / denom, np.nan)


def lagged_r(estimate: np.ndarray, counts: np.ndarray, lag: int) -> np.ndarray:
    """r between estimate(t + lag) and counts(t), per column: a positive lag means the estimate
    reports a spike `lag` frames late (what a strictly causal estimator does at ~2 Hz)."""
    T = len(counts)
    if lag >= 0:
        return pearson_columns(estimate[lag:], counts[: T - lag])
    return pearson_columns(estimate[: T + lag], counts[-lag:])


def causal_smooth(x: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Convolve along time with a causal half-Gaussian kernel (weights on frames t, t-1, ...)."""
    if sigma_frames <= 0:
        return np.asarray(x, float)
    k = np.exp(-0.5 * (np.arange(int(np.ceil(4 * sigma_frames)) + 1) / sigma_frames) ** 2)
    k /= k.sum()
    x = np.asarray(x, float)
    out = np.zeros_like(x)
    for j, w in enumerate(k):
        out[j:] += w * x[: len(x) - j]
    return out


def median_r_over_neurons(traces, estimates) -> float:
    """Median over neurons of the Pearson r at lag 0 between estimate and spike counts, the trials
    of each neuron joined (a FrameTrace's name is `<neuron>#<trial>`): the ground-truth benchmark's
    score of one dataset. NaN where no neuron has a defined r."""
    joined = {}
    for t, est in zip(traces, estimates):
        e, c = joined.setdefault(t.name.split("#")[0], ([], []))
        e.append(est)
        c.append(t.counts)
    r = [pearson_columns(np.concatenate(e)[:, None], np.concatenate(c)[:, None])[0] for e, c in joined.values()]
    return float(np.nanmedian(r)) if np.isfinite(r).any() else np.nan
