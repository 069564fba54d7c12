"""Loading what the evaluation scores, refusing anything that has seen a held-out fish."""

from dataclasses import dataclass
from pathlib import Path

import torch

from sbm.cli import Command, arg
from sbm.data.split import read_split, split_files
from sbm.io.errors import InputError
from sbm.model.baselines import Forecasters
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
            raise InputError(
                forecasters_path, f"fitted for context {forecasters.info['context']}, the SBM reads {model.cfg.context}"
            )
    return model, forecasters


@dataclass(kw_only=True)
class Evaluation(Command):
    """The arguments every evaluation script takes (its Args extends them)."""

    weights: Path = arg("the SBM (train_sbm.py)")
    split: Path = arg("split.yaml: its held-out fish are evaluated")
    heldout: list[Path] = arg("the held-out fish's probs files")
    batch_size: int = arg("windows per forward pass", 8)


def load_evaluation(
    args: Evaluation, forecasters: Path | None = None
) -> tuple[list[str], list[Path], SBM, Forecasters | None]:
    """(held-out subjects, their probs files in that order, the SBM, the forecasters if a path is given)."""
    split = read_split(args.split)
    paths = split_files(split, "heldout", args.heldout, args.split)
    model, fitted = load_evaluated(args.weights, forecasters, split.heldout)
    return split.heldout, paths, model, fitted
