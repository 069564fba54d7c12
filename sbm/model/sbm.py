"""The Sparse Brain Model: forecast every neuron's spike probability at t+1 from frames <= t.

Per time step there are N neuron tokens RMSNorm(W [p_i, xyz_i] + b) and one stimulus token.
Each of L blocks runs, with pre-norm residuals:
  spatial attention  across the tokens of one time step ("dynamic connectome"), with 3-D
                     positions entering as directional rotary features, routed through balanced
                     clusters (cost O(k w^2), linear in N) or dense all-to-all (the reference);
  temporal attention causal, along each token's own history, RoPE over time indices;
  SwiGLU feed-forward.
A decoder (RMSNorm, linear) gives one logit per neuron and step; the loss is binary cross-entropy
against the probability targets over real (unpadded) neurons, in fp32.

Shapes: B windows, T steps, N neurons (padded), S = N + 1 tokens (stimulus token first),
D d_model, H heads, E = D / H, K clusters, W cluster size (+1 for the stimulus token).
"""

import itertools
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint

from sbm.model.saved import load_model, save_model
from sbm.settings import from_dict

try:  # the CUDA fast path for routed spatial attention; optional
    from flash_attn import flash_attn_varlen_func
except ImportError:
    flash_attn_varlen_func = None


@dataclass
class SBMConfig:
    """The model; the config's `sbm.model` section (n_stimuli comes from the data)."""

    n_stimuli: int = 0  # width of the stimulus one-hot (the dataset's vocabulary)
    context: int = 12  # frames the model reads (about 4 s at 2-3 Hz)
    # The context in seconds instead: when set, training resolves it once to frames at the training
    # fish's median frame rate (sbm.data.windows.context_frames) and saves those frames, not this.
    context_s: float | None = None
    # The input probabilities are divided by this before the embedding, so that they are of order 1
    # beside the positions whatever the data's rate of spikes. 0: training sets it to the training
    # fish's mean probability and saves it; a positive value is used as given.
    prob_scale: float = 0.0
    # Frames of its own recent history each neuron token embeds (frames t - h + 1 .. t at step t,
    # the window's first frame repeated before it): 1, the paper's, embeds frame t only, so the
    # first spatial layer sees a neuron's present and place but not what kind of neuron it is.
    token_history: int = 1
    # The order inside a block: "spatial_first" (the paper's) or "temporal_first", each token
    # reading its own history before the tokens of its time step.
    block_order: str = "spatial_first"
    # Frames ahead of the extra targets an auxiliary head forecasts in training, for example (4,
    # 16): the next frame pays a forecaster almost nothing for knowing the other parts of the brain
    # (benchmarks/README.md, the headroom of the known-answer ladder) and frames further ahead pay
    # more, so the body shared by both heads is paid to carry them. The forecast is always the
    # next frame's head; () (the paper's): no auxiliary head.
    aux_horizons: tuple = ()
    d_model: int = 256
    n_heads: int = 8
    n_layers: int = 4
    ffn_hidden: int = 0  # SwiGLU hidden width; 0 means 8/3 d_model rounded up to a multiple of 64
    # "routed" balanced clusters, "dense" all-to-all (reference, small N), or "none": each neuron
    # attends only to itself and the stimulus token (the ablation: no neuron reads another).
    spatial: str = "routed"
    cluster_size: int = 384  # w: neurons per cluster; each of ceil(N / w) centroids takes its top w
    n_centroids: int = 512  # centroid bank per block: fish up to w * n_centroids neurons
    centroid_decay: float = 0.99  # EMA factor of the centroid updates during training
    backend: str = "sdpa"  # routed kernel: "sdpa" (any device) or "flash" (flash-attn varlen, CUDA)
    # Spatial rotary frequencies (radians per unit of normalised position, where the brain spans
    # [-1, 1] along its longest axis): from whole-brain gradients down to neighbouring cells.
    spatial_freq_min: float = 1.0
    spatial_freq_max: float = 200.0
    rope_base: float = 10000.0  # temporal RoPE
    seed: int = 0  # seeds the random buffers (rotary directions, initial centroids)

    @classmethod
    def from_dict(cls, d: dict) -> "SBMConfig":
        return from_dict(cls, d, "sbm.model")

    def __post_init__(self):
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise ValueError(f"d_model {self.d_model} must split into {self.n_heads} heads of even size")
        if self.spatial not in ("routed", "dense", "none"):
            raise ValueError(f"spatial must be 'routed', 'dense' or 'none', not {self.spatial!r}")
        if self.prob_scale < 0:
            raise ValueError(f"prob_scale must be positive (or 0: set by training), not {self.prob_scale}")
        if self.backend not in ("sdpa", "flash"):
            raise ValueError(f"backend must be 'sdpa' or 'flash', not {self.backend!r}")
        if self.block_order not in ("spatial_first", "temporal_first"):
            raise ValueError(f"block_order must be 'spatial_first' or 'temporal_first', not {self.block_order!r}")
        if self.token_history < 1:
            raise ValueError(f"token_history must be at least 1 frame, not {self.token_history}")
        self.aux_horizons = tuple(self.aux_horizons)
        if any(h < 2 for h in self.aux_horizons) or len(set(self.aux_horizons)) != len(self.aux_horizons):
            raise ValueError(f"aux_horizons must be distinct frame counts above 1, not {list(self.aux_horizons)}")


