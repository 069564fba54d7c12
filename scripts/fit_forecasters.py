"""Fit the baseline forecasters (sbm.model.baselines) on the training fish, selected on the validation fish;
with the simulator's truth of those fish, the ceiling too.

    python scripts/fit_forecasters.py --split results/synthetic/split.yaml --train probs/subject_1.h5 ... \\
        --val probs/subject_3.h5 --context 12 --settings '{...the config's baselines section...}' \\
        --out forecasters.pt [--truth resources/synthetic/raw/subject_1/ground_truth.h5 ...]
"""

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from sbm.cli import arg, run
from sbm.data.windows import TrainingFish, Windows
from sbm.eval.truth import read_truth, truth_files
from sbm.io.atomic import atomic_path
from sbm.train.baselines import ForecasterConfig, fit_forecasters


@dataclass(kw_only=True)
class Args(TrainingFish):
    settings: dict = arg("the config's `baselines` section", {})
    truth: list[Path] = arg(
        "simulated fish: each training and validation fish's ground_truth.h5 (fits the ceiling)", []
    )
    out: Path = arg("the fitted forecasters")


def main(args: Args) -> None:
    cfg = ForecasterConfig.from_dict(args.settings)
    split, fish = args.open_fish()
    truths = None
    if args.truth:
        truths = tuple(
            [read_truth(f.path, t) for f, t in zip(fish[part], truth_files(args.truth, getattr(split, part)))]
            for part in ("train", "val")
        )
    forecasters = fit_forecasters(Windows(fish["train"], args.context), Windows(fish["val"], args.context), cfg, truths)
    forecasters.info.update(train_fish=split.train, val_fish=split.val)
    logging.info("ridge: %s; mlp: %s", forecasters.info["ridge"], forecasters.info["mlp"])
    with atomic_path(args.out) as tmp:
        torch.save(forecasters.state(), tmp)


if __name__ == "__main__":
    sys.exit(run(main, Args))
