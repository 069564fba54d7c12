"""Loading what the evaluation scores, refusing anything that has seen a held-out fish."""

import torch

from sbm.eval.forecasters import Forecasters
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
