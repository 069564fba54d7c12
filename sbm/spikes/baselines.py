"""Simple spike estimators: the baselines and the AR(1) inversion.

The ground-truth benchmark (benchmarks/spikes_ground_truth.py) scores the causal first difference,
an 8-frame least-squares filter (`LinearFilter`) and OASIS (the non-causal reference) as baselines
beside the spike models. `ar1_deconvolution` and `fit_ar1` are what the AR(1) spike model
(sbm/spikes/ar1.py, `spikes.method: ar1`) is built on. That model is not the one shipped:
`spikes.method: auto` ships the sparse AR(1) (sbm/spikes/sparse.py), which the rule of
sbm/spikes/choice.py picks at every benchmarked frame rate (the AR(1) fails its calibration).

Every estimator maps DF/F (a fraction, not percent) to a spike rate lam with the same shape:
(T,) for one trace or (T, n) time-major for n neurons. All but `oasis` are strictly causal:
lam(t) uses frames <= t only (LinearFilter may look `lookahead` frames ahead, but only when asked).

Frames before the start of a trace are taken to equal the first frame ("edge padding"), everywhere:
it is what a trace sitting at a steady level would have shown, and it stops a recording that opens
mid-transient from producing a spurious burst at t = 0.
"""

import logging
from dataclasses import dataclass

import numpy as np

from sbm.spikes.metrics import pearson_columns

log = logging.getLogger(__name__)


def _check(x, name: str = "dff") -> np.ndarray:
    """x as a float array of shape (T,) or (T, n) with only finite values, else ValueError."""
    x = np.asarray(x)
    x = x.astype(np.result_type(x, np.float32), copy=False)  # keep float32/64, promote ints to float64
    if x.ndim not in (1, 2):
        raise ValueError(f"{name} must be (T,) or (T, n), got shape {x.shape}")
    bad = ~np.isfinite(x)
    if bad.any():
        where = f" (columns {np.flatnonzero(bad.any(axis=0)).tolist()})" if x.ndim == 2 else ""
        raise ValueError(f"{name} holds {int(bad.sum())} non-finite values{where}")
    return x


def _pairs(dffs: list, counts: list):
    """Yield (dff, counts) 1-D training traces; a (T, n) element counts as n traces."""
    if len(dffs) != len(counts):
        raise ValueError(f"got {len(dffs)} dff traces but {len(counts)} count traces")
    if not dffs:
        raise ValueError("no training traces")
    for i, (x, y) in enumerate(zip(dffs, counts)):
        x, y = _check(x, f"dff[{i}]"), _check(y, f"counts[{i}]")
        if x.shape != y.shape:
            raise ValueError(f"dff[{i}] has shape {x.shape} but counts[{i}] has {y.shape}")
        if x.ndim == 1:
            yield x, y
        else:
            yield from zip(x.T, y.T)


def first_difference(dff) -> np.ndarray:
    """lam(t) = max(0, dff(t) - dff(t-1)), with lam(0) = 0 (edge padding: dff(-1) = dff(0))."""
    return ar1_deconvolution(dff, 1.0)


def ar1_deconvolution(dff, g) -> np.ndarray:
    """Invert an AR(1) calcium model c(t) = g c(t-1) + s(t): lam(t) = max(0, dff(t) - g dff(t-1)).

    At t = 0, dff(-1) is taken as dff(0) (edge padding), so lam(0) = max(0, (1 - g) dff(0)):
    the steady firing that holds a trace at its opening level. g = 1 gives `first_difference`.
    """
    x = _check(dff)
    g = np.asarray(g, dtype=x.dtype)  # a scalar, or one g per column of a (T, n) dff
    if not np.all((g >= 0) & (g <= 1)):
        raise ValueError(f"AR(1) coefficient g must lie in [0, 1], got {g}")
    prev = np.concatenate([x[:1], x[:-1]])  # dff(t-1), with dff(-1) = dff(0)
    return np.maximum(0, x - g * prev)


def fit_ar1(dffs: list, counts: list, grid=np.linspace(0, 0.99, 100)) -> float:
    """The g in `grid` maximising the median over training traces of r(ar1_deconvolution(dff, g), counts).

    The median, not the mean, so a few odd neurons cannot pull g. Traces where r is undefined
    (no spikes, or a constant output) are left out of the median for that g; ties go to the smaller g.
    """
    pairs = list(_pairs(dffs, counts))
    grid = np.asarray(grid, dtype=float).ravel()
    if grid.size == 0:
        raise ValueError("the grid of g values is empty")
    r = np.empty((len(pairs), grid.size))  # r of every trace (rows) at every g (columns), at once
    for i, (x, y) in enumerate(pairs):
        lam = ar1_deconvolution(np.repeat(x.astype(np.float64)[:, None], grid.size, axis=1), grid)  # (T, G)
        r[i] = pearson_columns(lam, np.broadcast_to(y[:, None], lam.shape))
    scores = np.full(grid.size, -np.inf)
    defined = np.isfinite(r).any(axis=0)
    if defined.any():
        scores[defined] = np.nanmedian(r[:, defined], axis=0)
    if not np.isfinite(scores).any():
        raise ValueError("Pearson r is undefined on every training trace (no spikes, or constant DF/F)")
    return float(grid[np.argmax(scores)])


