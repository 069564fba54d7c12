"""Train the Sparse Brain Model on the split's training fish, selecting on its validation fish.

    python scripts/train_sbm.py --split split.yaml \
        --train probs/subject_1.h5 probs/subject_2.h5 --val probs/subject_3.h5 \\
        --settings '{...the config's sbm section...}' --run-dir results/synthetic/sbm/run --out weights.pt
    torchrun --standalone --nproc_per_node 2 scripts/train_sbm.py ...     # DDP (gloo on CPU, NCCL on GPUs)

Training state lives in --run-dir (ckpt.pt, best.pt, metrics.csv); rerunning the same command
after an interruption continues from the last ckpt. The held-out fish are never opened.
"""

import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from sbm.cli import Command, arg, run
from sbm.data.split import read_split, split_files
from sbm.model.sbm import SBMConfig
from sbm.train.sbm import TrainConfig, train


@dataclass(kw_only=True)
class Args(Command):
    split: Path = arg("split.yaml from the split rule")
    train: list[Path] = arg("the training fish's probs files")
    val: list[Path] = arg("the validation fish's probs files")
    settings: dict = arg("the config's `sbm` section (model, train)", {})
    run_dir: Path = arg("folder for ckpts and metrics (resumed if present)")
    device: str = arg("auto, cpu or cuda", "auto")
    progress: bool = arg("show a progress bar", False)
    out: Path = arg("the best weights")


def main(args: Args) -> None:
    if args.threads:  # the job's threads, shared by the processes torchrun starts on this node
        torch.set_num_threads(max(1, args.threads // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))
    model_cfg = SBMConfig.from_dict(args.settings.get("model", {}))
    train_cfg = TrainConfig.from_dict(args.settings.get("train", {}))
    split = read_split(args.split)
    train_files, val_files = (split_files(split, part, getattr(args, part), args.split) for part in ("train", "val"))
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    train(
        model_cfg,
        train_cfg,
        [str(p) for p in train_files],
        [str(p) for p in val_files],
        args.run_dir,
        args.out,
        device=device,
        extra={"split": asdict(split)},
        progress=args.progress,
    )


if __name__ == "__main__":
    sys.exit(run(main, Args))
