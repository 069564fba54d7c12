"""The Peripheral Neural Model: one behaviour dimension read out of the last few brain states.

For each of the last F frames and each neuron i, a per-neuron MLP reads
  [z_i, Fourier features of xyz_i]
where z_i is the neuron's activity z-scored across the fish's neurons in that frame (so fish with
different overall activity and neuron counts look alike) and the Fourier features place it in the
brain (positions centred and scaled to [-1, 1], sin and cos at octave frequencies per axis). A
masked mean over neurons turns the neuron features into one vector per frame, invariant to neuron
order and count; a temporal MLP over the F vectors gives the behaviour. Training fits its linear
output (forward) with an L1 loss to targets in [0, 1]; everything downstream reads that output
clipped to [0, 1], the range behaviour lives in. A sigmoid head instead saturates at 0
under the L1 loss on sparse targets and stops learning (forward swims on the synthetic validation
fish: r 0.23 with a sigmoid, 0.43 without, same steps).

Shapes: B samples, F frames, N neurons (padded, with mask (B, N)), P = 6 * fourier_frequencies.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from sbm.model.saved import load_model, save_model
from sbm.settings import from_dict


@dataclass
class PNMConfig:
    """The config's `pnm.model` section."""

    frames: int = 4  # brain states per behaviour frame: the frame itself and the F - 1 before it
    fourier_frequencies: int = 6  # per axis, sin and cos at pi * 2^k, k < this (finest ~1/64 of the brain)
    neuron_hidden: int = 32  # hidden width of the per-neuron MLP (its cost: N x F x this per sample)
    neuron_features: int = 16  # features per neuron that the mean over neurons pools
    temporal_hidden: int = 64  # hidden width of the temporal MLP
    seed: int = 0  # initial weights

    @classmethod
    def from_dict(cls, d: dict) -> "PNMConfig":
        return from_dict(cls, d, "pnm.model")


def fourier_features(xyz: torch.Tensor, n_frequencies: int) -> torch.Tensor:
    """(..., 3) positions in [-1, 1] -> (..., 6 n): sin and cos of pi 2^k x for each axis and k."""
    freqs = math.pi * 2.0 ** torch.arange(n_frequencies, dtype=xyz.dtype, device=xyz.device)
    angles = (xyz[..., None] * freqs).flatten(-2)  # (..., 3 n)
    return torch.cat((angles.sin(), angles.cos()), dim=-1)


def zscore_across_neurons(prob: torch.Tensor, mask: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """prob (B, F, N) -> z-scores over the real neurons of each frame; padding stays 0."""
    m = mask[:, None, :].to(prob.dtype)
    n = m.sum(dim=-1, keepdim=True)
    mean = (prob * m).sum(dim=-1, keepdim=True) / n
    var = (((prob - mean) * m) ** 2).sum(dim=-1, keepdim=True) / n
    return (prob - mean) / (var + eps).sqrt() * m


class PNM(nn.Module):
    def __init__(self, cfg: PNMConfig):
        super().__init__()
        self.cfg = cfg
        with torch.random.fork_rng():  # seeded initial weights, the caller's random state untouched
            torch.manual_seed(cfg.seed)
            self._build(cfg)

    def _build(self, cfg: PNMConfig):
        n_fourier = 6 * cfg.fourier_frequencies
        # The first layer of the per-neuron MLP, split: its position part is the same in every
        # frame, so it is computed once per neuron instead of once per neuron and frame.
        self.activity_in = nn.Linear(1, cfg.neuron_hidden)
        self.position_in = nn.Linear(n_fourier, cfg.neuron_hidden, bias=False)
        self.neuron_out = nn.Linear(cfg.neuron_hidden, cfg.neuron_features)
        self.temporal = nn.Sequential(
            nn.Linear(cfg.frames * cfg.neuron_features, cfg.temporal_hidden),
            nn.GELU(),
            nn.Linear(cfg.temporal_hidden, 1),
        )

    def pooled(self, prob: torch.Tensor, xyz: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, F, neuron_features): the per-neuron MLP averaged over each sample's real neurons."""
        z = zscore_across_neurons(prob, mask)
        position = self.position_in(fourier_features(xyz, self.cfg.fourier_frequencies))  # (B, N, hidden)
        hidden = F.gelu(self.activity_in(z[..., None]) + position[:, None])  # (B, F, N, hidden)
        features = self.neuron_out(hidden)  # (B, F, N, features)
        m = mask[:, None, :, None].to(features.dtype)
        return (features * m).sum(dim=2) / m.sum(dim=2)

    def forward(self, prob: torch.Tensor, xyz: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """prob (B, F, N) the brain states of frames t - F + 1 .. t; xyz (B, N, 3); mask (B, N)
        True for real neurons. Returns the linear readout of the behaviour at t, (B,)."""
        if prob.shape[1] != self.cfg.frames:
            raise ValueError(f"the PNM reads {self.cfg.frames} frames, got {prob.shape[1]}")
        return self.head(self.pooled(prob, xyz, mask))

    def head(self, pooled: torch.Tensor) -> torch.Tensor:
        """(B, F, neuron_features) pooled frames -> (B,) linear readout."""
        return self.temporal(pooled.flatten(1)).squeeze(-1)

    @torch.no_grad()
    def series(self, prob: torch.Tensor, xyz: torch.Tensor, chunk: int = 16) -> torch.Tensor:
        """The behaviour (clipped to [0, 1]) at every frame of one recording, prob (T, N), xyz (N, 3):
        (T,), NaN for the first F - 1 frames (too little history). Each frame is pooled once, not F times."""
        N, n_frames = prob.shape[1], self.cfg.frames
        pooled = []
        for block in prob.split(chunk):  # each frame a sample of one frame
            B = len(block)
            pooled.append(self.pooled(block[:, None], xyz.expand(B, N, 3), torch.ones(B, N, dtype=torch.bool))[:, 0])
        pooled = torch.cat(pooled)  # (T, features)
        windows = pooled.unfold(0, n_frames, 1).transpose(
            1, 2
        )  # (T - F + 1, F, features): frames t - F + 1 .. t, F = n_frames
        return torch.cat((torch.full((n_frames - 1,), float("nan")), self.head(windows).clamp(0, 1)))


def save_pnm(model: PNM, path, **extra) -> None:
    """Weights (random buffers included) + config + whatever the caller adds (sbm.model.saved)."""
    save_model(model, path, **extra)


def load_pnm(path, map_location="cpu") -> tuple[PNM, dict]:
    model, state = load_model(path, lambda config: PNM(PNMConfig(**config)), map_location)
    return model.eval(), state
