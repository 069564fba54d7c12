"""Train the PNM of one behaviour dimension on the split's training fish, selected on its validation fish.

    python scripts/train_pnm.py --split results/synthetic/split.yaml --probs-dir results/synthetic/probs \\
        --behavior forward_swim --settings '{...the config's pnm section...}' --out pnm/forward_swim.pt

The held-out fish are never opened. A fish without usable behaviour is refused with the reason.
"""

import argparse
import json
import sys

import torch

from sbm.cli import run
from sbm.io.chen import BEHAVIOR_NAMES
from sbm.data.behavior import load_split_fish
from sbm.io.atomic import atomic_path
from sbm.model.pnm import PNMConfig, save_pnm
from sbm.train.pnm import PNMTrainConfig, train_pnm


def _main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--split", required=True)
    p.add_argument("--probs-dir", required=True)
    p.add_argument("--behavior", required=True, help="one of the config's pnm.behaviors")
    p.add_argument("--settings", default="{}", help="JSON: the config's `pnm` section")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = json.loads(args.settings)
    model_cfg = PNMConfig.from_dict(settings.get("model", {}))
    train_cfg = PNMTrainConfig.from_dict(settings.get("train", {}))
    names = settings.get("behaviors", list(BEHAVIOR_NAMES))
    if args.behavior not in names:
        p.error(f"--behavior {args.behavior} is not among the settings' behaviors {names}")
    fish = load_split_fish(args.split, args.probs_dir, ("train", "val"), names, settings.get("scale_quantile", 0.999), model_cfg.frames)
    model, summary = train_pnm(model_cfg, train_cfg, fish["train"], fish["val"], names.index(args.behavior), progress=not args.no_progress)
    with atomic_path(args.out) as tmp:
        save_pnm(model, tmp, training=summary, behaviors=names, scale_quantile=settings.get("scale_quantile", 0.999))


if __name__ == "__main__":
    sys.exit(run(_main))
