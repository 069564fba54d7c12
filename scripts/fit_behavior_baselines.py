"""Fit the linear behaviour baselines (ridge, PCA + ridge) on the training fish, selected on the validation fish.

    python scripts/fit_behavior_baselines.py --split results/synthetic/split.yaml --train probs/subject_1.h5 ... \\
        --val probs/subject_3.h5 --settings '{...the config's pnm section...}' --out behavior_baselines.pt
"""

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from sbm.cli import Command, arg, run
from sbm.data.behavior import load_split_behavior
from sbm.io.atomic import atomic_path
from sbm.io.chen import BEHAVIOR_NAMES
from sbm.model.pnm import PNMConfig
from sbm.train.behavior_baselines import BehaviorBaselineConfig, fit_behavior_baselines


@dataclass(kw_only=True)
class Args(Command):
    split: Path = arg("split.yaml from the split rule")
    train: list[Path] = arg("the training fish's probs files")
    val: list[Path] = arg("the validation fish's probs files")
    settings: dict = arg("the config's `pnm` section (behaviors, scale_quantile, model, baselines)", {})
    out: Path = arg("the fitted baselines")


def main(args: Args) -> None:
    inputs = PNMConfig.from_dict(args.settings.get("model", {}))
    cfg = BehaviorBaselineConfig.from_dict(args.settings.get("baselines", {}))
    names = args.settings.get("behaviors", list(BEHAVIOR_NAMES))
    quantile = args.settings.get("scale_quantile", 0.999)
    fish = load_split_behavior(args.split, {"train": args.train, "val": args.val}, names, quantile, inputs.frames)
    baselines = fit_behavior_baselines(fish["train"], fish["val"], inputs, cfg)
    logging.info(
        "validation r: ridge %s; pca_ridge %s",
        {k: round(v["val_r"], 3) for k, v in baselines.info["ridge"].items()},
        {k: round(v["val_r"], 3) for k, v in baselines.info["pca_ridge"].items()},
    )
    with atomic_path(args.out) as tmp:
        torch.save(baselines, tmp)


if __name__ == "__main__":
    sys.exit(run(main, Args))
