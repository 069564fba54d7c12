"""Fitting the baseline forecasters (sbm.model.baselines) on the training fish, with their
penalty (ridges) and step (MLP) chosen on the validation fish.
  ridges: closed-form, the penalty with the best validation MAE (one per feature set);
  mlp:    AdamW on the binary cross-entropy; the step with the best validation MAE is kept.
The ceilings (oracles) are fitted only when the simulator's truth of every fish is given: `ceiling`
to the true probabilities of the frames it forecasts, `ceiling_inferred_targets` to the inferred ones.
"""

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from sbm.data.windows import Windows, collate, spaced_windows, window
from sbm.eval.truth import SimulatedTruth, population_context
from sbm.model.baselines import MLP, ORACLES, RIDGES, Forecasters, add_bias, features
from sbm.model.forecast import silence_unseen_inputs
from sbm.settings import from_dict


@dataclass
class ForecasterConfig:
    """The config's `baselines` section."""

    windows: int = 400  # evenly spaced windows per fish set (train, validation) to fit on
    neurons_per_window: int = 256  # neurons sampled from each window
    ridge_alphas: tuple = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)  # penalties tried (per sample; features lie in [0, 1])
    neighbours: int = 16  # ridge_neighbours: nearest neighbours in space whose mean context it reads
    components: int = 4  # ridge_pca: leading temporal principal components of each window
    hidden: int = 64
    steps: int = 1500
    batch: int = 1024
    lr: float = 3e-3
    seed: int = 0

    @classmethod
    def from_dict(cls, d: dict) -> "ForecasterConfig":
        return from_dict(cls, d, "baselines")


def sample(windows: Windows, cfg: ForecasterConfig, names, settings: dict, seed: int, truths=None):
    """Features of every forecaster in `names` and targets of `cfg.windows` evenly spaced windows,
    `neurons_per_window` random neurons each (the same rows for every forecaster): ({name: x
    (samples, F)}, y (samples,), the true probabilities of the same values or None) in float64.
    `truths`: the simulator's truth of each fish (the ceilings' inputs and targets)."""
    rng = np.random.default_rng(seed)
    xs, ys, true_ys = {name: [] for name in names}, [], []
    C = windows.context
    for i in spaced_windows(windows, cfg.windows):
        batch = collate([windows[i]])
        stimulus, population = batch["stimulus"], None
        if truths is not None:
            truth = truths[windows.index[i][0]]
            context = population_context(truth.population_prob, batch["start"], C + 1)
            stimulus, population = torch.cat((stimulus, context), dim=-1), torch.from_numpy(truth.population)[None]
        prob, stimulus = window(batch["prob"], stimulus, 0, C)
        mask = batch["mask"]
        y = batch["target"][:, C][mask]
        keep = rng.choice(len(y), min(len(y), cfg.neurons_per_window), replace=False)
        for name in names:
            xs[name].append(features(name, prob, batch["xyz"], stimulus, mask, settings, population)[keep])
        ys.append(y[keep])
        if truths is not None:
            true_ys.append(torch.from_numpy(truth.prob[int(batch["start"][0]) + C])[mask[0]][keep])
    true_y = torch.cat(true_ys).double() if truths is not None else None
    return {name: torch.cat(x).double() for name, x in xs.items()}, torch.cat(ys).double(), true_y


# A search whose best value sits on an edge of its grid has not found its best: the ridge tries
# penalties further out, ten times apart, and the MLP trains on, a validation period at a time,
# while its best step is its last, up to these limits.
MAX_EXTRA_ALPHAS = 6
MIN_GAIN = 1e-4  # relative validation MAE a penalty past the edge must gain to extend the grid again
MAX_STEPS_FACTOR = 3
VAL_EVERY = 100


