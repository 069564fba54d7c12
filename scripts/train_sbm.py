"""Train the Sparse Brain Model on the split's training fish, selecting on its validation fish.

    python scripts/train_sbm.py --split split.yaml --probs-dir results/synthetic/probs \\
        --settings '{...the config's sbm section...}' --run-dir results/synthetic/sbm/run --out weights.pt
    torchrun --standalone --nproc_per_node 2 scripts/train_sbm.py ...     # DDP (gloo on CPU, NCCL on GPUs)

Training state lives in --run-dir (ckpt.pt, best.pt, metrics.csv); rerunning the same command
after an interruption continues from the last ckpt. The held-out fish are never opened.
"""

import argparse
import json
import os
import sys
from pathlib import Path

import torch
import yaml

from sbm.cli import run
from sbm.io.errors import InputError
from sbm.model.sbm import SBMConfig
from sbm.train.sbm import TrainConfig, train


def _main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--split", required=True, help="split.yaml from the split rule")
    p.add_argument("--probs-dir", required=True, help="folder of <subject>.h5 probs files")
    p.add_argument("--settings", default="{}", help="JSON: the config's `sbm` section (model, train)")
    p.add_argument("--run-dir", required=True, help="folder for ckpts and metrics (resumed if present)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=int, default=0, help="CPU threads in all, split between the node's processes (0: torch's default)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    if args.threads:  # the job's threads, shared by the processes torchrun starts on this node
        torch.set_num_threads(max(1, args.threads // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))
    settings = json.loads(args.settings)
    model_cfg = SBMConfig.from_dict(settings.get("model", {}))
    train_cfg = TrainConfig.from_dict(settings.get("train", {}))
    split = yaml.safe_load(Path(args.split).read_text())
    for part in ("train", "val", "heldout"):
        if not split.get(part):
            raise InputError(args.split, f"no {part} fish")
    leaked = sorted(set(split["heldout"]) & (set(split["train"]) | set(split["val"])))
    if leaked:
        raise InputError(args.split, f"held-out fish {leaked} also appear in training or validation")
    probs = lambda subjects: [str(Path(args.probs_dir) / f"{s}.h5") for s in subjects]  # noqa: E731
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    train(model_cfg, train_cfg, probs(split["train"]), probs(split["val"]), args.run_dir, args.out, device=device,
          extra={"split": split}, progress=not args.no_progress)


if __name__ == "__main__":
    sys.exit(run(_main))
