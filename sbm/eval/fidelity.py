"""Distributional fidelity: do forecast brain states look like true ones?

A forecast can have a small MAE and still be off the manifold of real brain states (too smooth,
too average), or a larger MAE and look just like data. So beside the pictures (PCA and UMAP fitted
on the true held-out states, forecasts projected into them: the paper's Fig. 2D) come two numbers,
both computed in the space of the leading principal components of the true states:

  energy distance  2 E|X - Y| - E|X - X'| - E|Y - Y'| between the true (X) and forecast (Y)
                   states (V-statistics; scipy's 1-D `energy_distance` is its square root). It is
                   0 exactly when the two distributions are equal.
  classifier       cross-validated accuracy of a logistic regression telling forecast from true
                   states; 0.5 means it cannot tell them apart. Folds are grouped by frame, so a
                   frame's truth and its forecast are never split between training and testing.

Persistence forecasts frame t by the true frame t - 1: a sample of the true distribution itself,
so it marks what "indistinguishable" looks like on these frames, whatever its MAE.
"""

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def energy_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Energy distance between samples x (n, d) and y (m, d) in Euclidean distance (V-statistics)."""
    x, y = torch.as_tensor(np.asarray(x, np.float64)), torch.as_tensor(np.asarray(y, np.float64))
    if x.ndim == 1:
        x, y = x[:, None], y[:, None]
    between = torch.cdist(x, y).mean()
    return float(2 * between - torch.cdist(x, x).mean() - torch.cdist(y, y).mean())


def classifier_accuracy(truth: np.ndarray, forecast: np.ndarray, folds: int = 5, seed: int = 0) -> float:
    """Mean held-out accuracy of a logistic regression separating forecast rows from true rows;
    row i of both is the same frame, and the folds keep the pair together."""
    if len(truth) != len(forecast):
        raise ValueError("truth and forecast must pair up frame by frame")
    x = np.concatenate((truth, forecast))
    label = np.r_[np.zeros(len(truth)), np.ones(len(forecast))]
    frame = np.r_[np.arange(len(truth)), np.arange(len(forecast))]
    classifier = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000, random_state=seed))
    cv = GroupKFold(n_splits=min(folds, len(truth)))
    return float(cross_val_score(classifier, x, label, groups=frame, cv=cv).mean())


def fidelity(truth: np.ndarray, forecasts: dict[str, np.ndarray], components: int = 50, umap_neighbors: int = 15,
             seed: int = 0) -> tuple[dict, dict]:
    """Metrics per forecaster and 2-D coordinates of every state, for one fish.

    truth (W, N) true states; forecasts name -> (W, N). PCA (and UMAP) are fitted on the truth only.
    Returns ({name: {energy_distance, classifier_accuracy}}, {method: {"truth"|name: (W, 2)}})."""
    import umap  # imported here: it compiles with numba on import, seconds that only this needs

    components = min(components, truth.shape[0] - 1, truth.shape[1])
    pca = PCA(n_components=components, random_state=seed).fit(truth)
    z_truth = pca.transform(truth)
    z = {name: pca.transform(f) for name, f in forecasts.items()}
    metrics = {name: {"energy_distance": energy_distance(z_truth, zf), "classifier_accuracy": classifier_accuracy(z_truth, zf, seed=seed)}
               for name, zf in z.items()}
    reducer = umap.UMAP(n_components=2, n_neighbors=min(umap_neighbors, len(truth) - 1), random_state=seed, n_jobs=1).fit(z_truth)
    coords = {"pca": {"truth": z_truth[:, :2], **{name: zf[:, :2] for name, zf in z.items()}},
              "umap": {"truth": reducer.embedding_, **{name: reducer.transform(zf) for name, zf in z.items()}}}
    info = {"components": components, "explained_variance": float(pca.explained_variance_ratio_.sum()),
            "explained_variance_2d": pca.explained_variance_ratio_[:2].tolist()}
    return {"metrics": metrics, **info}, coords
