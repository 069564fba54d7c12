"""Linear baselines of the PNM, fitted on the training fish with their penalty (and number of
components) chosen on the validation fish.

A readout across fish cannot weigh individual neurons (no neuron has a counterpart in another
fish), so the baselines get the PNM's inputs in the one linear form that does not depend on neuron
order and count: per frame, the mean over neurons of z_i * Fourier(xyz_i), the spatial Fourier
moments of the z-scored activity map, for each of the last F frames. `ridge` regresses behaviour
on them; `pca_ridge` on their leading principal components.
"""

from dataclasses import asdict, dataclass

import numpy as np
import torch
from sklearn.decomposition import PCA

from sbm.data.behavior import BehaviorFish, frame_batch, frame_index
from sbm.model.pnm import PNMConfig, fourier_features, zscore_across_neurons
from sbm.settings import from_dict
from sbm.train.pnm import pearson_r


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


def moments_of(
    fishes: list[BehaviorFish], index: np.ndarray, inputs: PNMConfig, states=None, batch_size: int = 128
) -> np.ndarray:
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
    columns = [
        LinearReadout(mean, scale, fits[(k, a)][0], fits[(k, a)][1][:, d], fits[(k, a)][2][d])
        for d, (_, k, a) in enumerate(best)
    ]
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


def fit_behavior_baselines(
    train: list[BehaviorFish], val: list[BehaviorFish], inputs: PNMConfig, cfg: BehaviorBaselineConfig
) -> BehaviorBaselines:
    train_index, val_index = frame_index(train, inputs.frames), frame_index(val, inputs.frames)
    y = np.stack([train[f].target[t] for f, t in train_index])
    y_val = np.stack([val[f].target[t] for f, t in val_index])
    x, x_val = moments_of(train, train_index, inputs), moments_of(val, val_index, inputs)
    ridge_cols, ridge_info = fit_readout(x, y, x_val, y_val, cfg.ridge_alphas)
    pca_cols, pca_info = fit_readout(x, y, x_val, y_val, cfg.ridge_alphas, cfg.pca_components)
    names = train[0].names
    info = {
        "behaviors": names,
        "config": asdict(cfg),
        "train_frames": len(y),
        "val_frames": len(y_val),
        "train_fish": [f.subject for f in train],
        "val_fish": [f.subject for f in val],
        "ridge": dict(zip(names, ridge_info)),
        "pca_ridge": dict(zip(names, pca_info)),
    }
    return BehaviorBaselines(inputs, ridge_cols, pca_cols, info)
