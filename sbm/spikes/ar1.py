"""The causal AR(1) spike model: expected spikes per frame = gain * max(0, dff(t) - g dff(t-1)).

On real neurons of datasets it never saw (benchmarks/spikes_ground_truth.py, leave one of 26
ground-truth datasets out, 2.0 Hz) this one-parameter inversion of a calcium decay is ahead of
the convolutional network, the first difference and an 8-frame least-squares filter. One g for
every neuron: fitting g per noise band did not help there (median r 0.557 against 0.559).

`g` is chosen for the median Pearson r over the training traces (`fit_ar1`); `gain` turns the
rectified innovation (DF/F) into expected spikes, so that the training traces' inferred spikes
add up to their true spikes. Pearson r does not see the gain; the SBM does, through
p = 1 - exp(-lambda). How many spikes a unit of DF/F means differs between indicators, cell types
and preparations, so the gain carries over to a new dataset only roughly (the benchmark prints the
held-out ratio of inferred to true spikes).

Shapes: dff (T, n) -> expected spikes per frame (T, n). Reads frames t-1 and t only: look-ahead 0.
"""

from dataclasses import dataclass, field

import numpy as np

from sbm.spikes.baselines import ar1_deconvolution, fit_ar1
from sbm.spikes.ground_truth import FrameTrace

METHOD = "causal-ar1"


@dataclass
class AR1SpikeModel:
    fps: float
    g: float  # calcium decay per frame, in [0, 1]
    gain: float  # expected spikes per unit of rectified innovation (DF/F)
    info: dict = field(default_factory=dict)  # provenance: ground truth, traces
    method: str = METHOD
    lookahead: int = 0

    def infer(self, dff: np.ndarray, noise: np.ndarray | None = None) -> np.ndarray:
        """Expected spikes per frame (T, n) for DF/F (T, n); the noise level is not used."""
        return (self.gain * ar1_deconvolution(dff, self.g)).astype(np.float32)

    def state(self) -> dict:
        return {"method": self.method, "fps": self.fps, "g": self.g, "gain": self.gain, "info": self.info}

    @classmethod
    def from_state(cls, state: dict) -> "AR1SpikeModel":
        return cls(state["fps"], state["g"], state["gain"], info=state["info"])


def train_ar1_model(traces: list[FrameTrace], fps: float) -> AR1SpikeModel:
    """g for the median r over the training traces, then the gain that makes their inferred
    spikes add up to their true spikes."""
    if not traces:
        raise ValueError("no training traces")
    dffs, counts = [t.dff for t in traces], [t.counts for t in traces]
    g = fit_ar1(dffs, counts)
    innovation = sum(float(ar1_deconvolution(x, g).sum()) for x in dffs)
    spikes = sum(float(c.sum()) for c in counts)
    if not innovation > 0 or not spikes > 0:
        raise ValueError(f"cannot calibrate: {spikes:g} spikes and {innovation:g} rectified innovation in training")
    return AR1SpikeModel(fps, g, spikes / innovation, info={"training_traces": len(traces), "training_spikes": spikes})
