"""Training POCO (sbm.model.poco) on the training fish, keeping the step with the best validation MAE.

AdamW on the masked binary cross-entropy of each window's forecast against the next frame's
probabilities. Windows come in the SBM's I/O-friendly random order (sbm.data.windows.epoch_batches:
blocks shuffled, windows shuffled within pools of blocks), epoch after epoch until `steps`. Every
`val_every` steps the masked MAE over `val_windows` evenly spaced validation windows is measured,
and the weights of the best one are kept.
"""

import copy
import logging
import math
import time
from dataclasses import asdict, dataclass, replace

import torch
from tqdm import tqdm

from sbm.data.windows import Windows, check_same_stimuli, collate, epoch_batches, spaced_windows, window
from sbm.model.forecast import Forecaster, abs_error, context_mean, persistence, silence_unseen_inputs
from sbm.model.poco import POCO, POCOConfig, poco_forecaster
from sbm.model.sbm import masked_bce
from sbm.settings import from_dict

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """The config's `poco.train` section."""

    steps: int = 2000  # optimiser steps
    batch_size: int = 8  # windows per step
    lr: float = 1e-3
    weight_decay: float = 1e-4  # on matrices only (not biases, norms' gains)
    val_every: int = 100  # steps between validations (and one at the end)
    val_windows: int = 128  # evenly spaced windows of the validation fish
    seed: int = 0
    clip: float = 1.0  # gradient-norm clipping (0: none)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        return from_dict(cls, d, "poco.train")


def batch_inputs(windows: Windows, idx: list[int], device="cpu") -> tuple[tuple, torch.Tensor, torch.Tensor]:
    """(forecaster inputs, target (B, N), mask (B, N)) of windows of C + 1 frames, on `device`: the
    first C frames are read (with their stimulus, sbm.data.windows.window), the last is the target
    (of the windows' training targets)."""
    batch = {k: v.to(device) for k, v in collate([windows[i] for i in idx]).items()}
    C = windows.context
    prob, stimulus = window(batch["prob"], batch["stimulus"], 0, C)
    return (prob, batch["xyz"], stimulus, batch["mask"]), batch["target"][:, C], batch["mask"]


@torch.no_grad()
def windows_mae(forecast: Forecaster, windows: Windows, idx: list[int], batch_size: int, device="cpu") -> float:
    """Masked MAE of a forecaster's next-frame forecasts over the windows `idx`."""
    total, count = 0.0, 0
    for b in range(0, len(idx), batch_size):
        inputs, target, mask = batch_inputs(windows, idx[b : b + batch_size], device)
        total += float(abs_error(forecast(*inputs), target, mask).sum())
        count += int(mask.sum())
    return total / count


def batches(windows: Windows, batch_size: int, seed: int):
    """Batches of window indices, epoch after epoch, forever."""
    epoch = 0
    while True:
        yield from epoch_batches(windows, batch_size, epoch, seed)
        epoch += 1


def train_poco(
    train: Windows, val: Windows, model_cfg: POCOConfig, cfg: TrainConfig, progress: bool = False, device="cpu"
) -> tuple[POCO, dict]:
    """Train POCO on `train`, select on `val` (on `device`); returns (the best model, on the CPU in
    eval mode, and info). The config's n_stimuli and context are taken from the windows."""
    if train.context != val.context:
        raise ValueError(f"training windows read {train.context} frames, validation windows {val.context}")
    check_same_stimuli(train.fishes + val.fishes)
    model_cfg = replace(model_cfg, context=train.context, n_stimuli=len(train.fishes[0].stimulus_names))
    torch.manual_seed(cfg.seed)
    model = POCO(model_cfg)
    # Start the output at the training fish's mean probability, so early steps learn dynamics
    # rather than the base rate.
    mean_prob = sum(f.mean_prob * f.n_frames * f.n_neurons for f in train.fishes) / sum(
        f.n_frames * f.n_neurons for f in train.fishes
    )
    mean_prob = min(max(mean_prob, 1e-4), 1 - 1e-4)
    torch.nn.init.constant_(model.mlp_out.bias, math.log(mean_prob / (1 - mean_prob)))
    seen = train.stimuli_seen()
    silence_unseen_inputs(model.mlp_in, seen, first=train.context)
    silence_unseen_inputs(model.stimulus_embed, seen)
    model = model.to(device)
    params = list(model.parameters())
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in params if p.ndim >= 2], "weight_decay": cfg.weight_decay},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
        ],
        lr=cfg.lr,
    )
    val_idx = spaced_windows(val, cfg.val_windows)
    reference = {  # what the forecasts must beat, on the same validation windows
        "persistence": windows_mae(persistence, val, val_idx, cfg.batch_size, device),
        "context_mean": windows_mae(context_mean, val, val_idx, cfg.batch_size, device),
    }
    log.info(
        "%d train windows (%d fish), %d validation windows (%d fish); %d steps of %d windows; %.3f M parameters; "
        "validation MAE of persistence %.5f, context mean %.5f",
        len(train),
        len(train.fishes),
        len(val_idx),
        len(val.fishes),
        cfg.steps,
        cfg.batch_size,
        sum(p.numel() for p in params) / 1e6,
        reference["persistence"],
        reference["context_mean"],
    )

    curve, best = [], {"val_mae": math.inf, "step": 0, "state": None}
    start = time.time()
    order = batches(train, cfg.batch_size, cfg.seed)
    model.train()
    for step in tqdm(range(1, cfg.steps + 1), disable=not progress, desc="train POCO", unit="step"):
        inputs, target, mask = batch_inputs(train, next(order), device)
        loss = masked_bce(model(*inputs)[:, None], target[:, None], mask)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite POCO training loss at step {step}: lower poco.train.lr")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.clip > 0:
            torch.nn.utils.clip_grad_norm_(params, cfg.clip)
        optimizer.step()
        if step % cfg.val_every == 0 or step == cfg.steps:
            model.eval()
            mae = windows_mae(poco_forecaster(model), val, val_idx, cfg.batch_size, device)
            model.train()
            curve.append({"step": step, "val_mae": mae, "train_loss": loss.item()})
            if mae < best["val_mae"]:
                best = {"val_mae": mae, "step": step, "state": copy.deepcopy(model.state_dict())}
            log.info(
                "step %d/%d: train loss %.5f, validation MAE %.5f (best %.5f at step %d), %.1f s",
                step,
                cfg.steps,
                loss.item(),
                mae,
                best["val_mae"],
                best["step"],
                time.time() - start,
            )
    if best["state"] is None:  # every validation MAE was NaN
        raise FloatingPointError("no validation of POCO gave a finite MAE: lower poco.train.lr")
    model.load_state_dict(best["state"])
    info = {
        "config": asdict(model_cfg),
        "train": asdict(cfg),
        "best_step": best["step"],
        "best_val_mae": best["val_mae"],
        "val_curve": curve,
        "val_reference_mae": reference,
        "train_mean_prob": mean_prob,
        "n_train_fish": len(train.fishes),
        "n_val_fish": len(val.fishes),
        "seconds": round(time.time() - start, 2),
    }
    return model.cpu().eval(), info
