"""Autoregressive rollouts on held-out fish, and how their error grows with the horizon.

A rollout (sbm.model.forecast.rollout) starts from `context` true frames and forecasts one frame
at a time with a fixed sliding window; the true future stimulus is given at every step. The SBM,
persistence and the fitted baselines are rolled out the same way, from the same starts.
"""

import numpy as np
import torch

from sbm.data.windows import Windows, collate, open_probs, spaced_windows
from sbm.model.baselines import Forecasters
from sbm.model.forecast import abs_error, persistence, rollout, sbm_forecaster
from sbm.model.sbm import SBM


def growth_exponent(horizons: np.ndarray, error: np.ndarray) -> float:
    """b of error ~ a * horizon^b, fitted by least squares in log-log (b < 1: sublinear growth)."""
    horizons, error = np.asarray(horizons, float), np.asarray(error, float)
    if np.any(error <= 0) or np.any(horizons <= 0):
        raise ValueError("horizons and errors must be positive to fit a power law")
    return float(np.polyfit(np.log(horizons), np.log(error), 1)[0])


@torch.no_grad()
def rollout_errors(
    model: SBM, path, horizon: int, starts: int, batch_size: int = 8, forecasters: Forecasters | None = None
) -> dict:
    """Roll the SBM and the baselines out from `starts` evenly spaced points of one fish: sums of
    absolute errors and of the mean activity (forecast and true) at each horizon step, and one
    example (the middle start) in full: the true frames and the SBM's rollout, for the figures."""
    C = model.cfg.context
    fish = open_probs(path, C + horizon)
    windows = Windows([fish], context=C + horizon - 1)  # C frames to start from + the true future
    chosen = spaced_windows(windows, starts)
    model.eval()
    rollers = {"sbm": sbm_forecaster(model), "persistence": persistence}
    if forecasters is not None:
        rollers.update({name: forecasters.forecaster(name) for name in ("ridge", "mlp")})
    sums: dict = {}
    true_activity = np.zeros(horizon)
    count, example = 0, None
    for b in range(0, len(chosen), batch_size):
        batch = collate([windows[i] for i in chosen[b : b + batch_size]])
        prob, xyz, stimulus, mask = batch["prob"], batch["xyz"], batch["stimulus"], batch["mask"]
        truth, n = prob[:, C:], mask.sum(dim=1, keepdim=True)  # (B, H, N), (B, 1)
        for name, forecast in rollers.items():
            out = rollout(forecast, prob[:, :C], xyz, stimulus, mask, horizon)
            if name == "sbm" and b <= len(chosen) // 2 < b + batch_size:
                row = len(chosen) // 2 - b
                example = {
                    "first_frame": windows.index[chosen[len(chosen) // 2]][1],
                    "context": C,
                    "truth": prob[row].numpy(),
                    "sbm": out[row].numpy(),
                    "xyz": fish.xyz,
                    "stimulus": stimulus[row].numpy(),
                    "fps": fish.fps,
                    "stimulus_names": list(fish.stimulus_names),
                }
            entry = sums.setdefault(name, {"abs_error": np.zeros(horizon), "activity": np.zeros(horizon)})
            entry["abs_error"] += abs_error(out, truth, mask).sum(dim=0).numpy()
            entry["activity"] += ((out * mask[:, None]).sum(dim=2) / n).sum(dim=0).double().numpy()
        true_activity += ((truth * mask[:, None]).sum(dim=2) / n).sum(dim=0).double().numpy()
        count += len(chosen[b : b + batch_size])
    neurons = fish.n_neurons
    return {
        "subject": fish.subject,
        "starts": count,
        "start_frames": [windows.index[i][1] for i in chosen],
        "mae": {k: (v["abs_error"] / (count * neurons)).tolist() for k, v in sums.items()},
        "mean_activity": {
            "true": (true_activity / count).tolist(),
            **{k: (v["activity"] / count).tolist() for k, v in sums.items()},
        },
        "example": example,
    }


def summarise_rollouts(per_fish: list[dict]) -> dict:
    """MAE and mean activity per horizon step over the held-out fish (each start weighted equally,
    each fish's MAE over its own neurons), and each forecaster's growth exponent."""
    total = sum(f["starts"] for f in per_fish)
    average = lambda key, name: sum(np.asarray(f[key][name]) * f["starts"] for f in per_fish) / total  # noqa: E731
    names = list(per_fish[0]["mae"])
    mae = {name: average("mae", name) for name in names}
    horizons = np.arange(1, len(mae["sbm"]) + 1)
    return {
        "horizon": horizons.tolist(),
        "mae": {k: v.tolist() for k, v in mae.items()},
        "growth_exponent": {k: growth_exponent(horizons, v) for k, v in mae.items()},
        "mean_activity": {name: average("mean_activity", name).tolist() for name in ["true"] + names},
        "starts": total,
        "per_subject": {f["subject"]: f for f in per_fish},
    }
