"""Training one PNM (one behaviour dimension): a plain loop on balanced mini-batches.

L1 loss on targets in [0, 1], AdamW, a linear warm-up over the first 10 % of the steps then a
cosine decay, gradient clipping at 1.0. Batches pair rare high-magnitude frames with typical ones
(sbm.data.behavior.BalancedSampler). Every `val_every` steps the model predicts every frame of
the validation fish; the weights with the best validation Pearson r (the score the evaluation
reports) are kept. A run takes well under a minute on a CPU, so it has no checkpoints to resume:
an interrupted run leaves no output and starts again.
"""

import logging
from dataclasses import asdict, dataclass

import numpy as np
import torch
from tqdm import tqdm

from sbm.data.behavior import BalancedSampler, BehaviorFish, frame_batch, frame_index
from sbm.model.pnm import PNM, PNMConfig
from sbm.settings import from_dict
from sbm.train.sbm import warmup_cosine

log = logging.getLogger(__name__)


@dataclass
class PNMTrainConfig:
    """The config's `pnm.train` section."""

    batch_size: int = 32  # frames per optimiser step
    steps: int = 2000
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup: float = 0.1  # fraction of the steps with a linear learning-rate ramp
    clip: float = 1.0
    high_quantile: float = 0.9  # frames above this quantile of the target are the rare set
    high_fraction: float = 0.5  # share of every batch taken from the rare set
    val_every: int = 100  # steps between validations (and one at the end) on every frame of the validation fish
    seed: int = 0

    @classmethod
    def from_dict(cls, d: dict) -> "PNMTrainConfig":
        return from_dict(cls, d, "pnm.train")


def pearson_r(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two 1-D series; NaN when either is constant (no linear relation to score)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    a, b = a - a.mean(), b - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 0 else float("nan")


def predict_fish(model: PNM, fish: BehaviorFish, states: np.ndarray | None = None) -> np.ndarray:
    """(T,) the model's behaviour at every frame of one fish (NaN where it lacks history) from
    its true brain states, or from `states` (T, N) in their place."""
    model.eval()
    prob = torch.from_numpy(np.asarray(fish.prob if states is None else states, dtype=np.float32))
    return model.series(prob, torch.from_numpy(fish.xyz)).numpy()


def validation_r(model: PNM, fishes: list[BehaviorFish], dim: int) -> float:
    """Pearson r over every frame (with enough history) of the validation fish, pooled."""
    pred = np.concatenate([predict_fish(model, fish) for fish in fishes])
    true = np.concatenate([fish.target[:, dim] for fish in fishes])
    keep = np.isfinite(pred)
    return pearson_r(pred[keep], true[keep])


def train_pnm(
    model_cfg: PNMConfig,
    cfg: PNMTrainConfig,
    train: list[BehaviorFish],
    val: list[BehaviorFish],
    dim: int,
    progress: bool = True,
) -> tuple[PNM, dict]:
    """Train the PNM of behaviour column `dim`; returns the best model and a summary."""
    name = train[0].names[dim]
    index = frame_index(train, model_cfg.frames)
    target = np.array([train[f].target[t, dim] for f, t in index])
    sampler = BalancedSampler(target, cfg.batch_size, cfg.high_quantile, cfg.high_fraction, cfg.seed)

    model = PNM(model_cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(cfg.steps, cfg.warmup))
    best = {"val_r": -np.inf, "step": 0, "state": None}
    history = []
    bar = tqdm(range(1, cfg.steps + 1), disable=not progress, desc=f"PNM {name}", unit="step")
    for step in bar:
        model.train()
        batch = frame_batch(train, index[sampler.batch()], model_cfg.frames)
        loss = (model(batch["prob"], batch["xyz"], batch["mask"]) - batch["target"][:, dim]).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        sched.step()
        if step % cfg.val_every == 0 or step == cfg.steps:
            val_r = validation_r(model, val, dim)
            history.append({"step": step, "train_l1": loss.item(), "val_r": val_r})
            bar.set_postfix(loss=f"{loss.item():.4f}", val_r=f"{val_r:.3f}")
            if val_r > best["val_r"]:  # NaN (a constant prediction) never wins
                best = {"val_r": val_r, "step": step, "state": {k: v.clone() for k, v in model.state_dict().items()}}
    if best["state"] is None:
        raise RuntimeError(f"PNM {name}: every validation gave a constant prediction; no model to keep")
    model.load_state_dict(best["state"])
    log.info("PNM %s: best validation r %.3f at step %d of %d", name, best["val_r"], best["step"], cfg.steps)
    summary = {
        "behavior": name,
        "best_val_r": best["val_r"],
        "best_step": best["step"],
        "history": history,
        "train_frames": len(index),
        "rare_frames": len(sampler.high),
        "train_fish": [f.subject for f in train],
        "val_fish": [f.subject for f in val],
        "train_config": asdict(cfg),
    }
    return model.eval(), summary
