"""Train POCO (a population-conditioned per-neuron forecaster) on the training fish, selected on the validation fish.

    python scripts/train_poco.py --split results/synthetic/split.yaml --train probs/subject_1.h5 ... \\
        --val probs/subject_3.h5 --context 12 --settings '{"model": {...}, "train": {...}}' --out poco.pt

The held-out fish are never opened.
"""

import logging
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from sbm.cli import arg, run
from sbm.data.windows import TrainingFish, Windows
from sbm.io.atomic import atomic_path
from sbm.model.poco import POCOConfig, save_poco
from sbm.settings import from_dict
from sbm.train.poco import TrainConfig, train_poco


@dataclass
class Settings:
    """The config's `poco` section: its two subsections."""

    model: dict
    train: dict


@dataclass(kw_only=True)
class Args(TrainingFish):
    settings: dict = arg("the config's `poco` section (model, train)", {})
    device: str = arg("auto, cpu or cuda", "auto")
    progress: bool = arg("show a progress bar", False)
    out: Path = arg("the trained model")


def main(args: Args) -> None:
    settings = from_dict(Settings, {"model": {}, "train": {}, **args.settings}, "poco")
    model_cfg, train_cfg = POCOConfig.from_dict(settings.model), TrainConfig.from_dict(settings.train)
    split, fish = args.open_fish()
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    windows = {part: Windows(fish[part], args.context) for part in ("train", "val")}
    model, info = train_poco(windows["train"], windows["val"], model_cfg, train_cfg, args.progress, device)
    info.update(train_fish=split.train, val_fish=split.val)
    logging.info("POCO: best validation MAE %.5f at step %d", info["best_val_mae"], info["best_step"])
    data = {
        "stimulus_names": fish["train"][0].stimulus_names,
        "context": args.context,
        "positions": "per fish: centred on the bounding box, divided by the largest half-extent",
    }
    with atomic_path(args.out) as tmp:
        save_poco(model, tmp, data=data, training=info, split=asdict(split))


if __name__ == "__main__":
    sys.exit(run(main, Args))
