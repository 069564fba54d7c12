"""Baseline forecasters of the next frame, fitted on the training fish, selected on the validation fish.

Both read one neuron at a time (the style of the ZAPBench / POCO per-neuron baselines): the
neuron's own `context` last probabilities and the stimulus of the forecast frame, with weights
shared by every neuron, so they transfer to a held-out fish whose neurons they have never seen.
  ridge: a linear autoregressive model, closed-form ridge; the penalty chosen on the validation fish.
  mlp:   a small MLP (two hidden layers, SiLU, sigmoid output, BCE), trained with AdamW; the
         step with the best validation MAE is kept.

Shapes: windows (B, C+1, N) -> features (B*N, C + K), targets (B*N,).
"""

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from sbm.data.windows import Windows, collate, spaced_windows
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


def features(prob: torch.Tensor, stimulus: torch.Tensor, mask: torch.Tensor):
    """(x, y) of every real neuron of every window: x = its context and the forecast frame's stimulus."""
    B, C1, N = prob.shape
    context = prob[:, :-1].transpose(1, 2)  # (B, N, C)
    stim = stimulus[:, -1][:, None, :].expand(B, N, stimulus.shape[-1])  # (B, N, K)
    x = torch.cat((context, stim), dim=-1)[mask]  # (real neurons, C + K)
    return x, prob[:, -1][mask]


def sample(windows: Windows, cfg: ForecasterConfig, seed: int):
    """Features of `cfg.windows` evenly spaced windows, `neurons_per_window` random neurons each."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for i in spaced_windows(windows, cfg.windows):
        batch = collate([windows[i]])
        x, y = features(batch["prob"], batch["stimulus"], batch["mask"])
        keep = rng.choice(len(y), min(len(y), cfg.neurons_per_window), replace=False)
        xs.append(x[keep])
        ys.append(y[keep])
    return torch.cat(xs).double(), torch.cat(ys).double()


class MLP(nn.Module):
    def __init__(self, n_in: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1))

    def forward(self, x):
        return self.net(x).squeeze(-1)


class Forecasters:
    """The fitted baselines: `predict(prob, stimulus, mask)` gives each one's forecast of the last frame."""

    def __init__(self, ridge: torch.Tensor, mlp: MLP, info: dict):
        self.ridge, self.mlp, self.info = ridge, mlp, info

    def predict(self, prob: torch.Tensor, stimulus: torch.Tensor, mask: torch.Tensor, names=("ridge", "mlp")) -> dict:
        """Forecasts (B, N) of frame C from windows (B, C+1, N) (the last frame is not read)."""
        x, _ = features(prob, stimulus, mask)
        out = {}
        with torch.no_grad():
            if "ridge" in names:
                out["ridge"] = (add_bias(x.double()) @ self.ridge).clamp(0, 1).float()
            if "mlp" in names:
                out["mlp"] = torch.sigmoid(self.mlp(x.float()))
        return {name: torch.zeros(mask.shape, dtype=v.dtype).masked_scatter(mask, v) for name, v in out.items()}

    def state(self) -> dict:
        return {"ridge": self.ridge, "mlp": self.mlp.state_dict(), "info": self.info}

    @classmethod
    def from_state(cls, state: dict) -> "Forecasters":
        n_in, hidden = state["info"]["n_features"], state["info"]["config"]["hidden"]
        mlp = MLP(n_in, hidden)
        mlp.load_state_dict(state["mlp"])
        return cls(state["ridge"], mlp.eval(), state["info"])


def add_bias(x: torch.Tensor) -> torch.Tensor:
    return torch.cat((x, torch.ones(len(x), 1, dtype=x.dtype)), dim=1)


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
    info = {"config": asdict(cfg), "n_features": x.shape[1], "context": train.context, "train_samples": len(y),
            "val_samples": len(y_val), "ridge": ridge_info, "mlp": mlp_info}
    return Forecasters(ridge, mlp, info)
