"""Next-step MAE and calibration of the trained SBM on the held-out fish, beside baselines on the same windows.

    python scripts/evaluate_next_step.py --weights results/synthetic/sbm/weights.pt \
        --forecasters results/synthetic/baselines/forecasters.pt \
        --split results/synthetic/split.yaml --heldout results/synthetic/probs/subject_4.h5 \
        --metrics next_step.json --states next_step_states.h5 --keep-states 512
"""

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from sbm.cli import arg, run
from sbm.eval.load import Evaluation, load_evaluation
from sbm.eval.metrics import Reliability
from sbm.eval.next_step import next_step_errors, summarise
from sbm.io.contracts import NEXT_STEP_STATES, NextStep, write_groups, write_result
from sbm.io.errors import InputError


@dataclass(kw_only=True)
class Args(Evaluation):
    forecasters: Path | None = arg("fitted baseline forecasters (fit_forecasters.py)", None)
    stride: int = arg("frames between evaluated windows", 1)
    keep_states: int = arg("evenly spaced windows per fish whose true and forecast frames are kept (at least 10)", 512)
    metrics: Path = arg("JSON: the metrics")
    states: Path = arg("HDF5: the kept brain states (for evaluate_fidelity.py)")


def main(args: Args) -> None:
    if args.keep_states < 10:
        raise InputError(args.states, "--keep-states must be at least 10: the fidelity comparison needs them")
    heldout, paths, model, forecasters = load_evaluation(args, args.forecasters)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    reliability = {name: Reliability() for name in ("sbm", "persistence", "ridge", "mlp")}
    per_fish = [
        next_step_errors(
            model, path, args.stride, args.batch_size, device, forecasters, reliability, args.keep_states, progress=True
        )
        for path in paths
    ]
    # One group per fish: frame (W,), truth (W, N), one (W, N) per forecaster.
    write_groups(args.states, {fish["subject"]: fish.pop("states") for fish in per_fish}, NEXT_STEP_STATES)
    calibration = {name: r.result() for name, r in reliability.items() if r.count.sum() > 0}
    result = {
        "heldout": heldout,
        "stride": args.stride,
        "context": model.cfg.context,
        **summarise(per_fish),
        "ece": {name: c["ece"] for name, c in calibration.items()},
        "calibration": calibration,
        "baseline_fits": forecasters.info if forecasters else None,
    }
    logging.info(
        "held-out next-step MAE: %s; SBM / baseline: %s; ECE: %s",
        result["mae"],
        result["sbm_over_baseline"],
        result["ece"],
    )
    write_result(args.metrics, result, NextStep)


if __name__ == "__main__":
    sys.exit(run(main, Args))
