"""The fitted per-neuron baseline forecasters of the next frame (fitted by sbm.train.baselines).

Both read one neuron at a time (the style of the ZAPBench / POCO per-neuron baselines): the
neuron's own `context` last probabilities and the stimulus of the forecast frame, with weights
shared by every neuron, so they transfer to a held-out fish whose neurons they have never seen.
  ridge: a linear autoregressive model (closed-form ridge), clipped to [0, 1];
  mlp:   a small MLP (two hidden layers, SiLU, sigmoid output).
Each is a forecaster of sbm.model.forecast (`Forecasters.forecaster(name)`).

Shapes: windows (B, C, N) -> features (B*N, C + K).
"""

import torch
import torch.nn as nn

from sbm.model.forecast import Forecaster

NAMES = ("ridge", "mlp")


def features(prob: torch.Tensor, stimulus: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Every real neuron of every window: its context (B, C, N) and the forecast frame's stimulus
    (the last step of `stimulus` (B, C, K)) -> (real neurons, C + K)."""
    B, C, N = prob.shape
    context = prob.transpose(1, 2)  # (B, N, C)
    stim = stimulus[:, -1][:, None, :].expand(B, N, stimulus.shape[-1])  # (B, N, K)
    return torch.cat((context, stim), dim=-1)[mask]


def add_bias(x: torch.Tensor) -> torch.Tensor:
    return torch.cat((x, torch.ones(len(x), 1, dtype=x.dtype)), dim=1)


class MLP(nn.Module):
    def __init__(self, n_in: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1)
        )

    def forward(self, x):
        return self.net(x).squeeze(-1)


class Forecasters:
    """The fitted baselines: the ridge coefficients (context, stimulus, bias), the MLP, and `info`
    (settings, context, chosen penalty, validation MAEs, train and validation fish)."""

    def __init__(self, ridge: torch.Tensor, mlp: MLP, info: dict):
        self.ridge, self.mlp, self.info = ridge, mlp, info

    @torch.no_grad()
    def predict(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Forecasts of `features` rows."""
        if name == "ridge":
            return (add_bias(x.double()) @ self.ridge).clamp(0, 1).float()
        if name == "mlp":
            return torch.sigmoid(self.mlp(x.float()))
        raise ValueError(f"no baseline forecaster {name!r}; there are {NAMES}")

    def forecaster(self, name: str) -> Forecaster:
        """One baseline as a forecaster of sbm.model.forecast."""

        def forecast(prob, xyz, stimulus, mask):
            out = self.predict(name, features(prob, stimulus, mask))
            return torch.zeros(mask.shape, dtype=out.dtype).masked_scatter(mask, out)

        return forecast

    def state(self) -> dict:
        return {"ridge": self.ridge, "mlp": self.mlp.state_dict(), "info": self.info}

    @classmethod
    def from_state(cls, state: dict) -> "Forecasters":
        n_in, hidden = state["info"]["n_features"], state["info"]["config"]["hidden"]
        mlp = MLP(n_in, hidden)
        mlp.load_state_dict(state["mlp"])
        return cls(state["ridge"], mlp.eval(), state["info"])
