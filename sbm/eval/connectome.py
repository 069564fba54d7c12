"""The dynamic connectome: who the SBM's spatial attention listens to, against the true wiring.

The simulator wires populations, not single neurons (ground_truth.h5: `connectivity`, target x
source), so influence is compared at that level. For held-out windows we recompute every spatial
attention layer's weights explicitly, inside the clusters the layer routed (or over all neurons
with dense attention), and average over heads. The influence of source population b on target
population a is the mean attention weight a neuron of a puts on a neuron of b, over every
(query, key) neuron pair of the two populations, every step, layer and window; a pair that never
shares a cluster contributes 0, so the routing is part of the estimate, and a neuron in several
clusters weighs each of them by one over their number, as the layer averages their outputs.

The comparison baseline needs no model: the lag-1 correlation between the populations' mean
activities (source at t - 1, target at t), in absolute value, since edges can be inhibitory. Both
are scored by the AUROC of telling wired pairs (weight != 0) from unwired ones, off the diagonal;
chance is 0.5, and the spread of AUROC under random scores is given beside it.
"""

import numpy as np
import torch

from sbm.data.windows import Windows, collate, model_inputs, open_probs, spaced_windows
from sbm.model.sbm import SBM


def auroc(score: np.ndarray, label: np.ndarray) -> float:
    """Area under the ROC curve: the probability that a random positive outscores a random
    negative, ties counting half (the Mann-Whitney U statistic)."""
    score, label = np.asarray(score, float), np.asarray(label, bool)
    pos, neg = score[label], score[~label]
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("AUROC needs both positive and negative pairs")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def chance_auroc(label: np.ndarray, draws: int = 1000, seed: int = 0) -> dict:
    """AUROC of random scores for these labels: mean and the central 95 % range."""
    rng = np.random.default_rng(seed)
    values = np.array([auroc(rng.random(len(label)), label) for _ in range(draws)])
    return {
        "mean": float(values.mean()),
        "q2.5": float(np.quantile(values, 0.025)),
        "q97.5": float(np.quantile(values, 0.975)),
    }


def lagged_correlation(activity: np.ndarray, lag: int = 1) -> np.ndarray:
    """(G, G) target x source: corr(activity[t, target], activity[t - lag, source]); activity (T, G)."""
    x = activity - activity.mean(axis=0)
    x = x / np.maximum(x.std(axis=0), 1e-12)
    return x[lag:].T @ x[:-lag] / (len(x) - lag)


def group_means(prob: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """(T, G) mean of prob (T, N) over the neurons of each group."""
    onehot = np.zeros((len(group), n_groups))
    onehot[np.arange(len(group)), group] = 1
    return prob @ onehot / np.maximum(onehot.sum(axis=0), 1)


@torch.no_grad()
def attention_influence(model: SBM, path, group: np.ndarray, n_groups: int, windows: int = 16) -> np.ndarray:
    """(G, G) target x source: mean spatial-attention weight from a neuron of the target group to
    a neuron of the source group, over `windows` evenly spaced windows of one fish."""
    C = model.cfg.context
    fish = open_probs(path, C + 1)
    data = Windows([fish], C)
    group = torch.as_tensor(group, dtype=torch.long)
    total = torch.zeros(n_groups * n_groups, dtype=torch.float64)
    captured = []
    hooks = [
        block.spatial.register_forward_pre_hook(lambda module, args: captured.append((module, args)))
        for block in model.blocks
    ]
    model.eval()
    try:
        for i in spaced_windows(data, windows):
            (prob, xyz, stimulus, mask), _ = model_inputs(collate([data[i]]))
            captured.clear()
            model(prob, xyz, stimulus, mask)
            for module, (x, xyz_, mask_) in captured:
                total += layer_pair_sums(module, x, xyz_, mask_, group, n_groups)
    finally:
        for h in hooks:
            h.remove()
    size = torch.bincount(group, minlength=n_groups).double()
    pairs = torch.outer(size, size).reshape(-1) * C * len(model.blocks) * min(windows, len(data))
    return (total / pairs.clamp(min=1)).view(n_groups, n_groups).numpy()


def layer_pair_sums(attn, x, xyz, mask, group, n_groups, chunk: int = 64) -> torch.Tensor:
    """Sum of one layer's attention weights (mean over heads) per (target group, source group),
    flattened; one window (batch of 1), neurons only (the stimulus token is left out)."""
    B, T, S, _ = x.shape
    rows, weights = attn.attention_weights(x, xyz, mask, chunk)
    # A neuron in several clusters gets the mean of their outputs: each membership weighs 1/count.
    share = 1 / torch.bincount(rows.reshape(-1), minlength=B * T * (S - 1)).clamp(min=1).double()
    out = torch.zeros(n_groups * n_groups, dtype=torch.float64)
    for start, w in zip(range(0, len(rows), chunk), weights):  # w (m, W + 1, W + 1)
        members = rows[start : start + chunk]
        g = group[members % (S - 1)]  # (m, W)
        pairs = (g[:, :, None] * n_groups + g[:, None, :]).reshape(-1)
        out += torch.bincount(
            pairs,
            weights=(w[:, 1:, 1:].double() * share[members][:, :, None]).reshape(-1),
            minlength=n_groups * n_groups,
        )
    return out
