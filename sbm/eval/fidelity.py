"""Distributional fidelity: do forecast brain states look like observed ones?

A forecast can have a small MAE and still be off the manifold of real brain states (too smooth,
too average), or a larger MAE and look just like data. So beside the pictures (PCA and UMAP
fitted on observed held-out states, the probabilities inferred from the recording, with other
observed states and the forecasts projected into them: the paper's Fig. 2D) come two numbers:

  energy distance  2 E|X - Y| - E|X - X'| - E|Y - Y'| between the observed (X) and forecast (Y)
                   states (V-statistics; scipy's 1-D `energy_distance` is its square root), in
                   the leading principal components of the observed states. It is 0 exactly
                   when the two distributions are equal.
  classifier       cross-validated accuracy of PCA + logistic regression telling forecast from
                   observed states; 0.5 means it cannot tell them apart. Each fold is a
                   contiguous block of frames with their forecasts, and the PCA is fitted inside
                   each training fold.

Neither number may use a projection fitted on the very states it compares: observed states keep
more of their variance in components fitted on themselves than any other sample does, which would
make every forecast look off. The energy distance is therefore cross-fitted: components fitted on
the observed states of even frames score the odd frames, and the other way round; the two are
averaged.

Persistence forecasts frame t by the observed frame t - 1: a sample of the observed distribution
itself, so it marks what "indistinguishable" looks like on these frames, whatever its MAE.
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


def classifier_accuracy(
    observed: np.ndarray, forecast: np.ndarray, components: int = 50, folds: int = 5, seed: int = 0
) -> float:
    """Mean held-out accuracy of PCA + logistic regression separating forecast rows from observed
    rows. Row i of both is the same frame, in time order; each fold is a contiguous block of frames
    with their forecasts. Frames close in time are alike (and persistence's forecast of frame i is
    observed frame i - 1), so folds of scattered frames would put near-copies of a test row, with the other
    label, in training."""
    if len(observed) != len(forecast):
        raise ValueError("observed and forecast must pair up frame by frame")
    x = np.concatenate((observed, forecast))
    label = np.r_[np.zeros(len(observed)), np.ones(len(forecast))]
    folds = min(folds, len(observed))
    block = np.arange(len(observed)) * folds // len(observed)
    frame = np.r_[block, block]
    components = min(components, x.shape[1], 2 * len(observed) * (folds - 1) // folds - 1)
    classifier = make_pipeline(
        StandardScaler(),
        PCA(n_components=components, random_state=seed),
        LogisticRegression(C=1.0, max_iter=2000, random_state=seed),
    )
    return float(cross_val_score(classifier, x, label, groups=frame, cv=GroupKFold(n_splits=folds)).mean())


def cross_fitted_energy(observed: np.ndarray, forecast: np.ndarray, components: int = 50, seed: int = 0) -> float:
    """Energy distance in principal components of the observed states, fitted on the even frames to
    score the odd ones and the other way round (mean of the two)."""
    halves = (np.arange(0, len(observed), 2), np.arange(1, len(observed), 2))
    scores = []
    for fit, score in (halves, halves[::-1]):
        pca = PCA(n_components=min(components, len(fit) - 1, observed.shape[1]), random_state=seed).fit(observed[fit])
        scores.append(energy_distance(pca.transform(observed[score]), pca.transform(forecast[score])))
    return float(np.mean(scores))


def fidelity(
    observed: np.ndarray,
    forecasts: dict[str, np.ndarray],
    components: int = 50,
    umap_neighbors: int = 15,
    seed: int = 0,
) -> tuple[dict, dict, np.ndarray]:
    """Metrics per forecaster and 2-D coordinates for the pictures, for one fish.

    observed (W, N) observed states in time order; forecasts name -> (W, N). The pictures' PCA and
    UMAP are fitted on the observed states of the even frames and show the odd frames, observed and
    forecasts alike: a point the projection was fitted on lands where no new point would (UMAP puts new
    points towards the rim of its embedding), and that must not look like a difference. Returns
    ({"metrics": {name: {energy_distance, classifier_accuracy}}, ...}, {method: {"observed"|name:
    (len(shown), 2)}}, shown: the row indices drawn)."""
    import umap  # imported here: it compiles with numba on import, seconds that only this needs

    if len(observed) < 10:
        raise ValueError(f"{len(observed)} states; at least 10 are needed")
    metrics = {
        name: {
            "energy_distance": cross_fitted_energy(observed, f, components, seed),
            "classifier_accuracy": classifier_accuracy(observed, f, components, seed=seed),
        }
        for name, f in forecasts.items()
    }
    fit, shown = np.arange(0, len(observed), 2), np.arange(1, len(observed), 2)
    pca = PCA(n_components=min(components, len(fit) - 1, observed.shape[1]), random_state=seed).fit(observed[fit])
    reducer = umap.UMAP(n_components=2, n_neighbors=min(umap_neighbors, len(fit) - 1), random_state=seed, n_jobs=1)
    reducer.fit(pca.transform(observed[fit]))
    z = {name: pca.transform(states[shown]) for name, states in {"observed": observed, **forecasts}.items()}
    coords = {
        "pca": {name: zf[:, :2] for name, zf in z.items()},
        "umap": {name: reducer.transform(zf) for name, zf in z.items()},
    }
    info = {
        "components": int(pca.n_components_),
        "explained_variance": float(pca.explained_variance_ratio_.sum()),
        "explained_variance_2d": pca.explained_variance_ratio_[:2].tolist(),
    }
    return {"metrics": metrics, **info}, coords, shown
