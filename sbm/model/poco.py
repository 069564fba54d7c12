"""POCO, a population-conditioned forecaster (Duan et al. 2025, arXiv 2506.14957), as a peer of the SBM.

Two parts (shapes: B windows, C context frames, N neurons (padded), K stimulus columns, D d_model,
L latents, Hd the MLP's hidden width):
  per-neuron MLP     each neuron's own context (C) and the forecast frame's stimulus (K) -> hidden
                     (Hd) -> FiLM -> GELU -> one logit; weights shared by every neuron, so on its
                     own it is the per-neuron MLP baseline (sbm.model.baselines);
  population encoder a POYO-style Perceiver giving every neuron its FiLM scale and shift:
                     tokens   one per neuron, RMSNorm(Linear(its context)) + its unit embedding,
                              and one stimulus token (the forecast frame's stimulus);
                     latents  L learned vectors cross-attend to all tokens (padded neurons masked
                              out of the keys), then self-attention layers run over the latents;
                     queries  each neuron's unit embedding cross-attends to the latents, and a
                              linear head gives (gamma, beta) (B, N, 2 Hd); the hidden layer becomes
                              h * (1 + gamma) + beta.
The FiLM head starts at zero, so a fresh model is exactly the per-neuron MLP and the population
enters only as training finds it useful.

Deviations from the paper:
  - Unit embeddings: the paper learns one embedding per neuron (a table). We forecast held-out fish
    whose neurons were never seen, so a neuron's unit embedding is a learned function of its
    normalised 3-D position: Linear([xyz, sin(xyz . w_f), cos(xyz . w_f)]) with w_f random unit
    directions scaled by log-spaced frequencies (fixed buffers, saved with the weights). No session
    embedding, for the same reason.
  - One token per neuron holding its whole context window (the paper cuts longer traces into
    several tokens with rotary time positions); our context is short (~12 frames).
  - The stimulus (which the paper's data lack) enters twice: as inputs of the per-neuron MLP and
    as an extra token the latents read, so the population state can depend on it too.
  - One step ahead, logits trained with binary cross-entropy against spike probabilities (the
    paper predicts several steps of normalised fluorescence with MSE).
"""

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from sbm.model.forecast import Forecaster
from sbm.model.saved import load_model, save_model
from sbm.model.sbm import SwiGLU
from sbm.settings import from_dict


@dataclass
class POCOConfig:
    """The model; the config's `poco.model` section (n_stimuli and context come from the data)."""

    n_stimuli: int = 0  # width of the stimulus one-hot (the dataset's vocabulary)
    context: int = 12  # frames the model reads (the windows' context)
    d_model: int = 64  # width of tokens and latents
    n_heads: int = 4
    n_latents: int = 16  # learned latents that summarise the population
    n_latent_layers: int = 2  # self-attention layers over the latents
    mlp_hidden: int = 128  # hidden width of the per-neuron MLP (and of each of gamma, beta)
    # Position features of the unit embedding: random directions with frequencies log-spaced
    # from whole-brain gradients to neighbouring cells (positions span [-1, 1] on the longest axis).
    n_freqs: int = 16
    freq_min: float = 1.0
    freq_max: float = 100.0
    seed: int = 0  # seeds the random position directions

    @classmethod
    def from_dict(cls, d: dict) -> "POCOConfig":
        return from_dict(cls, d, "poco.model")

    def __post_init__(self):
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} must split into {self.n_heads} heads")


