"""Which spike model the pipeline trains and ships, per frame rate: the benchmark decides.

`benchmarks/spikes_ground_truth.py --out benchmarks/spikes_ground_truth.json` scores every
method on real neurons of ground-truth datasets it was not fitted on (leave one dataset out). The
rule (`spikes.method: auto`, the default):

  1. take the benchmark's runs at native noise in the pipeline's resampling mode (any mode if that
     one was not run), at the benchmarked frame rate nearest the fish's (on a log scale);
  2. score each method that can ship by its median r over the held-out datasets;
  3. ship the best; a method within TIE of a cheaper one loses to it (cheaper: earlier in SHIPPABLE).

`spikes.method: ar1` or `cnn` overrides the rule by hand, and the model records that it did.
"""

from pathlib import Path

import numpy as np

from sbm.spikes.ar1 import METHOD as AR1_METHOD
from sbm.spikes.ar1 import AR1SpikeModel
from sbm.spikes.model import METHOD as CNN_METHOD
from sbm.spikes.model import SpikeModel

SHIPPABLE = ("ar1", "cnn")  # cheapest first: the order ties are broken in
TIE = 0.005  # median r


def choose_method(results: dict, fps: float, mode: str, source: str | Path = "benchmark") -> tuple[str, str]:
    """(method, the reason in words) by the rule above, from the benchmark's results."""
    runs = [r for r in results.get("runs", []) if r["noise"] == "native"]
    if not runs:
        raise ValueError(f"{source}: no benchmark run at native noise to choose a spike model by")
    same_mode = [r for r in runs if r["mode"] == mode]
    runs = same_mode or runs
    nearest = min({r["fps"] for r in runs}, key=lambda f: abs(np.log(f / fps)))
    run = next(r for r in runs if r["fps"] == nearest)
    median = {}
    for m in SHIPPABLE:
        scores = [row[m] for row in run["scores"].values() if m in row]
        if scores:
            median[m] = float(np.nanmedian(scores))
    if not median:
        raise ValueError(f"{source}: the {nearest} Hz run scored none of {SHIPPABLE}")
    best = max(median.values())
    method = next(m for m in SHIPPABLE if m in median and median[m] >= best - TIE)
    table = ", ".join(f"{m} {r:.3f}" for m, r in median.items())
    reason = (
        f"median r over {len(run['scores'])} held-out datasets at {nearest} Hz, {run['mode']}, native noise: "
        f"{table} ({source})"
    )
    return method, reason


def load_spike_model(state: dict) -> SpikeModel | AR1SpikeModel:
    """The spike model a `state()` dict holds, of either kind."""
    method = state.get("method", CNN_METHOD)
    if method == CNN_METHOD:
        return SpikeModel.from_state(state)
    if method == AR1_METHOD:
        return AR1SpikeModel.from_state(state)
    raise KeyError(f"unknown spike-model method {method!r}")
