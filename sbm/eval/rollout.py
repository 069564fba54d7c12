"""Autoregressive rollouts on held-out fish, and how their error grows with the horizon.

A rollout (sbm.model.forecast.rollout) starts from `context` observed frames and forecasts one
frame at a time with a fixed sliding window; the recorded future stimulus is given at every step. The SBM,
persistence and the fitted forecasters are rolled out the same way, from the same starts. On
simulated fish every rollout is also scored against the simulator's truth (sbm.eval.truth); the
ceiling, an oracle, reads the populations' simulated probabilities at every step of its rollout.
"observed" names the recording's (inferred) probabilities, "truth" only the simulator's.
"""

import numpy as np
import torch
from tqdm import tqdm

from sbm.data.windows import Windows, collate, open_probs, spaced_windows
from sbm.eval.truth import SimulatedTruth, TruthErrors, population_context, summarise_truth
from sbm.model.forecast import Forecaster, abs_error, persistence, rollout, sbm_forecaster
from sbm.model.sbm import SBM


def growth_exponent(horizons: np.ndarray, error: np.ndarray) -> float:
    """b of error ~ a * horizon^b, fitted by least squares in log-log (b < 1: sublinear growth)."""
    horizons, error = np.asarray(horizons, float), np.asarray(error, float)
    if np.any(error <= 0) or np.any(horizons <= 0):
        raise ValueError("horizons and errors must be positive to fit a power law")
    return float(np.polyfit(np.log(horizons), np.log(error), 1)[0])


@torch.no_grad()
def rollout_errors(
    model: SBM,
    path,
    horizon: int,
    starts: int,
    batch_size: int = 8,
    fitted: dict[str, tuple[Forecaster, bool]] | None = None,
    truth: SimulatedTruth | None = None,
    first_frame: int = 0,
) -> dict:
    """Roll the SBM, persistence and the `fitted` forecasters (name -> (forecaster, whether it
    reads the oracle's stimulus)) out from `starts` evenly spaced points of one fish: sums of
    absolute errors and of the mean activity (forecast and observed) at each horizon step, and one
    example (the middle start) in full: the observed frames and the SBM's rollout, for the figures.
    With the simulator's `truth`, the rollouts are also scored against the simulator's probabilities.
    Rollouts start at `first_frame` or later."""
    C = model.cfg.context
    fish = open_probs(path, C + horizon)
    # Windows of the C start frames and the observed future.
    windows = Windows([fish], context=C + horizon - 1, frames=(first_frame, None))
    chosen = spaced_windows(windows, starts)
    model.eval()
    rollers = {"sbm": (sbm_forecaster(model), False), "persistence": (persistence, False), **(fitted or {})}
    against_truth = TruthErrors(truth) if truth is not None else None
    sums: dict = {}
    observed_activity = np.zeros(horizon)
    count, example = 0, None
    for b in tqdm(range(0, len(chosen), batch_size), desc=f"rollouts {fish.subject}", unit="batch"):
        batch = collate([windows[i] for i in chosen[b : b + batch_size]])
        prob, xyz, stimulus, mask = batch["prob"], batch["xyz"], batch["stimulus"], batch["mask"]
        future, n = prob[:, C:], mask.sum(dim=1, keepdim=True)  # (B, H, N), (B, 1)
        if against_truth is not None:
            frames = batch["start"].numpy()[:, None] + C + np.arange(horizon)[None]  # (B, H) the forecast frames
            true_prob = against_truth.target(frames)  # (B, H, N)
            against_truth.count(len(batch["start"]), fish.n_neurons)
        if any(oracle for _, oracle in rollers.values()):
            context = population_context(truth.population_prob, batch["start"], C + horizon)
            oracle_stimulus = torch.cat((stimulus, context), dim=-1)
        for name, (forecast, oracle) in rollers.items():
            out = rollout(forecast, prob[:, :C], xyz, oracle_stimulus if oracle else stimulus, mask, horizon)
            if against_truth is not None:
                against_truth.add(name, out, true_prob, mask)
            if name == "sbm" and b <= len(chosen) // 2 < b + batch_size:
                row = len(chosen) // 2 - b
                example = {
                    "first_frame": windows.index[chosen[len(chosen) // 2]][1],
                    "context": C,
                    "observed": prob[row].numpy(),
                    "sbm": out[row].numpy(),
                    "xyz": fish.xyz,
                    "stimulus": stimulus[row].numpy(),
                    "fps": fish.fps,
                    "stimulus_names": list(fish.stimulus_names),
                }
            entry = sums.setdefault(name, {"abs_error": np.zeros(horizon), "activity": np.zeros(horizon)})
            entry["abs_error"] += abs_error(out, future, mask).sum(dim=0).numpy()
            entry["activity"] += ((out * mask[:, None]).sum(dim=2) / n).sum(dim=0).double().numpy()
        observed_activity += ((future * mask[:, None]).sum(dim=2) / n).sum(dim=0).double().numpy()
        count += len(chosen[b : b + batch_size])
    neurons = fish.n_neurons
    return {
        "subject": fish.subject,
        "starts": count,
        "neurons": neurons,
        "start_frames": [windows.index[i][1] for i in chosen],
        "mae": {k: (v["abs_error"] / (count * neurons)).tolist() for k, v in sums.items()},
        "mean_activity": {
            "observed": (observed_activity / count).tolist(),
            **{k: (v["activity"] / count).tolist() for k, v in sums.items()},
        },
        "example": example,
        "truth": against_truth.result() if against_truth is not None else None,
    }


def summarise_rollouts(per_fish: list[dict]) -> dict:
    """MAE and mean activity per horizon step over the held-out fish, and each forecaster's growth
    exponent. Every value weighs the same, as in every MAE of the evaluation: a fish weighs its
    starts times its neurons (the mean activity too)."""
    weight = lambda f: f["starts"] * f["neurons"]  # noqa: E731
    total = sum(weight(f) for f in per_fish)
    average = lambda key, name: sum(np.asarray(f[key][name]) * weight(f) for f in per_fish) / total  # noqa: E731
    names = list(per_fish[0]["mae"])
    mae = {name: average("mae", name) for name in names}
    horizons = np.arange(1, len(mae["sbm"]) + 1)
    return {
        "horizon": horizons.tolist(),
        "mae": {k: v.tolist() for k, v in mae.items()},
        "growth_exponent": {k: growth_exponent(horizons, v) for k, v in mae.items()},
        "mean_activity": {name: average("mean_activity", name).tolist() for name in ["observed"] + names},
        "starts": sum(f["starts"] for f in per_fish),
        "per_subject": {f["subject"]: {k: v for k, v in f.items() if k != "truth"} for f in per_fish},
        "truth": summarise_truth([f["truth"] for f in per_fish]) if per_fish[0].get("truth") else None,
    }
