"""Fit the linear behaviour baselines (ridge, PCA + ridge) on the training fish, selected on the validation fish.

    python scripts/fit_behavior_baselines.py --split results/synthetic/split.yaml --probs-dir results/synthetic/probs \\
        --settings '{...the config's pnm section...}' --out behavior_baselines.pt
"""

import argparse
import json
import logging
import sys

import torch

from sbm.cli import run
from sbm.io.chen import BEHAVIOR_NAMES
from sbm.data.behavior import load_split_fish
from sbm.train.behavior_baselines import BehaviorBaselineConfig, fit_behavior_baselines
from sbm.io.atomic import atomic_path
from sbm.model.pnm import PNMConfig


def _main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--split", required=True)
    p.add_argument("--probs-dir", required=True)
    p.add_argument("--settings", default="{}", help="JSON: the config's `pnm` section")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = json.loads(args.settings)
    inputs = PNMConfig.from_dict(settings.get("model", {}))
    cfg = BehaviorBaselineConfig.from_dict(settings.get("baselines", {}))
    names = settings.get("behaviors", list(BEHAVIOR_NAMES))
    fish = load_split_fish(args.split, args.probs_dir, ("train", "val"), names, settings.get("scale_quantile", 0.999), inputs.frames)
    baselines = fit_behavior_baselines(fish["train"], fish["val"], inputs, cfg)
    logging.info("validation r: ridge %s; pca_ridge %s", {k: round(v["val_r"], 3) for k, v in baselines.info["ridge"].items()},
                 {k: round(v["val_r"], 3) for k, v in baselines.info["pca_ridge"].items()})
    with atomic_path(args.out) as tmp:
        torch.save(baselines, tmp)


if __name__ == "__main__":
    sys.exit(run(_main))
