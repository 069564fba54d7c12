"""The causal AR(1) spike model: expected spikes per frame = offset + gain * max(0, dff(t) - g dff(t-1)).

On real neurons of datasets it never saw (benchmarks/spikes_ground_truth.py, leave one of 26
ground-truth datasets out, 2.0 Hz) this one-parameter inversion of a calcium decay is ahead of
the convolutional network, the first difference and an 8-frame least-squares filter. One g for
every neuron: fitting g per noise band did not help there (median r 0.557 against 0.559).

`g` is chosen for the median Pearson r over the training traces (`fit_ar1`). `offset` and `gain`
are the least-squares regression of the spike counts on the rectified innovation, over all
training traces: the best linear estimate of the count given the innovation, which shrinks a
noisy innovation towards the base rate. Pearson r does not see them; the SBM does, through
p = 1 - exp(-lambda). Matching only the total (gain = spikes / innovation, no offset) had the
same r but carried the imaging noise into lambda at full scale: its p was 26 % further from the
simulator's true p than the network's (benchmarks/HISTORY.md); the regression's is closer than
the network's. How many spikes a unit of DF/F means differs between indicators, cell types and
preparations, so the scale carries over to a new dataset only roughly (the benchmark prints the
held-out ratio of inferred to true spikes).

Shapes: dff (T, n) -> expected spikes per frame (T, n). Reads frames t-1 and t only: look-ahead 0.
"""

from dataclasses import dataclass, field

import numpy as np

from sbm.spikes.baselines import ar1_deconvolution, fit_ar1
from sbm.spikes.ground_truth import FrameTrace
from sbm.spikes.sparse import innovation, noise_excess, running_noise

METHOD = "causal-ar1"


@dataclass
class AR1SpikeModel:
    fps: float
    g: float  # calcium decay per frame, in [0, 1]
    gain: float  # expected spikes per unit of rectified innovation (DF/F), > 0
    offset: float = 0.0  # expected spikes per frame at zero innovation (the base rate), >= 0
    info: dict = field(default_factory=dict)  # provenance: ground truth, traces
    method: str = METHOD
    lookahead: int = 0

    def infer(self, dff: np.ndarray, noise: np.ndarray | None = None) -> np.ndarray:
        """Expected spikes per frame (T, n) for DF/F (T, n); the noise level is not used."""
        return (self.offset + self.gain * ar1_deconvolution(dff, self.g)).astype(np.float32)

    def floor(self) -> float:
        """P(spike) of a frame whose DF/F sits still (zero innovation): the offset's."""
        return float(-np.expm1(-self.offset))

    def infer_with_parameters(self, dff: np.ndarray, noise: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
        """Expected spikes per frame, and per neuron (n,): the noise sd of its innovation (measured
        as sbm/spikes/sparse.py does, at the last frame) and the mean P(spike) of a frame that
        holds only noise of that sd."""
        sigma = running_noise(innovation(dff, self.g))[-1]
        silent = -np.expm1(-(self.offset + self.gain * sigma * noise_excess(0.0)))
        return self.infer(dff), {"noise_sd": sigma, "silent_p": silent.astype(np.float32)}

    def state(self) -> dict:
        keys = ("method", "fps", "g", "gain", "offset", "info")
        return {k: getattr(self, k) for k in keys}

    @classmethod
    def from_state(cls, state: dict) -> "AR1SpikeModel":
        return cls(state["fps"], state["g"], state["gain"], state["offset"], info=state["info"])


def train_ar1_model(traces: list[FrameTrace], fps: float) -> AR1SpikeModel:
    """g for the median r over the training traces, then the least-squares line from the
    rectified innovation to the spike count (offset clipped at 0: no negative base rate)."""
    if not traces:
        raise ValueError("no training traces")
    dffs, counts = [t.dff for t in traces], [t.counts for t in traces]
    g = fit_ar1(dffs, counts)
    x = np.concatenate([ar1_deconvolution(d, g).astype(np.float64) for d in dffs])
    y = np.concatenate(counts).astype(np.float64)
    gain = float(np.cov(x, y)[0, 1] / x.var(ddof=1)) if x.var() > 0 else np.nan
    offset = float(y.mean() - gain * x.mean())
    if offset < 0:  # through the origin instead
        gain, offset = float(x @ y / (x @ x)), 0.0
    if not gain > 0:
        raise ValueError(f"cannot calibrate: the spike counts do not grow with the innovation (slope {gain:g})")
    info = {"training_traces": len(traces), "training_spikes": float(y.sum())}
    return AR1SpikeModel(fps, g, gain, offset, info=info)
