"""Causal spike inference: a small 1-D convolutional network per noise band, as an ensemble.

CASCADE (Rupprecht et al. 2021) trains a 1-D CNN per noise level on ground truth resampled to the
target frame rate and reads 32 frames on each side of the frame it estimates. Ours reads frames
<= t + lookahead only (lookahead 0 by default): a forecasting target must not contain the future.
At ~2 Hz most of a spike's fluorescence arrives in the next frame, so a strictly causal estimate
is about a frame late; `lookahead=1` is a labelled option that trades one frame of the future for
that latency, never the default for forecasting targets.

Shapes: dff (B, T) -> expected spikes per frame (B, T).
"""

import logging
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from sbm.settings import from_dict
from sbm.spikes.ground_truth import FrameTrace
from sbm.spikes.metrics import causal_smooth

log = logging.getLogger(__name__)
METHOD = "causal-cnn-ensemble"


@dataclass
class SpikeNetConfig:
    """Settings of the inference network and its training; the config's `spikes.model` section."""

    channels: int = 32
    kernel: int = 3
    # Receptive field 1 + (kernel-1) * sum(dilations) = 9 frames (~4 s at 2 Hz). Longer fields
    # (30 s) generalised worse across ground-truth datasets (benchmarks/HISTORY.md).
    dilations: tuple = (1, 2, 1)
    lookahead: int = 0  # future frames the network may read (0: strictly causal)
    ensemble: int = 3  # networks per noise band, averaged
    steps: int = 800  # optimiser steps per network
    batch: int = 64  # windows per step
    window: int = 64  # frames per training window that carry loss (plus a warm-up of one receptive field)
    lr: float = 2e-3
    target_smoothing_s: float = 0.2  # causal half-Gaussian on the spike-count targets
    seed: int = 0

    @classmethod
    def from_dict(cls, d: dict) -> "SpikeNetConfig":
        return from_dict(cls, d, "spike-model")

    @property
    def receptive_field(self) -> int:
        return 1 + (self.kernel - 1) * sum(self.dilations)


class SpikeNet(nn.Module):
    """Dilated causal convolutions: the output at t sees frames t - receptive_field + 1 .. t + lookahead."""

    def __init__(self, cfg: SpikeNetConfig):
        super().__init__()
        self.cfg = cfg
        chans = [1] + [cfg.channels] * len(cfg.dilations)
        self.convs = nn.ModuleList(
            nn.Conv1d(cin, cout, cfg.kernel, dilation=d) for cin, cout, d in zip(chans[:-1], chans[1:], cfg.dilations)
        )
        self.head = nn.Conv1d(cfg.channels, 1, 1)

    def forward(self, dff: torch.Tensor) -> torch.Tensor:
        x = dff[:, None, :]  # (B, 1, T)
        if self.cfg.lookahead:
            # Read `lookahead` frames ahead: shift left; the last frames repeat the final value.
            x = torch.cat([x[..., self.cfg.lookahead :], x[..., -1:].expand(-1, -1, self.cfg.lookahead)], dim=-1)
        for conv in self.convs:
            # Pad on the left only, with the first value, so no output reads a later frame.
            pad = (conv.kernel_size[0] - 1) * conv.dilation[0]
            x = F.gelu(conv(F.pad(x, (pad, 0), mode="replicate")))
        return F.softplus(self.head(x))[:, 0]  # (B, T) expected spikes per frame, >= 0


def _windows(dffs: list[np.ndarray], targets: list[np.ndarray], length: int, batch: int, rng: np.random.Generator):
    """A batch of random windows (B, length) of DF/F and targets, traces weighted by length."""
    weights = np.array([len(d) - length + 1 for d in dffs], float)
    pick = rng.choice(len(dffs), size=batch, p=weights / weights.sum())
    x = np.empty((batch, length), np.float32)
    y = np.empty((batch, length), np.float32)
    for b, i in enumerate(pick):
        s = rng.integers(0, len(dffs[i]) - length + 1)
        x[b] = dffs[i][s : s + length]
        y[b] = targets[i][s : s + length]
    return torch.from_numpy(x), torch.from_numpy(y)


