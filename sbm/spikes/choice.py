"""Which spike model the pipeline trains and ships, per frame rate: the benchmark decides.

`benchmarks/spikes_ground_truth.py --out benchmarks/spikes_ground_truth.json` scores every
method on real neurons of ground-truth datasets it was not fitted on (leave one dataset out). The
rule (`spikes.method: auto`, the default):

  1. take the benchmark's runs at native noise in the pipeline's resampling mode (any mode if that
     one was not run), at the benchmarked frame rate nearest the fish's (on a log scale);
  2. keep the methods that can ship and are calibrated there: on every held-out zebrafish set,
     their frames without a true spike got a mean p of at most SILENT_LIMIT times the set's true
     per-frame spike probability (issue 28: a floor that gives a quiet neuron the training sets'
     mean firing swamps the signal a forecaster learns from). A run that recorded no calibration
     (an older benchmark file) is ranked on r alone, and the reason says so;
  3. score each by its median r over the held-out datasets;
  4. ship the best; a method within TIE of a cheaper one loses to it (cheaper: earlier in SHIPPABLE).

`spikes.method: ar1`, `sparse`, `sparse_own_decay` or `cnn` overrides the rule by hand, and the
model records that it did.
"""

from pathlib import Path

import numpy as np

from sbm.spikes.ar1 import METHOD as AR1_METHOD
from sbm.spikes.ar1 import AR1SpikeModel
from sbm.spikes.model import METHOD as CNN_METHOD
from sbm.spikes.model import SpikeModel
from sbm.spikes.sparse import METHOD as SPARSE_METHOD
from sbm.spikes.sparse import SILENT_LIMIT, SparseAR1Model

SHIPPABLE = ("ar1", "sparse", "sparse_own_decay", "cnn")  # cheapest first: the order ties are broken in
TIE = 0.005  # median r
ZEBRAFISH = "-zf-"  # in the name of every zebrafish ground-truth dataset (CASCADE's naming)


def calibrated(run: dict, method: str) -> bool | None:
    """Whether `method` kept the frames without a true spike quiet on every held-out zebrafish set
    of `run` (any set, if none is zebrafish); None where the run recorded no calibration for it."""
    silent, true_p = run.get("silent_p", {}), run.get("true_p", {})
    held = [h for h in silent if method in silent[h] and h in true_p]
    if not held:
        return None
    zebrafish = [h for h in held if ZEBRAFISH in h] or held
    return all(silent[h][method] <= SILENT_LIMIT * true_p[h] for h in zebrafish)


def choose_method(results: dict, fps: float, mode: str, source: str | Path = "benchmark") -> tuple[str, str]:
    """(method, the reason in words) by the rule above, from the benchmark's results."""
    runs = [r for r in results.get("runs", []) if r["noise"] == "native"]
    if not runs:
        raise ValueError(f"{source}: no benchmark run at native noise to choose a spike model by")
    same_mode = [r for r in runs if r["mode"] == mode]
    runs = same_mode or runs
    nearest = min({r["fps"] for r in runs}, key=lambda f: abs(np.log(f / fps)))
    run = next(r for r in runs if r["fps"] == nearest)
    median, checked = {}, {}
    for m in SHIPPABLE:
        scores = [row[m] for row in run["scores"].values() if m in row]
        if scores:
            median[m] = float(np.nanmedian(scores))
            checked[m] = calibrated(run, m)
    if not median:
        raise ValueError(f"{source}: the {nearest} Hz run scored none of {SHIPPABLE}")
    recorded = any(c is not None for c in checked.values())
    # With calibration recorded, a method without it (or failing it) cannot ship.
    eligible = {m: r for m, r in median.items() if checked[m]} if recorded else median
    if not eligible:
        raise ValueError(
            f"{source}: at {nearest} Hz no method kept the frames without a spike under {SILENT_LIMIT} x the true"
            " spike probability on every held-out zebrafish set"
        )
    best = max(eligible.values())
    method = next(m for m in SHIPPABLE if m in eligible and eligible[m] >= best - TIE)
    table = ", ".join(f"{m} {r:.3f}" + ("" if m in eligible else " (not calibrated)") for m, r in median.items())
    check = (
        f"calibrated: silent frames' mean p <= {SILENT_LIMIT:g} x the true spike probability on every held-out"
        " zebrafish set"
        if recorded
        else "no calibration recorded: r alone"
    )
    reason = (
        f"median r over {len(run['scores'])} held-out datasets at {nearest} Hz, {run['mode']}, native noise: "
        f"{table}; {check} ({source})"
    )
    return method, reason


def load_spike_model(state: dict) -> SpikeModel | AR1SpikeModel | SparseAR1Model:
    """The spike model a `state()` dict holds, of any kind."""
    method = state.get("method", CNN_METHOD)
    if method == CNN_METHOD:
        return SpikeModel.from_state(state)
    if method == AR1_METHOD:
        return AR1SpikeModel.from_state(state)
    if method == SPARSE_METHOD:
        return SparseAR1Model.from_state(state)
    raise KeyError(f"unknown spike-model method {method!r}")