def fit_ridge(x, y, x_val, y_val, alphas) -> tuple[torch.Tensor, dict]:
    """Closed-form ridge (bias not penalised) for each alpha; keep the best validation MAE. While
    the best is the smallest (nonzero) or the largest alpha tried and the last step out gained
    something, the grid extends past it."""
    a, a_val = add_bias(x), add_bias(x_val)
    gram, rhs = a.T @ a, a.T @ y
    penalty = torch.eye(a.shape[1], dtype=a.dtype)
    penalty[-1, -1] = 0
    scores, weights = {}, {}

    def score(alpha):
        weights[alpha] = torch.linalg.solve(gram + alpha * len(y) * penalty, rhs)
        scores[alpha] = float((a_val @ weights[alpha]).clamp(0, 1).sub(y_val).abs().mean())

    for alpha in alphas:
        score(alpha)
    for _ in range(MAX_EXTRA_ALPHAS):
        best, tried = min(scores, key=scores.get), sorted(scores)
        if len(tried) < 2 or best not in (tried[0], tried[-1]) or best == 0:
            break
        further = best / 10 if best == tried[0] else best * 10
        score(further)
        if scores[further] > scores[best] * (1 - MIN_GAIN):  # no real gain out there: the edge was not limiting
            break
    best = min(scores, key=scores.get)
    extended = sorted(set(scores) - set(alphas))
    return weights[best], {"alpha": best, "val_mae_by_alpha": scores, "alphas_added_past_the_grid": extended}


def fit_mlp(x, y, x_val, y_val, cfg: ForecasterConfig) -> tuple[MLP, dict]:
    """AdamW for cfg.steps, validated every VAL_EVERY steps (and at the end); while the best
    validation is the latest, training goes on (up to MAX_STEPS_FACTOR x cfg.steps)."""
    torch.manual_seed(cfg.seed)
    mlp = MLP(x.shape[1], cfg.hidden)
    silence_unseen_inputs(mlp.net[0], (x != 0).any(dim=0))  # e.g. a stimulus the fitted frames never showed
    opt = torch.optim.AdamW(mlp.parameters(), lr=cfg.lr)
    x, y, x_val, y_val = x.float(), y.float(), x_val.float(), y_val.float()
    g = torch.Generator().manual_seed(cfg.seed)
    best = (float("inf"), None, -1)
    step = last_val = 0
    while step < cfg.steps or (best[2] == last_val and step < MAX_STEPS_FACTOR * cfg.steps):
        step += 1
        idx = torch.randint(0, len(y), (cfg.batch,), generator=g)
        loss = F.binary_cross_entropy_with_logits(mlp(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % VAL_EVERY == 0 or step == cfg.steps:
            last_val = step
            with torch.no_grad():
                mae = float((torch.sigmoid(mlp(x_val)) - y_val).abs().mean())
            if mae < best[0]:
                best = (mae, {k: v.clone() for k, v in mlp.state_dict().items()}, step)
    mlp.load_state_dict(best[1])
    return mlp.eval(), {"val_mae": best[0], "best_step": best[2], "steps_run": step}


def fit_forecasters(
    train: Windows,
    val: Windows,
    cfg: ForecasterConfig,
    truths: tuple[list[SimulatedTruth], list[SimulatedTruth]] | None = None,
) -> Forecasters:
    """Every baseline; the ceilings too when `truths` (of the training and of the validation fish,
    in their Windows' order) are given."""
    settings = {
        "n_stimuli": train.fishes[0].stimulus.shape[1],
        "neighbours": cfg.neighbours,
        "components": cfg.components,
    }
    names = RIDGES + ("mlp",) + (("ceiling",) if truths else ())  # the two ceilings read the same features
    x, y, true_y = sample(train, cfg, names, settings, cfg.seed, truths[0] if truths else None)
    x_val, y_val, true_y_val = sample(val, cfg, names, settings, cfg.seed + 1, truths[1] if truths else None)
    ridges, ridge_info = {}, {}
    for name in RIDGES:
        ridges[name], ridge_info[name] = fit_ridge(x[name], y, x_val[name], y_val, cfg.ridge_alphas)
    if truths:
        for name, (target, target_val) in zip(ORACLES, ((true_y, true_y_val), (y, y_val))):
            ridges[name], ridge_info[name] = fit_ridge(
                x["ceiling"], target, x_val["ceiling"], target_val, cfg.ridge_alphas
            )
    mlp, mlp_info = fit_mlp(x["mlp"], y, x_val["mlp"], y_val, cfg)
    info = {
        "config": asdict(cfg),
        "features": settings,
        "n_features": x["mlp"].shape[1],
        "context": train.context,
        "train_samples": len(y),
        "val_samples": len(y_val),
        "ridge": ridge_info,
        "mlp": mlp_info,
    }
    return Forecasters(ridges, mlp, info)
