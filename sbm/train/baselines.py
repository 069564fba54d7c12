"""Fitting the per-neuron baseline forecasters (sbm.model.baselines) on the training fish, with
their penalty (ridge) and step (MLP) chosen on the validation fish.
  ridge: closed-form, the penalty with the best validation MAE;
  mlp:   AdamW on the binary cross-entropy; the step with the best validation MAE is kept.
"""

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from sbm.data.windows import Windows, collate, spaced_windows, window
from sbm.model.baselines import MLP, Forecasters, add_bias, features
from sbm.settings import from_dict


@dataclass
class ForecasterConfig:
    """The config's `baselines` section."""

    windows: int = 400  # evenly spaced windows per fish set (train, validation) to fit on
    neurons_per_window: int = 256  # neurons sampled from each window
    ridge_alphas: tuple = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)  # penalties tried (per sample; features lie in [0, 1])
    hidden: int = 64
    steps: int = 1500
    batch: int = 1024
    lr: float = 3e-3
    seed: int = 0

    @classmethod
    def from_dict(cls, d: dict) -> "ForecasterConfig":
        return from_dict(cls, d, "baselines")


def sample(windows: Windows, cfg: ForecasterConfig, seed: int):
    """Features and targets of `cfg.windows` evenly spaced windows, `neurons_per_window` random
    neurons each: (x (samples, C + K), y (samples,)) in float64."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    C = windows.context
    for i in spaced_windows(windows, cfg.windows):
        batch = collate([windows[i]])
        prob, stimulus = window(batch["prob"], batch["stimulus"], 0, C)
        x, y = features(prob, stimulus, batch["mask"]), batch["prob"][:, C][batch["mask"]]
        keep = rng.choice(len(y), min(len(y), cfg.neurons_per_window), replace=False)
        xs.append(x[keep])
        ys.append(y[keep])
    return torch.cat(xs).double(), torch.cat(ys).double()


def fit_ridge(x, y, x_val, y_val, alphas) -> tuple[torch.Tensor, dict]:
    """Closed-form ridge (bias not penalised) for each alpha; keep the best validation MAE."""
    a, a_val = add_bias(x), add_bias(x_val)
    gram, rhs = a.T @ a, a.T @ y
    penalty = torch.eye(a.shape[1], dtype=a.dtype)
    penalty[-1, -1] = 0
    scores = {}
    best = None
    for alpha in alphas:
        w = torch.linalg.solve(gram + alpha * len(y) * penalty, rhs)
        scores[alpha] = float((a_val @ w).clamp(0, 1).sub(y_val).abs().mean())
        if best is None or scores[alpha] < scores[best[0]]:
            best = (alpha, w)
    return best[1], {"alpha": best[0], "val_mae_by_alpha": scores}


def fit_mlp(x, y, x_val, y_val, cfg: ForecasterConfig) -> tuple[MLP, dict]:
    torch.manual_seed(cfg.seed)
    mlp = MLP(x.shape[1], cfg.hidden)
    opt = torch.optim.AdamW(mlp.parameters(), lr=cfg.lr)
    x, y, x_val, y_val = x.float(), y.float(), x_val.float(), y_val.float()
    g = torch.Generator().manual_seed(cfg.seed)
    best = (float("inf"), None, -1)
    for step in range(1, cfg.steps + 1):
        idx = torch.randint(0, len(y), (cfg.batch,), generator=g)
        loss = F.binary_cross_entropy_with_logits(mlp(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == cfg.steps:
            with torch.no_grad():
                mae = float((torch.sigmoid(mlp(x_val)) - y_val).abs().mean())
            if mae < best[0]:
                best = (mae, {k: v.clone() for k, v in mlp.state_dict().items()}, step)
    mlp.load_state_dict(best[1])
    return mlp.eval(), {"val_mae": best[0], "best_step": best[2]}


def fit_forecasters(train: Windows, val: Windows, cfg: ForecasterConfig) -> Forecasters:
    x, y = sample(train, cfg, cfg.seed)
    x_val, y_val = sample(val, cfg, cfg.seed + 1)
    ridge, ridge_info = fit_ridge(x, y, x_val, y_val, cfg.ridge_alphas)
    mlp, mlp_info = fit_mlp(x, y, x_val, y_val, cfg)
    info = {
        "config": asdict(cfg),
        "n_features": x.shape[1],
        "context": train.context,
        "train_samples": len(y),
        "val_samples": len(y_val),
        "ridge": ridge_info,
        "mlp": mlp_info,
    }
    return Forecasters(ridge, mlp, info)