class Attention(nn.Module):
    """Multi-head attention of queries x (B, Q, D) over a context (B, S, D); key_mask (B, S) True
    for keys that may be read."""

    def __init__(self, d: int, n_heads: int):
        super().__init__()
        self.n_heads = n_heads
        self.q = nn.Linear(d, d, bias=False)
        self.kv = nn.Linear(d, 2 * d, bias=False)
        self.out = nn.Linear(d, d, bias=False)

    def forward(self, x: torch.Tensor, context: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        (B, Q, D), S, H = x.shape, context.shape[1], self.n_heads
        q = self.q(x).view(B, Q, H, D // H).transpose(1, 2)  # (B, H, Q, E)
        k, v = self.kv(context).view(B, S, 2, H, D // H).permute(2, 0, 3, 1, 4)  # each (B, H, S, E)
        mask = None if key_mask is None else key_mask[:, None, None, :]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out(y.transpose(1, 2).reshape(B, Q, D))


class CrossBlock(nn.Module):
    """Pre-norm cross-attention of x over a context, then a feed-forward layer (both residual)."""

    def __init__(self, d: int, n_heads: int):
        super().__init__()
        self.norm_x, self.norm_context, self.norm_ffn = nn.RMSNorm(d), nn.RMSNorm(d), nn.RMSNorm(d)
        self.attn = Attention(d, n_heads)
        self.ffn = SwiGLU(d, 2 * d)

    def forward(self, x, context, key_mask=None):
        x = x + self.attn(self.norm_x(x), self.norm_context(context), key_mask)
        return x + self.ffn(self.norm_ffn(x))


class SelfBlock(CrossBlock):
    def forward(self, x):
        return super().forward(x, x)


class UnitEmbedding(nn.Module):
    """A neuron's unit embedding from its normalised position (B, N, 3) -> (B, N, D): the learned
    per-neuron table of the paper cannot embed a held-out fish's neurons; a function of position can."""

    def __init__(self, cfg: POCOConfig, generator: torch.Generator):
        super().__init__()
        directions = F.normalize(torch.randn(cfg.n_freqs, 3, generator=generator), dim=-1)
        freqs = torch.logspace(math.log10(cfg.freq_min), math.log10(cfg.freq_max), cfg.n_freqs)
        self.register_buffer("basis", directions * freqs[:, None])  # (F, 3); random, hence saved
        self.proj = nn.Linear(3 + 2 * cfg.n_freqs, cfg.d_model)

    def forward(self, xyz: torch.Tensor) -> torch.Tensor:
        phase = xyz @ self.basis.T  # (B, N, F)
        return self.proj(torch.cat((xyz, phase.sin(), phase.cos()), dim=-1))


class POCO(nn.Module):
    def __init__(self, cfg: POCOConfig):
        super().__init__()
        self.cfg = cfg
        D, K = cfg.d_model, max(cfg.n_stimuli, 1)  # K = 1 of zeros when the data have no stimulus
        # Per-neuron MLP.
        self.mlp_in = nn.Linear(cfg.context + K, cfg.mlp_hidden)
        self.mlp_out = nn.Linear(cfg.mlp_hidden, 1)
        # Population encoder.
        self.unit = UnitEmbedding(cfg, torch.Generator().manual_seed(cfg.seed))
        self.context_embed = nn.Linear(cfg.context, D)
        self.context_norm = nn.RMSNorm(D)
        self.stimulus_embed = nn.Linear(K, D)
        self.stimulus_norm = nn.RMSNorm(D)
        self.latents = nn.Parameter(torch.randn(cfg.n_latents, D) * 0.02)
        self.read = CrossBlock(D, cfg.n_heads)  # latents <- neuron and stimulus tokens
        self.process = nn.ModuleList(SelfBlock(D, cfg.n_heads) for _ in range(cfg.n_latent_layers))
        self.query = CrossBlock(D, cfg.n_heads)  # unit embeddings <- latents
        self.film_norm = nn.RMSNorm(D)
        self.film = nn.Linear(D, 2 * cfg.mlp_hidden)
        nn.init.zeros_(self.film.weight)  # start as the plain per-neuron MLP (gamma = beta = 0)
        nn.init.zeros_(self.film.bias)

    def forward(
        self, prob: torch.Tensor, xyz: torch.Tensor, stimulus: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """prob (B, C, N) in [0, 1] of frames s .. s + C - 1; xyz (B, N, 3) normalised positions;
        stimulus (B, C, K) of frames s + 1 .. s + C (sbm.model.forecast); mask (B, N) True for real
        neurons. Returns logits (B, N) of the frame s + C."""
        B, C, N = prob.shape
        if C != self.cfg.context:
            raise ValueError(f"POCO reads windows of {self.cfg.context} frames, not {C}")
        context = prob.transpose(1, 2)  # (B, N, C): each neuron's own trace
        stim = stimulus[:, -1] if self.cfg.n_stimuli else stimulus.new_zeros(B, 1)  # (B, K): the forecast frame's
        unit = self.unit(xyz)  # (B, N, D)

        # Population encoder -> FiLM parameters of every neuron.
        tokens = torch.cat(
            (
                self.stimulus_norm(self.stimulus_embed(stim))[:, None],  # (B, 1, D), always readable
                self.context_norm(self.context_embed(context)) + unit,  # (B, N, D)
            ),
            dim=1,
        )
        keys = torch.cat((mask.new_ones(B, 1), mask), dim=1)  # padded neurons are never read
        latents = self.read(self.latents.expand(B, -1, -1), tokens, keys)
        for block in self.process:
            latents = block(latents)
        gamma, beta = self.film(self.film_norm(self.query(unit, latents))).chunk(2, dim=-1)  # (B, N, Hd) each

        # Per-neuron MLP, its hidden layer modulated by the population.
        h = self.mlp_in(torch.cat((context, stim[:, None].expand(B, N, stim.shape[-1])), dim=-1))
        return self.mlp_out(F.gelu(h * (1 + gamma) + beta)).squeeze(-1)


def poco_forecaster(model: POCO) -> Forecaster:
    """POCO as a forecaster of sbm.model.forecast (gradients flow if enabled)."""

    def forecast(prob, xyz, stimulus, mask):
        return torch.sigmoid(model(prob, xyz, stimulus, mask))

    return forecast


def save_poco(model: POCO, path, **extra) -> None:
    """Weights (random buffers included) + config + whatever the caller adds (sbm.model.saved)."""
    save_model(model, path, **extra)


def load_poco(path, map_location="cpu") -> tuple[POCO, dict]:
    model, state = load_model(path, lambda config: POCO(POCOConfig(**config)), map_location)
    return model.eval(), state
