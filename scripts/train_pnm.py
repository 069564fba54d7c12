"""Train the PNM of one behaviour dimension on the split's training fish, selected on its validation fish.

    python scripts/train_pnm.py --split results/synthetic/split.yaml \
        --train probs/subject_1.h5 ... --val probs/subject_3.h5 \\
        --behavior forward_swim --settings '{...the config's pnm section...}' --out pnm/forward_swim.pt

The held-out fish are never opened. A fish without usable behaviour is refused with the reason.
"""

import sys
from dataclasses import dataclass
from pathlib import Path

from sbm.cli import Command, arg, run
from sbm.data.behavior import load_split_behavior
from sbm.io.atomic import atomic_path
from sbm.io.chen import BEHAVIOR_NAMES
from sbm.io.errors import InputError
from sbm.model.pnm import PNMConfig, save_pnm
from sbm.train.pnm import PNMTrainConfig, train_pnm


@dataclass(kw_only=True)
class Args(Command):
    split: Path = arg("split.yaml from the split rule")
    train: list[Path] = arg("the training fish's probs files")
    val: list[Path] = arg("the validation fish's probs files")
    behavior: str = arg("one of the settings' behaviors")
    settings: dict = arg("the config's `pnm` section (behaviors, scale_quantile, model, train)", {})
    progress: bool = arg("show a progress bar", False)
    out: Path = arg("the PNM")


def main(args: Args) -> None:
    model_cfg = PNMConfig.from_dict(args.settings.get("model", {}))
    train_cfg = PNMTrainConfig.from_dict(args.settings.get("train", {}))
    names = args.settings.get("behaviors", list(BEHAVIOR_NAMES))
    quantile = args.settings.get("scale_quantile", 0.999)
    if args.behavior not in names:
        raise InputError(args.out, f"behaviour {args.behavior} is not among the settings' behaviors {names}")
    fish = load_split_behavior(args.split, {"train": args.train, "val": args.val}, names, quantile, model_cfg.frames)
    model, summary = train_pnm(
        model_cfg, train_cfg, fish["train"], fish["val"], names.index(args.behavior), progress=args.progress
    )
    with atomic_path(args.out) as tmp:
        save_pnm(model, tmp, training=summary, behaviors=names, scale_quantile=quantile)


if __name__ == "__main__":
    sys.exit(run(main, Args))
