"""Behaviour from brain states on the held-out fish: the PNMs beside linear baselines, from the
observed brain states (the probabilities inferred from the recording) and from the SBM's forecasts
of them, against the observed (recorded) behaviour.

Baselines (sbm.train.behavior_baselines) read the same inputs as the PNM, in linear form: the
spatial Fourier moments of the z-scored activity map (`ridge`) and their principal components
(`pca_ridge`).

SBM-predicted brain states: every frame's one-step forecast from the observed frames before it
(sbm_states), so the PNM reading F predicted frames reads what the SBM would have shown it.
"""

import numpy as np
import torch

from sbm.data.behavior import load_behavior_fish
from sbm.data.windows import Windows, collate, model_inputs, open_probs
from sbm.eval.load import check_unseen
from sbm.io.errors import InputError
from sbm.model.pnm import load_pnm
from sbm.model.sbm import SBM
from sbm.train.behavior_baselines import BehaviorBaselines
from sbm.train.pnm import pearson_r, predict_fish


@torch.no_grad()
def sbm_states(model: SBM, path, batch_size: int = 8, device="cpu") -> np.ndarray:
    """(T, N) the SBM's one-step forecast of every frame from the observed frames before it (frame 0,
    with no history, is NaN). Windows of context + 1 frames start every 3/4 context frames; each
    frame takes the forecast made with the longest history, so frames >= context are forecast
    from at least context / 4 + 1 frames (on the synthetic default, the held-out MAE from 4
    frames of history equals that from 12: eval/next_step.json, mae_by_context)."""
    C = model.cfg.context
    fish = open_probs(path, C + 1)
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
        forecast = (
            torch.sigmoid(model(prob.to(device), xyz.to(device), stimulus.to(device), mask.to(device))).cpu().numpy()
        )
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
            raise InputError(
                path,
                f"trained for behaviours {state['behaviors']} (scale quantile {state['scale_quantile']}), "
                f"the others for {names} ({quantile})",
            )
        name = state["training"]["behavior"]
        if name in by_name:
            raise InputError(path, f"a second PNM for {name}")
        model.training_summary = state["training"]
        by_name[name] = model
    missing = [n for n in names if n not in by_name]
    if missing:
        raise InputError(paths[0], f"no PNM given for behaviour(s) {missing}")
    return [by_name[n] for n in names], names, quantile


def chance_r(pred: np.ndarray, observed: np.ndarray, margin: int, shifts: int = 200, seed: int = 0) -> float:
    """95th percentile of |r| between the prediction circularly shifted by a random lag (at least
    `margin` frames either way) and the observed behaviour: what r an unrelated series with the same
    autocorrelation reaches by chance."""
    rng = np.random.default_rng(seed)
    T = len(pred)
    if T <= 2 * margin:
        return float("nan")
    lags = rng.integers(margin, T - margin, shifts)
    return float(np.quantile([abs(pearson_r(np.roll(pred, lag), observed)) for lag in lags], 0.95))


def evaluate_fish(
    path,
    pnms: list,
    names: list[str],
    quantile: float,
    baselines: BehaviorBaselines,
    sbm: SBM,
    batch_size: int = 8,
    device="cpu",
) -> dict:
    """Every behaviour prediction for one held-out fish on the frames where both the observed and
    the SBM-forecast states have full history (t >= context + frames - 1), with their Pearson r."""
    n_frames, C = pnms[0].cfg.frames, sbm.cfg.context
    fish = load_behavior_fish(path, names, quantile, max(n_frames, C + 1))
    states = sbm_states(sbm, path, batch_size, device)
    frames = np.arange(C + n_frames - 1, len(fish.prob))
    index = np.stack([np.zeros_like(frames), frames], axis=1)
    series = {"frame": frames, "observed": fish.target[frames]}
    for source, replaced in (("observed_states", None), ("sbm_states", [states])):
        series[f"pnm_{source}"] = np.stack(
            [predict_fish(pnm, fish, None if replaced is None else states)[frames] for pnm in pnms], axis=1
        )
        for name, pred in baselines.predict([fish], index, replaced).items():
            series[f"{name}_{source}"] = pred.astype(np.float32)
    predictions = [k for k in series if k not in ("frame", "observed")]
    r = {k: {n: pearson_r(series[k][:, d], series["observed"][:, d]) for d, n in enumerate(names)} for k in predictions}
    chance = {
        n: chance_r(series["pnm_observed_states"][:, d], series["observed"][:, d], margin=C + n_frames)
        for d, n in enumerate(names)
    }
    state_mae = float(np.abs(states[frames] - fish.prob[frames].astype(np.float32)).mean())
    return {
        "subject": fish.subject,
        "frames": len(frames),
        "r": r,
        "chance_r95": chance,
        "sbm_state_mae": state_mae,
        "series": series,
    }


def summarise_behavior(per_fish: list[dict], names: list[str]) -> dict:
    """r per prediction and behaviour, averaged over the held-out fish, and its mean over behaviours."""
    keys = list(per_fish[0]["r"])
    r = {k: {n: float(np.mean([f["r"][k][n] for f in per_fish])) for n in names} for k in keys}
    return {
        "behaviors": names,
        "r": r,
        "mean_r": {k: float(np.mean(list(v.values()))) for k, v in r.items()},
        "chance_r95": {n: float(np.mean([f["chance_r95"][n] for f in per_fish])) for n in names},
        "sbm_state_mae": float(np.mean([f["sbm_state_mae"] for f in per_fish])),
        "per_subject": {
            f["subject"]: {"frames": f["frames"], "r": f["r"], "chance_r95": f["chance_r95"]} for f in per_fish
        },
    }
