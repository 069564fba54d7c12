"""The fitted baseline forecasters of the next frame (fitted by sbm.train.baselines).

Every one forecasts one neuron at a time from a row of features, with weights shared by every
neuron, so it transfers to a held-out fish whose neurons it has never seen (the style of the
ZAPBench / POCO per-neuron baselines). The features always hold the neuron's own `context` last
probabilities and the stimulus of the forecast frame; what else a forecaster reads:
  ridge             nothing: a linear autoregressive model (closed-form ridge), clipped to [0, 1];
  mlp               nothing: a small MLP (two hidden layers, SiLU, sigmoid output);
  ridge_neighbours  the mean context of its k nearest neighbours in space (other neurons);
  ridge_pca         the part of its context that the window's leading principal components
                    (temporal, over all neurons) explain, and the mean context of all neurons;
  ceiling           an oracle, simulated fish only: reads the true probability of a spike of its
                    true population (the mean over that population's neurons) over the context
                    frames, and is fitted to the true probabilities of the training fish. Whatever
                    a whole-brain model could learn about the population a neuron belongs to, it
                    cannot know more than this: the ceiling of the scores against the truth.
  ceiling_inferred_targets  the same inputs, fitted to the inferred probabilities like every other
                    forecaster: the best that perfect knowledge of the populations buys a
                    forecaster trained on the recording (the gap to the ceiling is what the spike
                    inference's errors cost).
Each is a forecaster of sbm.model.forecast (`Forecasters.forecaster(name)`).

Shapes: windows (B, C, N) -> features (real neurons, F).
"""

from functools import lru_cache

import numpy as np
import torch
import torch.nn as nn
from scipy.spatial import cKDTree

from sbm.model.forecast import Forecaster

RIDGES = ("ridge", "ridge_neighbours", "ridge_pca")
NAMES = ("ridge", "mlp", "ridge_neighbours", "ridge_pca")  # read the recording only
ORACLES = ("ceiling", "ceiling_inferred_targets")  # read the simulator's truth


def own(prob: torch.Tensor, stimulus: torch.Tensor) -> torch.Tensor:
    """(B, N, C + K): each neuron's context (B, C, N) and the forecast frame's stimulus (the last
    step of `stimulus` (B, C, K))."""
    B, C, N = prob.shape
    stim = stimulus[:, -1][:, None, :].expand(B, N, stimulus.shape[-1])
    return torch.cat((prob.transpose(1, 2), stim), dim=-1)


@lru_cache(maxsize=16)
def nearest(points: bytes, k: int) -> torch.Tensor:
    """(n, k) indices of each point's k nearest other points, nearest first; `points` the bytes of
    an (n, 3) float64 array. Cached: every window of a fish shares its positions, and a tree over a
    whole brain (80,000 neurons) takes a good fraction of a second to build and query."""
    xyz = np.frombuffer(points, dtype=np.float64).reshape(-1, 3)
    _, idx = cKDTree(xyz).query(xyz, k=k + 1)
    return torch.from_numpy(idx[:, 1:].astype(np.int64))  # itself dropped


def neighbour_context(prob: torch.Tensor, xyz: torch.Tensor, mask: torch.Tensor, k: int) -> torch.Tensor:
    """(B, N, C): the mean context of each neuron's k nearest real neighbours in space (itself
    excluded). A batch pads its fish at the end, so a fish's real neurons come first."""
    B, C, N = prob.shape
    out = torch.zeros(B, N, C, dtype=prob.dtype)
    for b in range(B):
        n = int(mask[b].sum())
        if n < 2:
            continue
        idx = nearest(xyz[b, :n].double().numpy().tobytes(), min(k, n - 1))
        out[b, :n] = prob[b, :, :n].T[idx].mean(dim=1)
    return out


