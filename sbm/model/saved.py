"""A trained model on disk: its state dict (random buffers included), its config dataclass and
whatever the caller adds (training info, the split, data facts). One format for every model."""

from dataclasses import asdict
from typing import Callable

import torch


def save_model(model: torch.nn.Module, path, **extra) -> None:
    torch.save({"model": model.state_dict(), "config": asdict(model.cfg), **extra}, path)


def load_model(path, build: Callable[[dict], torch.nn.Module], map_location="cpu") -> tuple[torch.nn.Module, dict]:
    """(the model `build(config dict)` makes, with the saved weights; everything that was saved)."""
    state = torch.load(path, map_location=map_location, weights_only=False)
    model = build(state["config"])
    model.load_state_dict(state["model"])
    return model, state