def _lagged(x: np.ndarray, taps: int, lookahead: int) -> np.ndarray:
    """Lagged copies x(t - j) for j = -lookahead .. taps-1 along a new last axis: (T, [n,] taps + lookahead).

    Before the start x is its first frame, past the end its last frame (edge padding both ways).
    """
    pad = [(taps - 1, lookahead)] + [(0, 0)] * (x.ndim - 1)
    p = np.pad(x, pad, mode="edge")
    T = len(x)
    # x(t - j) sits at padded index t - j + taps - 1
    return np.stack([p[taps - 1 - j : taps - 1 - j + T] for j in range(-lookahead, taps)], axis=-1)


@dataclass
class LinearFilter:
    """lam(t) = sum_j weights[j + lookahead] * dff(t - j) + bias, for j = -lookahead .. taps-1.

    weights[0] multiplies the furthest future frame dff(t + lookahead) and weights[lookahead] the
    current frame; with lookahead = 0 the estimate is causal. No rectification: this is the
    least-squares linear estimator, and clipping it would make it something else (clip downstream
    if a non-negative rate is needed).
    """

    weights: np.ndarray
    bias: float
    taps: int
    lookahead: int

    @classmethod
    def fit(cls, dffs: list, counts: list, taps: int = 8, lookahead: int = 0, ridge: float = 1e-6) -> "LinearFilter":
        """Ridge least squares of counts on lagged DF/F, over all training traces concatenated.

        `ridge` is per frame (the penalty is ridge * n_frames * |w|^2), so its meaning does not
        change with the amount of training data; the bias is not penalised.
        """
        if taps < 1 or lookahead < 0:
            raise ValueError(f"need taps >= 1 and lookahead >= 0, got taps={taps}, lookahead={lookahead}")
        if ridge < 0:
            raise ValueError(f"ridge must be non-negative, got {ridge}")
        pairs = list(_pairs(dffs, counts))
        # lagged per trace, so padding never reaches across into a neighbouring trace
        X = np.concatenate([_lagged(x.astype(np.float64), taps, lookahead) for x, _ in pairs])
        y = np.concatenate([y.astype(np.float64) for _, y in pairs])
        # centring solves for the unpenalised bias exactly: b = mean(y) - mean(X) . w
        mx, my = X.mean(axis=0), y.mean()
        Xc = X - mx
        A = Xc.T @ Xc + ridge * len(y) * np.eye(X.shape[1])
        w = np.linalg.lstsq(A, Xc.T @ (y - my), rcond=None)[0]  # lstsq: still fine if A is singular
        return cls(weights=w, bias=float(my - mx @ w), taps=taps, lookahead=lookahead)

    def apply(self, dff) -> np.ndarray:
        """The filter's estimate for a (T,) or (T, n) DF/F array, same shape, edge-padded as in `fit`."""
        x = _check(dff)
        return _lagged(x.astype(np.float64), self.taps, self.lookahead) @ self.weights + self.bias


class _SeededGlobalRNG:
    """OASIS draws from numpy's global RNG when its g estimate leaves (0, 1): seed it for
    reproducible output, and give the caller back the state it had."""

    def __enter__(self):
        self.state = np.random.get_state()
        np.random.seed(0)

    def __exit__(self, *exc):
        np.random.set_state(self.state)


def oasis(dff, fps: float | None = None) -> np.ndarray:
    """OASIS (Friedrich et al. 2017) spike train s per column: the non-causal reference.

    Each column is deconvolved on its own with `deconvolve(y)` at the package's defaults: an AR(1)
    model whose g (and noise level sn) OASIS estimates from the trace itself, the L1 penalty
    (penalty=1) under the noise constraint |c - y|^2 = sn^2 T, and a non-negative baseline b it
    optimises. It sees the whole trace, future included. `fps` is only used to log the fitted
    decay time; it does not change the result.
    """
    try:
        from oasis.functions import deconvolve
    except ImportError as e:
        raise ImportError("oasis() needs the OASIS package: pip install oasis-deconv") from e
    x = _check(dff)
    if fps is not None and not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if len(x) < 2:
        raise ValueError(f"OASIS needs at least 2 frames, got {len(x)}")
    cols = x.reshape(len(x), -1).astype(np.float64)
    const = np.flatnonzero(np.ptp(cols, axis=0) == 0)
    if const.size:
        raise ValueError(f"dff columns {const.tolist()} are constant: OASIS cannot estimate their noise or decay")
    out = np.empty_like(cols)
    with _SeededGlobalRNG():
        for j in range(cols.shape[1]):
            res = deconvolve(np.ascontiguousarray(cols[:, j]))
            out[:, j] = res.s
            if fps is not None:
                g = float(np.ravel(res.g)[0])  # a float for AR(1), a tuple on other paths
                log.debug("oasis column %d: g=%.3f, tau=%.2f s", j, g, -1 / (fps * np.log(g)) if 0 < g < 1 else np.nan)
    return out.reshape(x.shape)