def principal_context(prob: torch.Tensor, mask: torch.Tensor, components: int) -> torch.Tensor:
    """(B, N, C + C): each neuron's context projected on the window's `components` leading
    temporal principal components (over its fish's real neurons; sign-free, so weights fitted on
    one fish mean the same on another), and the mean context of all real neurons."""
    B, C, N = prob.shape
    m = mask[:, None, :].to(prob.dtype)
    n = m.sum(dim=2, keepdim=True)
    centred = (prob - prob.mean(dim=1, keepdim=True)) * m  # each neuron about its own mean
    gram = centred.double() @ centred.double().transpose(1, 2)  # (B, C, C)
    _, vectors = torch.linalg.eigh(gram)
    lead = vectors[:, :, -components:].to(prob.dtype)  # (B, C, k), the largest eigenvalues last
    projected = lead @ (lead.transpose(1, 2) @ centred) + prob.mean(dim=1, keepdim=True)  # (B, C, N)
    population = ((prob * m).sum(dim=2, keepdim=True) / n).expand(B, C, N)
    return torch.cat((projected, population), dim=1).transpose(1, 2)


def population_truth(stimulus: torch.Tensor, population: torch.Tensor, n_stimuli: int) -> torch.Tensor:
    """(B, N, C): each neuron's population's true probability over the context frames, from the
    columns after the first n_stimuli of the oracle's stimulus (sbm.eval.truth.population_context)."""
    truth = stimulus[:, :, n_stimuli:]  # (B, C, P)
    B, C, _ = truth.shape
    return torch.gather(truth, 2, population[:, None, :].expand(B, C, -1)).transpose(1, 2)


def features(
    name: str,
    prob: torch.Tensor,
    xyz: torch.Tensor,
    stimulus: torch.Tensor,
    mask: torch.Tensor,
    settings: dict,
    population: torch.Tensor | None = None,
) -> torch.Tensor:
    """The feature rows (real neurons, F) forecaster `name` reads from a window. `settings`:
    n_stimuli (K; the oracle's stimulus has its truth columns after them), neighbours, components.
    `population` (B, N): each neuron's true population, for the ceiling only."""
    K = settings["n_stimuli"]
    parts = [own(prob, stimulus[..., :K])]
    if name == "ridge_neighbours":
        parts.append(neighbour_context(prob, xyz, mask, settings["neighbours"]))
    elif name == "ridge_pca":
        parts.append(principal_context(prob, mask, settings["components"]))
    elif name in ORACLES:
        if population is None:
            raise ValueError("the ceiling reads the true populations: give `population`")
        parts.append(population_truth(stimulus, population, K))
    elif name not in ("ridge", "mlp"):
        raise ValueError(f"no baseline forecaster {name!r}; there are {NAMES + ORACLES}")
    return torch.cat(parts, dim=-1)[mask]


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
    """The fitted baselines: ridge coefficients per feature set (ridge, ridge_neighbours,
    ridge_pca and, when fitted on simulated fish, the ceilings), the MLP, and `info` (settings,
    context, chosen penalties, validation MAEs, train and validation fish)."""

    def __init__(self, ridges: dict[str, torch.Tensor], mlp: MLP, info: dict):
        self.ridges, self.mlp, self.info = ridges, mlp, info

    @property
    def names(self) -> tuple:
        """The forecasters that read the recording only."""
        return tuple(n for n in NAMES if n == "mlp" or n in self.ridges)

    @torch.no_grad()
    def predict(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Forecasts of `features` rows."""
        if name == "mlp":
            return torch.sigmoid(self.mlp(x.float()))
        if name not in self.ridges:
            raise ValueError(f"no fitted baseline forecaster {name!r}; there are {('mlp',) + tuple(self.ridges)}")
        return (add_bias(x.double()) @ self.ridges[name]).clamp(0, 1).float()

    def forecaster(self, name: str, population: torch.Tensor | None = None) -> Forecaster:
        """One baseline as a forecaster of sbm.model.forecast; the ceilings take each neuron's
        true population (N,) and read the populations' truth from their stimulus's extra columns."""

        def forecast(prob, xyz, stimulus, mask):
            pops = None if population is None else population[None].expand(len(prob), -1)
            out = self.predict(name, features(name, prob, xyz, stimulus, mask, self.info["features"], pops))
            return torch.zeros(mask.shape, dtype=out.dtype).masked_scatter(mask, out)

        return forecast

    def state(self) -> dict:
        return {"ridges": self.ridges, "mlp": self.mlp.state_dict(), "info": self.info}

    @classmethod
    def from_state(cls, state: dict) -> "Forecasters":
        n_in, hidden = state["info"]["n_features"], state["info"]["config"]["hidden"]
        mlp = MLP(n_in, hidden)
        mlp.load_state_dict(state["mlp"])
        return cls(state["ridges"], mlp.eval(), state["info"])
