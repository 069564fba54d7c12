"""Next-step MAE and calibration of the trained SBM on the held-out fish, beside baselines on the same windows.

    python scripts/evaluate_next_step.py --weights results/synthetic/sbm/weights.pt \
        --forecasters results/synthetic/baselines/forecasters.pt --poco results/synthetic/poco/weights.pt \
        --ablation results/synthetic/sbm_no_spatial/weights.pt \
        --split results/synthetic/split.yaml --heldout results/synthetic/probs/subject_4.h5 \
        [--truth resources/synthetic/raw/subject_4/ground_truth.h5] \
        --metrics next_step.json --states next_step_states.h5 --keep-states 512
"""

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from sbm.cli import arg, run
from sbm.eval.load import ForecastEvaluation, load_forecast_evaluation
from sbm.eval.metrics import Reliability
from sbm.eval.next_step import next_step_errors, summarise
from sbm.io.contracts import NEXT_STEP_STATES, NextStep, write_groups, write_result
from sbm.io.errors import InputError


@dataclass(kw_only=True)
class Args(ForecastEvaluation):
    stride: int = arg("frames between evaluated windows", 1)
    keep_states: int = arg(
        "evenly spaced windows per fish whose observed and forecast frames are kept (at least 10)", 512
    )
    metrics: Path = arg("JSON: the metrics")
    states: Path = arg("HDF5: the kept brain states (for evaluate_fidelity.py)")


def main(args: Args) -> None:
    if args.keep_states < 10:
        raise InputError(args.states, "--keep-states must be at least 10: the fidelity comparison needs them")
    evaluated = load_forecast_evaluation(args)
    model = evaluated.model
    device = "cuda" if torch.cuda.is_available() else "cpu"
    reliability = {name: Reliability() for name in ("sbm", "persistence", "ridge", "mlp", "poco")}
    per_fish = []
    for i, path in enumerate(evaluated.paths):
        truth = evaluated.truth(i)
        per_fish.append(
            next_step_errors(
                model,
                path,
                args.stride,
                args.batch_size,
                device,
                evaluated.fitted(truth),
                reliability,
                args.keep_states,
                progress=True,
                truth=truth,
            )
        )
    # One group per fish: frame (W,), observed (W, N), one (W, N) per forecaster.
    write_groups(args.states, {fish["subject"]: fish.pop("states") for fish in per_fish}, NEXT_STEP_STATES)
    calibration = {name: r.result() for name, r in reliability.items() if r.count.sum() > 0}
    result = {
        "heldout": evaluated.heldout,
        "stride": args.stride,
        "context": model.cfg.context,
        **summarise(per_fish),
        "ece": {name: c["ece"] for name, c in calibration.items()},
        "calibration": calibration,
        "baseline_fits": evaluated.forecasters.info if evaluated.forecasters else None,
    }
    logging.info(
        "held-out next-step MAE: %s; SBM / baseline: %s; ECE: %s; against the simulator truth: %s",
        result["mae"],
        result["sbm_over_baseline"],
        result["ece"],
        result["truth"] and result["truth"]["mae"],
    )
    write_result(args.metrics, result, NextStep)


if __name__ == "__main__":
    sys.exit(run(main, Args))
