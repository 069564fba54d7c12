"""Behaviour on the held-out fish: Pearson r of the PNMs and the linear baselines against the
observed behaviour, from the observed brain states and from the SBM's one-step forecasts of them.

    python scripts/evaluate_behavior.py --weights results/synthetic/sbm/weights.pt \
        --pnm results/synthetic/pnm/*.pt --baselines results/synthetic/baselines/behavior.pt \
        --split results/synthetic/split.yaml --heldout results/synthetic/probs/subject_4.h5 \
        --metrics behavior.json --predictions behavior_predictions.h5
"""

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from sbm.cli import arg, run
from sbm.eval.behavior import evaluate_fish, load_pnms, summarise_behavior
from sbm.eval.load import Evaluation, check_unseen, load_evaluation
from sbm.io.contracts import BEHAVIOR_PREDICTIONS, Behavior, write_groups, write_result


@dataclass(kw_only=True)
class Args(Evaluation):
    pnm: list[Path] = arg("one PNM per behaviour dimension (train_pnm.py)")
    baselines: Path = arg("the linear baselines (fit_behavior_baselines.py)")
    metrics: Path = arg("JSON: the metrics")
    predictions: Path = arg("HDF5: per held-out fish, the observed behaviour and every prediction per frame")


def main(args: Args) -> None:
    heldout, paths, model, _ = load_evaluation(args)
    pnms, names, quantile = load_pnms(args.pnm, heldout)
    baselines = torch.load(args.baselines, weights_only=False)
    check_unseen(args.baselines, baselines.info["train_fish"] + baselines.info["val_fish"], heldout)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    per_fish = [evaluate_fish(path, pnms, names, quantile, baselines, model, args.batch_size, device) for path in paths]
    write_groups(args.predictions, {fish["subject"]: fish.pop("series") for fish in per_fish}, BEHAVIOR_PREDICTIONS)
    result = {
        "heldout": heldout,
        **summarise_behavior(per_fish, names),
        "baseline_fits": baselines.info,
        "pnm_training": {name: pnm.training_summary for name, pnm in zip(names, pnms)},
    }
    logging.info("held-out mean r: %s", result["mean_r"])
    write_result(args.metrics, result, Behavior)


if __name__ == "__main__":
    sys.exit(run(main, Args))
