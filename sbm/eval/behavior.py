"""Behaviour from brain states on the held-out fish: the PNMs beside linear baselines, from true
brain states and from the SBM's forecasts of them.

Baselines read the same inputs as the PNM. A readout across fish cannot weigh individual neurons
(no neuron has a counterpart in another fish), so the linear baselines get the PNM's inputs in
the one linear form that does not depend on neuron order and count: per frame, the mean over
neurons of z_i * Fourier(xyz_i), the spatial Fourier moments of the z-scored activity map, for
each of the last F frames. `ridge` regresses behaviour on them; `pca_ridge` on their leading
principal components. Both are fitted on the training fish, with the penalty (and the number of
components) chosen on the validation fish.

SBM-predicted brain states: every frame's one-step forecast from the true frames before it
(sbm_states), so the PNM reading F predicted frames reads what the SBM would have shown it.
"""

from dataclasses import asdict, dataclass

import numpy as np
import torch
from sklearn.decomposition import PCA

from sbm.data.behavior import BehaviorFish, frame_batch, frame_index, load_behavior_fish
from sbm.data.windows import Windows, collate, model_inputs, open_fish
from sbm.eval.load import check_unseen
from sbm.io.errors import InputError
from sbm.model.pnm import PNMConfig, fourier_features, load_pnm, zscore_across_neurons
from sbm.model.sbm import SBM
from sbm.settings import from_dict
from sbm.train.pnm import pearson_r, predict_fish


@dataclass
class BehaviorBaselineConfig:
    """The config's `pnm.baselines` section."""

    ridge_alphas: tuple = (0.01, 0.1, 1.0, 10.0, 100.0)  # penalties tried (per sample, features standardised)
    pca_components: tuple = (2, 4, 8, 16)  # components tried for pca_ridge

    @classmethod
    def from_dict(cls, d: dict) -> "BehaviorBaselineConfig":
        return from_dict(cls, d, "pnm.baselines")


def fourier_moments(prob: torch.Tensor, xyz: torch.Tensor, mask: torch.Tensor, n_frequencies: int) -> torch.Tensor:
    """(B, F, N) states -> (B, F * 6 n): per frame, the mean over real neurons of z_i Fourier(xyz_i)."""
    z = zscore_across_neurons(prob, mask)
    phi = fourier_features(xyz, n_frequencies) * mask[..., None]  # (B, N, P)
    return (z @ phi / mask.sum(dim=1)[:, None, None]).flatten(1)


def moments_of(fishes: list[BehaviorFish], index: np.ndarray, inputs: PNMConfig, states=None, batch_size: int = 128) -> np.ndarray:
    """The baselines' features of every (fish, t) of `index`, with the PNM's frames and frequencies."""
    out = []
    for i in range(0, len(index), batch_size):
        b = frame_batch(fishes, index[i : i + batch_size], inputs.frames, states)
        out.append(fourier_moments(b["prob"], b["xyz"], b["mask"], inputs.fourier_frequencies))
    return torch.cat(out).numpy().astype(np.float64)


class LinearReadout:
    """Standardise, optionally project on PCA components, ridge per behaviour column."""

    def __init__(self, mean, scale, pca: PCA | None, weights: np.ndarray, bias: np.ndarray):
        self.mean, self.scale, self.pca, self.weights, self.bias = mean, scale, pca, weights, bias

    def features(self, x: np.ndarray) -> np.ndarray:
        x = (x - self.mean) / self.scale
        return self.pca.transform(x) if self.pca is not None else x

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.features(x) @ self.weights + self.bias


def ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form ridge (bias not penalised) on centred data; alpha per sample."""
    xm, ym = x.mean(axis=0), y.mean(axis=0)
    xc = x - xm
    w = np.linalg.solve(xc.T @ xc + alpha * len(x) * np.eye(x.shape[1]), xc.T @ (y - ym))
    return w, ym - xm @ w


def fit_readout(x, y, x_val, y_val, alphas, components=(None,)) -> tuple[list[LinearReadout], list[dict]]:
    """For each behaviour column, the (components, alpha) with the best validation Pearson r."""
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-12
    D = y.shape[1]
    best = [(-np.inf, None, None)] * D  # (val r, components, alpha) per column
    fits = {}
    for k in components:
        pca = PCA(n_components=min(k, x.shape[1]), random_state=0).fit((x - mean) / scale) if k else None
        readout = LinearReadout(mean, scale, pca, None, None)
        f, f_val = readout.features(x), readout.features(x_val)
        for alpha in alphas:
            w, b = ridge(f, y, alpha)
            fits[(k, alpha)] = (pca, w, b)
            pred = f_val @ w + b
            for d in range(D):
                r = pearson_r(pred[:, d], y_val[:, d])
                if r > best[d][0]:
                    best[d] = (r, k, alpha)
    # One readout per column may use different components: keep them as one readout per column.
    columns = [LinearReadout(mean, scale, fits[(k, a)][0], fits[(k, a)][1][:, d], fits[(k, a)][2][d]) for d, (_, k, a) in enumerate(best)]
    info = [{"val_r": r, "components": k, "alpha": a} for r, k, a in best]
    return columns, info


def predict_columns(columns: list[LinearReadout], x: np.ndarray) -> np.ndarray:
    return np.stack([c.predict(x) for c in columns], axis=1)


@dataclass
class BehaviorBaselines:
    inputs: PNMConfig  # the PNM whose inputs the baselines read (frames, Fourier frequencies)
    ridge: list  # one LinearReadout per behaviour column
    pca_ridge: list
    info: dict

    def predict(self, fishes, index, states=None) -> dict:
        x = moments_of(fishes, index, self.inputs, states)
        return {"ridge": predict_columns(self.ridge, x), "pca_ridge": predict_columns(self.pca_ridge, x)}


def fit_behavior_baselines(train: list[BehaviorFish], val: list[BehaviorFish], inputs: PNMConfig, cfg: BehaviorBaselineConfig) -> BehaviorBaselines:
    train_index, val_index = frame_index(train, inputs.frames), frame_index(val, inputs.frames)
    y = np.stack([train[f].target[t] for f, t in train_index])
    y_val = np.stack([val[f].target[t] for f, t in val_index])
    x, x_val = moments_of(train, train_index, inputs), moments_of(val, val_index, inputs)
    ridge_cols, ridge_info = fit_readout(x, y, x_val, y_val, cfg.ridge_alphas)
    pca_cols, pca_info = fit_readout(x, y, x_val, y_val, cfg.ridge_alphas, cfg.pca_components)
    names = train[0].names
    info = {"behaviors": names, "config": asdict(cfg), "train_frames": len(y), "val_frames": len(y_val),
            "train_fish": [f.subject for f in train], "val_fish": [f.subject for f in val],
            "ridge": dict(zip(names, ridge_info)), "pca_ridge": dict(zip(names, pca_info))}
    return BehaviorBaselines(inputs, ridge_cols, pca_cols, info)


@torch.no_grad()
def sbm_states(model: SBM, path, batch_size: int = 8, device="cpu") -> np.ndarray:
    """(T, N) the SBM's one-step forecast of every frame from the true frames before it (frame 0,
    with no history, is NaN). Windows of context + 1 frames start every 3/4 context frames; each
    frame takes the forecast made with the longest history, so frames >= context are forecast
    from at least context / 4 + 1 frames (on the synthetic default, the held-out MAE from 4
    frames of history equals that from 12: eval/next_step.json, mae_by_context)."""
    C = model.cfg.context
    fish = open_fish(path, C + 1)
    hop = max(1, 3 * C // 4)
    windows = Windows([fish], C, hop)
    starts = [s for _, s in windows.index]
    if starts[-1] != fish.n_frames - C - 1:  # the last frames too
        windows.index.append((0, fish.n_frames - C - 1))
    out = np.full((fish.n_frames, fish.n_neurons), np.nan, np.float32)
    model.eval().to(device)
    for b in range(0, len(windows), batch_size):
        items = [windows[i] for i in range(b, min(b + batch_size, len(windows)))]
        batch = collate(items)
        (prob, xyz, stimulus, mask), _ = model_inputs(batch)
        forecast = torch.sigmoid(model(prob.to(device), xyz.to(device), stimulus.to(device), mask.to(device))).cpu().numpy()
        for row, item in enumerate(items):
            frames = item["start"] + 1 + np.arange(C)  # step t forecasts frame start + 1 + t
            new = np.isnan(out[frames, 0])  # earlier windows saw more history of these frames
            out[frames[new]] = forecast[row, new]
    return out


def load_pnms(paths: list[str], heldout: list[str]) -> tuple[list, list[str], float]:
    """(PNMs in the order of their behaviour list, that list, the behaviour scaling quantile),
    each checked against the held-out fish; one PNM per behaviour, all trained alike."""
    by_name, names, quantile = {}, None, None
    for path in paths:
        model, state = load_pnm(path)
        check_unseen(path, state["training"]["train_fish"] + state["training"]["val_fish"], heldout)
        if names is None:
            names, quantile = list(state["behaviors"]), state["scale_quantile"]
        if list(state["behaviors"]) != names or state["scale_quantile"] != quantile:
            raise InputError(path, f"trained for behaviours {state['behaviors']} (scale quantile {state['scale_quantile']}), the others for {names} ({quantile})")
        name = state["training"]["behavior"]
        if name in by_name:
            raise InputError(path, f"a second PNM for {name}")
        model.training_summary = state["training"]
        by_name[name] = model
    missing = [n for n in names if n not in by_name]
    if missing:
        raise InputError(paths[0], f"no PNM given for behaviour(s) {missing}")
    return [by_name[n] for n in names], names, quantile


def chance_r(pred: np.ndarray, truth: np.ndarray, margin: int, shifts: int = 200, seed: int = 0) -> float:
    """95th percentile of |r| between the prediction circularly shifted by a random lag (at least
    `margin` frames either way) and the truth: what r an unrelated series with the same
    autocorrelation reaches by chance."""
    rng = np.random.default_rng(seed)
    T = len(pred)
    if T <= 2 * margin:
        return float("nan")
    lags = rng.integers(margin, T - margin, shifts)
    return float(np.quantile([abs(pearson_r(np.roll(pred, lag), truth)) for lag in lags], 0.95))


def evaluate_fish(path, pnms: list, names: list[str], quantile: float, baselines: BehaviorBaselines, sbm: SBM,
                  batch_size: int = 8, device="cpu") -> dict:
    """Every behaviour prediction for one held-out fish on the frames where both the true and the
    SBM-forecast states have full history (t >= context + frames - 1), with their Pearson r."""
    F, C = pnms[0].cfg.frames, sbm.cfg.context
    fish = load_behavior_fish(path, names, quantile, max(F, C + 1))
    states = sbm_states(sbm, path, batch_size, device)
    frames = np.arange(C + F - 1, len(fish.prob))
    index = np.stack([np.zeros_like(frames), frames], axis=1)
    series = {"frame": frames, "truth": fish.target[frames]}
    for source, replaced in (("true_states", None), ("sbm_states", [states])):
        series[f"pnm_{source}"] = np.stack([predict_fish(pnm, fish, None if replaced is None else states)[frames] for pnm in pnms], axis=1)
        for name, pred in baselines.predict([fish], index, replaced).items():
            series[f"{name}_{source}"] = pred.astype(np.float32)
    predictions = [k for k in series if k not in ("frame", "truth")]
    r = {k: {n: pearson_r(series[k][:, d], series["truth"][:, d]) for d, n in enumerate(names)} for k in predictions}
    chance = {n: chance_r(series["pnm_true_states"][:, d], series["truth"][:, d], margin=C + F) for d, n in enumerate(names)}
    state_mae = float(np.abs(states[frames] - fish.prob[frames].astype(np.float32)).mean())
    return {"subject": fish.subject, "frames": len(frames), "r": r, "chance_r95": chance, "sbm_state_mae": state_mae, "series": series}


def summarise_behavior(per_fish: list[dict], names: list[str]) -> dict:
    """r per prediction and behaviour, averaged over the held-out fish, and its mean over behaviours."""
    keys = list(per_fish[0]["r"])
    r = {k: {n: float(np.mean([f["r"][k][n] for f in per_fish])) for n in names} for k in keys}
    return {"behaviors": names, "r": r, "mean_r": {k: float(np.mean(list(v.values()))) for k, v in r.items()},
            "chance_r95": {n: float(np.mean([f["chance_r95"][n] for f in per_fish])) for n in names},
            "sbm_state_mae": float(np.mean([f["sbm_state_mae"] for f in per_fish])),
            "per_subject": {f["subject"]: {"frames": f["frames"], "r": f["r"], "chance_r95": f["chance_r95"]} for f in per_fish}}
