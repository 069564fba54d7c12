"""Behaviour on the held-out fish: Pearson r of the PNMs and the linear baselines, from true brain
states and from the SBM's one-step forecasts of them.

    python scripts/evaluate_behavior.py --weights results/synthetic/sbm/weights.pt \\
        --pnm results/synthetic/pnm/*.pt --baselines results/synthetic/baselines/behavior.pt \\
        --split results/synthetic/split.yaml --probs-dir results/synthetic/probs \\
        --out behavior.json --predictions-out behavior_predictions.h5
"""

import argparse
import logging
import sys

import torch

from sbm.cli import run
from sbm.eval.behavior import evaluate_fish, load_pnms, summarise_behavior
from sbm.eval.load import check_unseen, from_arguments, add_arguments
from sbm.io.atomic import write_h5_groups, write_json


def _main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(p)
    p.add_argument("--pnm", nargs="+", required=True, help="one PNM per behaviour dimension (train_pnm.py)")
    p.add_argument("--baselines", required=True, help="fit_behavior_baselines.py's output")
    p.add_argument("--predictions-out", required=True, help="HDF5: per held-out fish, the truth and every prediction per frame")
    args = p.parse_args(argv)
    heldout, paths, model, _ = from_arguments(args)
    pnms, names, quantile = load_pnms(args.pnm, heldout)
    baselines = torch.load(args.baselines, weights_only=False)
    check_unseen(args.baselines, baselines.info["train_fish"] + baselines.info["val_fish"], heldout)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    per_fish = [evaluate_fish(path, pnms, names, quantile, baselines, model, args.batch_size, device) for path in paths]
    write_h5_groups(args.predictions_out, {fish["subject"]: fish.pop("series") for fish in per_fish})
    result = {"heldout": heldout, **summarise_behavior(per_fish, names), "baseline_fits": baselines.info,
              "pnm_training": {name: pnm.training_summary for name, pnm in zip(names, pnms)}}
    logging.info("held-out mean r: %s", result["mean_r"])
    write_json(args.out, result)


if __name__ == "__main__":
    sys.exit(run(_main))