SDPA_MAX_BATCH = 65535  # rows per scaled_dot_product_attention call that every CUDA kernel accepts


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, **kwargs) -> torch.Tensor:
    """SDPA over (batch, heads, length, dim), the batch in pieces: CUDA's kernels fail on a batch
    above 65,535 (a grid-size limit; found on an H100), and a whole brain has more neurons than
    that (temporal attention: one row per neuron) or more clusters in a large batch (spatial)."""
    if len(q) <= SDPA_MAX_BATCH:
        return F.scaled_dot_product_attention(q, k, v, **kwargs)
    mask = kwargs.pop("attn_mask", None)  # one per batch element, split with them
    masks = mask.split(SDPA_MAX_BATCH) if mask is not None else itertools.repeat(None)
    parts = zip(q.split(SDPA_MAX_BATCH), k.split(SDPA_MAX_BATCH), v.split(SDPA_MAX_BATCH), masks)
    return torch.cat([F.scaled_dot_product_attention(*qkv, attn_mask=m, **kwargs) for *qkv, m in parts])


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding on the two halves of the last axis (GPT-NeoX layout). q and k arrive as
    strided views of the qkv projection: made contiguous first, the four products run about a
    third faster on CPU (the same numbers)."""
    x1, x2 = x.contiguous().chunk(2, dim=-1)
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


class SwiGLU(nn.Module):
    def __init__(self, d: int, hidden: int):
        super().__init__()
        self.gate_up = nn.Linear(d, 2 * hidden, bias=False)
        self.down = nn.Linear(hidden, d, bias=False)

    def forward(self, x):
        gate, up = self.gate_up(x).chunk(2, dim=-1)
        return self.down(F.silu(gate) * up)


class SpatialAttention(nn.Module):
    """Attention across the tokens of one time step; relative 3-D positions through rotary features.

    Routed: k = ceil(n / w) centroids (n real neurons of that fish); each takes its top-w neurons
    by cosine similarity (balanced: every cluster has exactly w members; a neuron may be in several
    or none). A fish with fewer than w neurons gets one cluster of all of them: the dense
    computation, so a model trained on large fish runs on a small one (region averages, a few
    dozen neurons). The stimulus token joins every cluster. Attention runs inside each cluster and the
    outputs are scattered back and averaged over duplicates; a neuron in no cluster gets no update
    from this layer (its residual carries it). Centroids follow their members by EMA in training.
    """

    def __init__(self, cfg: SBMConfig, generator: torch.Generator):
        super().__init__()
        self.cfg, H, E = cfg, cfg.n_heads, cfg.d_model // cfg.n_heads
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.out = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        # Directional rotary features: for head h and frequency f, the angle is (xyz . u_hf) * freq_f
        # with u_hf a random unit direction, so q.k depends on the displacement between neurons.
        # Random, hence buffers: saved with the weights so a reloaded model is the same model.
        directions = F.normalize(torch.randn(H, E // 2, 3, generator=generator), dim=-1)
        freqs = torch.logspace(math.log10(cfg.spatial_freq_min), math.log10(cfg.spatial_freq_max), E // 2)
        self.register_buffer("rotary_directions", directions * freqs[None, :, None])  # (H, E/2, 3)
        if cfg.spatial == "routed":
            centroids = F.normalize(torch.randn(cfg.n_centroids, cfg.d_model, generator=generator), dim=-1)
            self.register_buffer("centroids", centroids)  # (n_centroids, D), unit rows
        self.pending = None  # (member sums, counts) of the last training forward

    def rotary(self, xyz: torch.Tensor):
        """cos, sin of shape (B, 1, S, H, E/2); the stimulus token (first) has angle 0."""
        angles = torch.einsum("bnc,hfc->bnhf", xyz, self.rotary_directions)
        angles = F.pad(angles, (0, 0, 0, 0, 1, 0))
        return angles.cos()[:, None], angles.sin()[:, None]

    def project(self, x: torch.Tensor, xyz: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q, k, v (B, T, S, H, E) of the tokens x (B, T, S, D), positions rotated into q and k."""
        B, T, S, D = x.shape
        H, E = self.cfg.n_heads, D // self.cfg.n_heads
        q, k, v = self.qkv(x).view(B, T, S, 3, H, E).unbind(dim=3)  # each (B, T, S, H, E)
        cos, sin = self.rotary(xyz.to(x.dtype))
        return rotate(q, cos, sin), rotate(k, cos, sin), v

    def forward(self, x: torch.Tensor, xyz: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, T, S, D = x.shape
        q, k, v = self.project(x, xyz)
        if self.cfg.spatial == "dense":
            y = self.dense(q, k, v, mask)
        elif self.cfg.spatial == "none":
            y = self.isolated(q, k, v, mask)
        else:
            y = self.routed(x[:, :, 1:], q, k, v, mask)
        return self.out(y.reshape(B, T, S, D))

    def isolated(self, q, k, v, mask):
        """Each neuron with the stimulus token only (the ablation); the stimulus token's output is
        the mean of its outputs over the fish's real neurons."""
        B, T, S, H, E = q.shape
        N = S - 1

        def pairs(t):  # (B, T, S, H, E) -> (B * T * N, 2, H, E): the stimulus token, then the neuron
            return torch.stack((t[:, :, :1].expand(B, T, N, H, E), t[:, :, 1:]), dim=3).reshape(B * T * N, 2, H, E)

        y = self.attend(pairs(q), pairs(k), pairs(v)).reshape(B, T, N, 2, H * E)
        real = mask[:, None, :, None].to(y.dtype)
        stim = (y[:, :, :, 0] * real).sum(dim=2, keepdim=True) / real.sum(dim=2, keepdim=True)
        return torch.cat((stim, y[:, :, :, 1]), dim=2)

    def dense(self, q, k, v, mask):
        B, T, S, H, E = q.shape
        keep = (
            torch.cat((mask.new_ones(B, 1), mask), dim=1)[:, None, None, None, :]
            .expand(B, T, 1, 1, S)
            .reshape(B * T, 1, 1, S)
        )
        q, k, v = (t.reshape(B * T, S, H, E).transpose(1, 2).contiguous() for t in (q, k, v))  # (BT, H, S, E)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
        return y.transpose(1, 2).reshape(B, T, S, H * E)

    def routed(self, x, q, k, v, mask):
        B, T, S, H, E = q.shape
        N = S - 1
        rows, owner, n_clusters, real = self.route(x, mask)
        keep = None if bool(real.all()) else torch.cat((real.new_ones(len(rows), 1), real), dim=1)

        def cluster_tokens(t):  # (B, T, S, H, E) -> (M, W + 1, H, E): the stimulus token first
            stim, neurons = t[:, :, 0].reshape(B * T, H, E), t[:, :, 1:].reshape(B * T * N, H, E)
            return torch.cat((stim[owner][:, None], neurons[rows]), dim=1)

        y = self.attend(cluster_tokens(q), cluster_tokens(k), cluster_tokens(v), keep).flatten(2)  # (M, W + 1, D)
        # Scatter back the real members, averaging over duplicate memberships (and over clusters
        # for the stimulus).
        D = H * E
        weight = real.to(y.dtype)
        neurons = torch.zeros(B * T * N, D, dtype=y.dtype, device=y.device).index_add_(
            0, rows.reshape(-1), (y[:, 1:] * weight[..., None]).reshape(-1, D)
        )
        count = torch.zeros(B * T * N, dtype=y.dtype, device=y.device).index_add_(
            0, rows.reshape(-1), weight.reshape(-1)
        )
        neurons = neurons / count.clamp(min=1)[:, None]
        stim = torch.zeros(B * T, D, dtype=y.dtype, device=y.device).index_add_(0, owner, y[:, 0])
        stim = stim / n_clusters.to(y.dtype).repeat_interleave(T)[:, None]
        return torch.cat((stim.view(B, T, 1, D), neurons.view(B, T, N, D)), dim=2)

    @torch.no_grad()
    def route(self, x: torch.Tensor, mask: torch.Tensor):
        """Clusters of one forward: each centroid takes its w most similar real neurons at each
        time step. x (B, T, N, D) the neurons' inputs. Returns rows (M, W), the members of every
        existing cluster as indices into the flattened (B * T * N) neurons; owner (M,), the
        (batch, step) index of each cluster; n_clusters (B,); real (M, W), False for members that are
        padding (only in the one cluster of a fish smaller than w)."""
        B, T, N, _ = x.shape
        W = min(self.cfg.cluster_size, N)  # a batch of fish smaller than w: one cluster of all
        n_real = mask.sum(dim=1)  # (B,)
        n_clusters = torch.div(n_real + W - 1, W, rounding_mode="floor")  # ceil(n / w) per fish
        K = int(n_clusters.max())
        if K > self.cfg.n_centroids:
            raise ValueError(
                f"{int(n_real.max())} neurons need {K} clusters of {W}; raise n_centroids ({self.cfg.n_centroids})"
            )
        route = F.normalize(x.float(), dim=-1)  # (B, T, N, D)
        sim = torch.einsum("btnd,kd->btkn", route, self.centroids[:K])
        sim = sim.masked_fill(~mask[:, None, None, :], float("-inf"))
        members = sim.topk(W, dim=-1).indices  # (B, T, K, W)
        valid = torch.arange(K, device=x.device)[None, :] < n_clusters[:, None]  # (B, K)
        sel = valid[:, None, :].expand(B, T, K).reshape(-1)  # clusters that exist, flattened
        rows = torch.arange(B * T, device=x.device).view(B, T, 1, 1) * N + members  # into (B*T*N)
        rows = rows.reshape(B * T * K, W)[sel]  # (M, W)
        owner = torch.arange(B * T, device=x.device).view(B, T, 1).expand(B, T, K).reshape(-1)[sel]  # (M,)
        # Members that are padding (False): only in the one cluster of a fish smaller than w.
        real = mask[:, None, :].expand(B, T, N).reshape(-1)[rows]  # (M, W)
        if self.training:  # applied after the optimiser step (update_centroids), so that a
            # recomputation of this forward (activation checkpointing) routes the same way
            self.pending = self.member_sums(route.reshape(B * T * N, -1), rows, sel.view(B * T, K), real)
        return rows, owner, n_clusters, real

    @torch.no_grad()
    def attention_weights(self, x: torch.Tensor, xyz: torch.Tensor, mask: torch.Tensor, chunk: int = 64):
        """The layer's attention made explicit, to read what it attends to (the connectome), with
        the q, k and clusters of `forward` (call it in eval mode with the inputs the layer got).
        Returns rows (M, W), each cluster's member neurons as indices into the flattened B * T * N
        neurons (dense attention: one cluster of every neuron per step), and an iterator over the
        weights of `chunk` clusters at a time, (m, W + 1, W + 1) query x key averaged over heads,
        the stimulus token first."""
        B, T, S, D = x.shape
        H, E, N = self.cfg.n_heads, D // self.cfg.n_heads, S - 1
        q, k, _ = (t.reshape(B * T, S, H, E) for t in self.project(x, xyz))
        if self.cfg.spatial == "none":
            raise ValueError("a model without spatial attention has no attention between neurons to read")
        if self.cfg.spatial == "routed":
            rows, owner, _, _ = self.route(x[:, :, 1:], mask)
        else:
            owner = torch.arange(B * T, device=x.device)
            rows = owner[:, None] * N + torch.arange(N, device=x.device)

        def weights():
            for start in range(0, len(rows), chunk):
                who, neuron = owner[start : start + chunk], rows[start : start + chunk] % N  # (m,), (m, W)

                def tokens(t):  # (B * T, S, H, E) -> (m, W + 1, H, E)
                    return torch.cat((t[who, :1], t[who[:, None], 1 + neuron]), dim=1)

                logits = torch.einsum("mqhe,mkhe->mhqk", tokens(q).float(), tokens(k).float()) / math.sqrt(E)
                real = mask[(who // T)[:, None], neuron]  # padded neurons are no keys (dense attention)
                keep = torch.cat((real.new_ones(len(who), 1), real), dim=1)
                yield torch.softmax(logits.masked_fill(~keep[:, None, None, :], float("-inf")), dim=-1).mean(dim=1)

        return rows, weights()

    def attend(self, q, k, v, keep=None):
        """Attention inside each cluster: (M, W, H, E) -> (M, W, H, E). Every cluster has the same
        length, so batched SDPA needs no mask; flash-attn's varlen kernel is the CUDA fast path.
        `keep` (M, W), False for keys that are padding (a fish smaller than a cluster), masks them
        (SDPA only: such a batch is small)."""
        if self.cfg.backend == "flash" and keep is None:
            if flash_attn_varlen_func is None or not q.is_cuda:
                raise RuntimeError("backend 'flash' needs flash-attn (pip install '.[gpu]') and a CUDA device")
            M, W, H, E = q.shape
            cu = torch.arange(0, (M + 1) * W, W, dtype=torch.int32, device=q.device)
            dtype = q.dtype if q.dtype in (torch.float16, torch.bfloat16) else torch.bfloat16
            packed = [t.reshape(M * W, H, E).to(dtype) for t in (q, k, v)]
            return flash_attn_varlen_func(*packed, cu, cu, W, W).view(M, W, H, E).to(q.dtype)
        # CPU kernels are several times slower on strided views than on contiguous tensors.
        q, k, v = (t.transpose(1, 2).contiguous() for t in (q, k, v))
        mask = None if keep is None else keep[:, None, None, :]
        return attention(q, k, v, attn_mask=mask).transpose(1, 2)

    @torch.no_grad()
    def member_sums(self, route: torch.Tensor, rows: torch.Tensor, sel: torch.Tensor, real: torch.Tensor):
        """Per centroid of the bank: the sum of its real members' unit routing vectors and their count."""
        which = torch.arange(sel.shape[1], device=route.device).expand_as(sel)[sel]  # centroid of each cluster (M,)
        weight = real.to(route.dtype)
        sums = torch.zeros_like(self.centroids).index_add_(0, which, (route[rows] * weight[..., None]).sum(dim=1))
        counts = torch.zeros(len(self.centroids), device=route.device).index_add_(0, which, weight.sum(dim=1).float())
        return sums, counts

    @torch.no_grad()
    def update_centroids(self):
        """EMA of each used centroid towards the mean direction of its members in the last batch."""
        if self.pending is None:
            return
        sums, counts = self.pending
        used = counts > 0
        decay = self.cfg.centroid_decay
        updated = F.normalize(decay * self.centroids + (1 - decay) * F.normalize(sums, dim=-1), dim=-1)
        self.centroids.copy_(torch.where(used[:, None], updated, self.centroids))
        self.pending = None


class TemporalAttention(nn.Module):
    """Causal attention along each token's own history, with RoPE over time indices."""

    def __init__(self, cfg: SBMConfig):
        super().__init__()
        self.cfg, E = cfg, cfg.d_model // cfg.n_heads
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.out = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        angles = torch.outer(torch.arange(cfg.context).float(), cfg.rope_base ** (-torch.arange(0, E, 2).float() / E))
        self.register_buffer("rope_cos", angles.cos(), persistent=False)  # (T, E/2), deterministic
        self.register_buffer("rope_sin", angles.sin(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, S, D = x.shape
        H, E = self.cfg.n_heads, D // self.cfg.n_heads
        if T > self.cfg.context:
            raise ValueError(f"{T} steps exceed the model's context of {self.cfg.context}")
        qkv = self.qkv(x).transpose(1, 2).reshape(B * S, T, 3, H, E).transpose(1, 3)  # (BS, H, 3, T, E)
        q, k, v = qkv.unbind(dim=2)
        cos, sin = self.rope_cos[:T].to(x.dtype), self.rope_sin[:T].to(x.dtype)
        y = attention(rotate(q, cos, sin), rotate(k, cos, sin), v.contiguous(), is_causal=True)
        return self.out(y.transpose(1, 2).reshape(B, S, T, D).transpose(1, 2))


class Block(nn.Module):
    def __init__(self, cfg: SBMConfig, generator: torch.Generator):
        super().__init__()
        self.norm_spatial = nn.RMSNorm(cfg.d_model)
        self.spatial = SpatialAttention(cfg, generator)
        self.norm_temporal = nn.RMSNorm(cfg.d_model)
        self.temporal = TemporalAttention(cfg)
        self.norm_ffn = nn.RMSNorm(cfg.d_model)
        self.ffn = SwiGLU(cfg.d_model, cfg.ffn_hidden or 64 * math.ceil(8 * cfg.d_model / 3 / 64))
        self.order = cfg.block_order

    def forward(self, x, xyz, mask):
        if self.order == "temporal_first":
            x = x + self.temporal(self.norm_temporal(x))
            x = x + self.spatial(self.norm_spatial(x), xyz, mask)
        else:
            x = x + self.spatial(self.norm_spatial(x), xyz, mask)
            x = x + self.temporal(self.norm_temporal(x))
        return x + self.ffn(self.norm_ffn(x))


class SBM(nn.Module):
    def __init__(self, cfg: SBMConfig):
        super().__init__()
        self.cfg = cfg
        generator = torch.Generator().manual_seed(cfg.seed)
        self.neuron_embed = nn.Linear(cfg.token_history + 3, cfg.d_model)  # [probabilities, x, y, z]
        self.neuron_norm = nn.RMSNorm(cfg.d_model)
        self.stimulus_embed = nn.Linear(max(cfg.n_stimuli, 1), cfg.d_model)
        self.stimulus_norm = nn.RMSNorm(cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg, generator) for _ in range(cfg.n_layers))
        self.head_norm = nn.RMSNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, 1)
        self.aux_head = nn.Linear(cfg.d_model, len(cfg.aux_horizons)) if cfg.aux_horizons else None
        self.checkpointing = False  # recompute each block in the backward pass: one block's activations in memory

    def forward(
        self, prob: torch.Tensor, xyz: torch.Tensor, stimulus: torch.Tensor, mask: torch.Tensor, aux: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """prob (B, T, N) in [0, 1] for frames 0..T-1; xyz (B, N, 3) normalised positions;
        stimulus (B, T, K) the stimulus of frames 1..T (known, external); mask (B, N) True for
        real neurons. Returns logits (B, T, N): step t forecasts frame t + 1 from frames <= t; with
        `aux` (training), also the auxiliary head's (B, T, N, A): step t forecasts frame t + h for
        each h of cfg.aux_horizons."""
        B, T, N = prob.shape
        scaled = prob / self.cfg.prob_scale if self.cfg.prob_scale > 0 else prob
        neuron_in = torch.cat((history(scaled, self.cfg.token_history), xyz[:, None].expand(B, T, N, 3)), dim=-1)
        neurons = self.neuron_norm(self.neuron_embed(neuron_in))  # (B, T, N, D)
        if self.cfg.n_stimuli == 0:
            stimulus = stimulus.new_zeros(B, T, 1)
        stim = self.stimulus_norm(self.stimulus_embed(stimulus))[:, :, None]  # (B, T, 1, D)
        x = torch.cat((stim, neurons), dim=2)  # (B, T, S, D)
        for block in self.blocks:
            if self.checkpointing and torch.is_grad_enabled():
                x = torch.utils.checkpoint.checkpoint(block, x, xyz, mask, use_reentrant=False)
            else:
                x = block(x, xyz, mask)
        x = self.head_norm(x[:, :, 1:])
        logits = self.head(x).squeeze(-1).float()
        if aux:
            if self.aux_head is None:
                raise ValueError("the model has no auxiliary head (sbm.model.aux_horizons is empty)")
            return logits, self.aux_head(x).float()
        return logits


def history(prob: torch.Tensor, frames: int) -> torch.Tensor:
    """(B, T, N) -> (B, T, N, frames): at step t the frames t - frames + 1 .. t, oldest first, the
    window's first frame repeated before it (step t never reads a frame after t)."""
    if frames == 1:
        return prob[..., None]
    B, T, N = prob.shape
    padded = torch.cat((prob[:, :1].expand(B, frames - 1, N), prob), dim=1)
    return padded.unfold(1, frames, 1)  # (B, T, N, frames)


@torch.no_grad()
def update_centroids(model: SBM, reduce=None) -> None:
    """Move every block's centroids after an optimiser step; `reduce` (an all-reduce under DDP)
    first sums the member statistics over processes so every process makes the same update."""
    for block in model.blocks:
        spatial = block.spatial
        if spatial.pending is not None and reduce is not None:
            for t in spatial.pending:
                reduce(t)
        spatial.update_centroids()


def masked_bce(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy over real neurons (mask (B, N)) and all steps, in fp32."""
    loss = F.binary_cross_entropy_with_logits(logits.float(), target.float(), reduction="none")
    weight = mask[:, None, :].expand_as(loss).float()
    return (loss * weight).sum() / weight.sum()


def body_matrices(model: SBM) -> tuple[list, list]:
    """(Muon's parameters, AdamW's): the blocks' 2-D weights vs gains, biases, embeddings, head."""
    muon, adamw = [], []
    for name, p in model.named_parameters():
        (muon if name.startswith("blocks.") and p.ndim == 2 else adamw).append(p)
    return muon, adamw


def save_weights(model: SBM, path, **extra) -> None:
    """Weights (random buffers included) + config + whatever the caller adds (sbm.model.saved)."""
    save_model(model, path, **extra)


def load_weights(path, map_location="cpu") -> tuple[SBM, dict]:
    model, state = load_model(path, lambda config: SBM(SBMConfig(**config)), map_location)
    return model, state
