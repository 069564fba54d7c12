"""Loading what the evaluation scores, refusing anything that has seen a held-out fish."""

import argparse
from pathlib import Path

import torch
import yaml

from sbm.model.baselines import Forecasters
from sbm.io.errors import InputError
from sbm.model.sbm import SBM, load_weights


def check_unseen(path, seen: list[str], heldout: list[str]) -> None:
    leaked = sorted(set(seen) & set(heldout))
    if leaked:
        raise InputError(path, f"was trained or selected on held-out fish {leaked}")


def load_evaluated(weights_path, forecasters_path, heldout: list[str]) -> tuple[SBM, Forecasters | None]:
    """The SBM and (if a path is given) the baseline forecasters, each checked against the split."""
    model, state = load_weights(weights_path)
    check_unseen(weights_path, state["training"]["train_fish"] + state["training"]["val_fish"], heldout)
    forecasters = None
    if forecasters_path:
        forecasters = Forecasters.from_state(torch.load(forecasters_path, weights_only=False))
        check_unseen(forecasters_path, forecasters.info["train_fish"] + forecasters.info["val_fish"], heldout)
        if forecasters.info["context"] != model.cfg.context:
            raise InputError(forecasters_path, f"fitted for context {forecasters.info['context']}, the SBM reads {model.cfg.context}")
    return model, forecasters


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments every evaluation script takes."""
    p.add_argument("--weights", required=True, help="the SBM (train_sbm.py)")
    p.add_argument("--forecasters", help="fitted baseline forecasters (fit_forecasters.py), optional")
    p.add_argument("--split", required=True, help="split.yaml: the held-out fish are evaluated")
    p.add_argument("--probs-dir", required=True, help="folder of <subject>.h5 probs files")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--out", required=True)


def from_arguments(args) -> tuple[list[str], list[Path], SBM, Forecasters | None]:
    """(held-out subjects, their probs files, the SBM, the forecasters) from add_arguments' arguments."""
    if args.threads:
        torch.set_num_threads(args.threads)
    heldout = yaml.safe_load(Path(args.split).read_text())["heldout"]
    model, forecasters = load_evaluated(args.weights, args.forecasters, heldout)
    return heldout, [Path(args.probs_dir) / f"{s}.h5" for s in heldout], model, forecasters