def train_net(traces: list[FrameTrace], cfg: SpikeNetConfig, fps: float, seed: int, desc: str = "") -> SpikeNet:
    """One network trained with Adam on MSE between its output and the smoothed spike counts;
    `desc` labels its progress bar (on stderr: the rule's log)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = SpikeNet(cfg)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.1)
    warm = cfg.receptive_field  # frames that only give context: no loss on them
    traces = [t for t in traces if len(t.dff) >= warm + cfg.window]
    dffs = [t.dff for t in traces]
    targets = [causal_smooth(t.counts, cfg.target_smoothing_s * fps).astype(np.float32) for t in traces]
    for _ in tqdm(range(cfg.steps), desc=desc or "spike network", unit="step", mininterval=10):
        x, y = _windows(dffs, targets, warm + cfg.window, cfg.batch, rng)
        loss = F.mse_loss(net(x)[:, warm:], y[:, warm:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return net.eval()


@dataclass
class SpikeModel:
    """Ensembles of SpikeNets, one per noise band, for one frame rate."""

    fps: float
    band_edges: list  # noise-level band edges, increasing; band b is [edges[b], edges[b+1])
    cfg: SpikeNetConfig
    nets: dict = field(default_factory=dict)  # band index -> list of SpikeNet
    info: dict = field(default_factory=dict)  # provenance: ground truth, traces per band
    method: str = METHOD

    @property
    def lookahead(self) -> int:
        return self.cfg.lookahead

    @property
    def n_bands(self) -> int:
        return len(self.band_edges) - 1

    def band_of(self, noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Band index of each noise level, and whether it lay outside every band (then the
        nearest trained band is used)."""
        noise = np.asarray(noise, float)
        raw = np.searchsorted(self.band_edges, noise, side="right") - 1
        outside = (raw < 0) | (raw >= self.n_bands) | ~np.isfinite(noise)
        # Neurons outside every band, or in a band without networks, go to the nearest trained one.
        trained = np.array(sorted(self.nets))
        centre = np.array([(self.band_edges[b] + self.band_edges[b + 1]) / 2 for b in trained])
        level = np.where(np.isfinite(noise), noise, 0.0)
        nearest = trained[np.argmin(np.abs(level[:, None] - centre[None, :]), axis=1)]
        return np.where(np.isin(raw, trained), raw, nearest), outside

    @torch.no_grad()
    def infer(self, dff: np.ndarray, noise: np.ndarray, block: int = 2048) -> np.ndarray:
        """Expected spikes per frame (T, n) for DF/F (T, n) whose noise levels are `noise` (n,)."""
        T, n = dff.shape
        band, _ = self.band_of(noise)
        out = np.empty((T, n), np.float32)
        for b in np.unique(band):
            cols = np.flatnonzero(band == b)
            for s in range(0, len(cols), block):
                c = cols[s : s + block]
                x = torch.from_numpy(np.ascontiguousarray(dff[:, c].T, dtype=np.float32))
                out[:, c] = torch.stack([net(x) for net in self.nets[b]]).mean(0).T.numpy()
        return out

    @torch.no_grad()
    def floor(self) -> float:
        """P(spike) of a frame whose DF/F has sat still at 0 for a receptive field: the largest
        over the noise bands."""
        flat = torch.zeros(1, self.cfg.receptive_field)
        lam = max(float(torch.stack([net(flat) for net in nets]).mean(0)[0, -1]) for nets in self.nets.values())
        return float(-np.expm1(-lam))

    def infer_with_parameters(self, dff: np.ndarray, noise: np.ndarray) -> tuple[np.ndarray, dict]:
        """Expected spikes per frame, and no per-neuron parameters beyond the noise band, which
        the stage records."""
        return self.infer(dff, noise), {}

    def state(self) -> dict:
        return {
            "method": self.method,
            "fps": self.fps,
            "band_edges": list(self.band_edges),
            "cfg": asdict(self.cfg),
            "nets": {b: [net.state_dict() for net in nets] for b, nets in self.nets.items()},
            "info": self.info,
        }

    @classmethod
    def from_state(cls, state: dict) -> "SpikeModel":
        cfg = SpikeNetConfig.from_dict(state["cfg"])
        model = cls(state["fps"], state["band_edges"], cfg, info=state["info"])
        for b, dicts in state["nets"].items():
            model.nets[int(b)] = []
            for d in dicts:
                net = SpikeNet(cfg)
                net.load_state_dict(d)
                model.nets[int(b)].append(net.eval())
        return model


def train_model(traces: list[FrameTrace], fps: float, band_edges: list, cfg: SpikeNetConfig) -> SpikeModel:
    """Route every training trace to the band of its measured noise level and train an ensemble
    per band that has enough data."""
    model = SpikeModel(fps, list(band_edges), cfg)
    need = cfg.receptive_field + cfg.window
    per_band = {}
    for b in range(model.n_bands):
        members = [t for t in traces if band_edges[b] <= t.noise < band_edges[b + 1] and len(t.dff) >= need]
        per_band[b] = len(members)
        if sum(len(t.dff) for t in members) < 20 * need:
            log.warning(
                "noise band %s-%s: too little ground truth (%d traces), no network",
                band_edges[b],
                band_edges[b + 1],
                len(members),
            )
            continue
        log.info(
            "noise band %s-%s (%d of %d): %d traces, training %d networks",
            band_edges[b],
            band_edges[b + 1],
            b + 1,
            model.n_bands,
            len(members),
            cfg.ensemble,
        )
        model.nets[b] = [
            train_net(members, cfg, fps, seed=cfg.seed + 1000 * b + e, desc=f"band {b + 1}/{model.n_bands} net {e + 1}")
            for e in range(cfg.ensemble)
        ]
    if not model.nets:
        raise ValueError(f"no noise band had enough ground truth to train on ({per_band})")
    model.info["traces_per_band"] = per_band
    return model
