"""A trained SBM taken to a new fish: zero-shot, and fine-tuned on the first k minutes of it,
scored on the rest of its recording beside per-neuron forecasters fitted on the same k minutes.

Per held-out fish, every k is scored on one segment: the frames after the largest k's minutes (a
k that would leave less than `min_eval_minutes` to score, or too few frames to tune and validate
on, is dropped and said why). k = 0 is the trained SBM as it is and the forecasters fitted on
the training fish. For k > 0 the training loop (sbm.train.sbm.train: resumable, the same checks)
fine-tunes the SBM on the first (1 - val_share) of the k minutes and keeps its best step on the
rest of them, step 0 (the zero-shot weights) included; the per-neuron forecasters (ridge, MLP;
sbm.train.baselines) are fitted on the same two parts. Nothing is fitted or chosen on the scored
segment.
"""

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from sbm.cli import read_json
from sbm.data.windows import Windows, open_probs
from sbm.eval.next_step import next_step_errors
from sbm.eval.rollout import rollout_errors
from sbm.io.atomic import write_json
from sbm.model.baselines import Forecasters
from sbm.model.sbm import load_weights
from sbm.settings import from_dict
from sbm.train.baselines import ForecasterConfig, fit_forecasters
from sbm.train.sbm import TrainConfig, train

log = logging.getLogger(__name__)
PER_NEURON = ("ridge", "mlp")  # the forecasters refitted on each k minutes


@dataclass
class AdaptConfig:
    """The config's `sbm.adapt` section."""

    minutes: tuple = (0, 1, 2, 5, 10)  # k: minutes at the start of each held-out fish to tune on
    min_eval_minutes: float = 2.0  # a k leaving fewer minutes than this to score on is dropped
    val_share: float = 0.25  # the last share of the k minutes picks the best fine-tuning step
    steps: int = 200  # fine-tuning steps per k
    batch_size: int = 8
    muon_lr: float = 0.005  # a quarter of training's: the weights are already good
    adamw_lr: float = 1.25e-4
    validations: int = 5  # validations during each fine-tune (and one before its first step)
    val_windows: int = 64
    baseline_steps: int = 500  # the refitted MLP's steps (it trains on while still improving)

    @classmethod
    def from_dict(cls, d: dict) -> "AdaptConfig":
        return from_dict(cls, d, "sbm.adapt")


def plan_minutes(
    n_frames: int, fps: float, context: int, cfg: AdaptConfig, scored_frames: int = 0
) -> tuple[list, dict, int]:
    """(the k that fit this fish, {k dropped: why}, the first frame scored). A k must leave
    `min_eval_minutes` and `scored_frames` (a rollout's frames) after it, and its tuning part must
    fill a batch of windows and its validation part hold a window."""
    used, dropped = [], {}
    for k in sorted(cfg.minutes):
        frames = round(k * 60 * fps)
        cut = round(frames * (1 - cfg.val_share))
        left = n_frames - frames
        if left < cfg.min_eval_minutes * 60 * fps or left < scored_frames:
            dropped[k] = (
                f"the fish's {n_frames / fps / 60:.1f} minutes leave fewer than min_eval_minutes"
                f" ({cfg.min_eval_minutes}) or {scored_frames} frames to score after {k:g}"
            )
        elif k > 0 and (cut - context < cfg.batch_size or frames - cut < context + 1):
            dropped[k] = (
                f"its tuning part ({cut} frames) gives fewer than {cfg.batch_size} windows of {context + 1}, or its"
                f" validation part ({frames - cut} frames) none"
            )
        else:
            used.append(k)
    return used, dropped, round(max(used, default=0) * 60 * fps)


def fine_tune_settings(cfg: AdaptConfig, train_windows: int) -> TrainConfig:
    """The training loop's settings for one fine-tune: cfg.steps steps, validated about
    cfg.validations times (more often when an epoch of the k minutes is shorter than that)."""
    per_epoch = max(1, train_windows // cfg.batch_size)  # whole batches, as the loop makes them
    return TrainConfig(
        batch_size=cfg.batch_size,
        epochs=math.ceil(cfg.steps / per_epoch),
        max_steps=cfg.steps,
        muon_lr=cfg.muon_lr,
        adamw_lr=cfg.adamw_lr,
        val_per_epoch=max(1, round(cfg.validations * per_epoch / cfg.steps)),
        val_windows=cfg.val_windows,
    )


def score(model, path, fitted: dict, first_frame: int, evaluate: dict) -> dict:
    """Next-step MAE (per forecaster) and rollout MAE (per forecaster, per horizon step) from
    `first_frame` on."""
    named = {name: (forecast, False) for name, forecast in fitted.items()}
    ns = next_step_errors(
        model, path, evaluate["stride"], evaluate["batch_size"], fitted=named, first_frame=first_frame
    )
    ro = rollout_errors(
        model,
        path,
        evaluate["rollout_horizon"],
        evaluate["rollout_starts"],
        evaluate["batch_size"],
        fitted=named,
        first_frame=first_frame,
    )
    return {
        "next_step_mae": {name: total / ns["values"] for name, total in ns["abs_error_sums"].items()},
        "rollout_mae": ro["mae"],
        "windows": ns["windows"],
        "values": ns["values"],  # the weights of this fish in the pooled MAEs over fish
        "rollout_starts": ro["starts"],
        "rollout_values": ro["starts"] * ro["neurons"],
    }


def adapt_fish(
    weights: Path,
    trained_forecasters: Forecasters,
    path: Path,
    cfg: AdaptConfig,
    baselines: ForecasterConfig,
    evaluate: dict,
    run_dir: Path,
    device: str = "cpu",
) -> dict:
    """Every k of one held-out fish: its scores, the fine-tune's best step and the wall times."""
    model0, _ = load_weights(weights)
    C = model0.cfg.context
    fish = open_probs(path, C + 1)
    used, dropped, first = plan_minutes(fish.n_frames, fish.fps, C, cfg, C + evaluate["rollout_horizon"])
    for k, why in dropped.items():
        log.warning("%s: %g minutes dropped: %s", fish.subject, k, why)
    rows = []
    for k in used:
        frames = round(k * 60 * fish.fps)
        cut = round(frames * (1 - cfg.val_share))
        start = time.time()
        if k == 0:
            model, forecasters, best_step, tune_s, fit_s = model0, trained_forecasters, 0, 0.0, 0.0
        else:
            folder = Path(run_dir) / fish.subject / f"k{k:g}"
            summary = train(
                model0.cfg,
                fine_tune_settings(cfg, cut - C),
                [str(path)],
                [str(path)],
                folder,
                folder / "weights.pt",
                device=device,
                progress=False,
                init=weights,
                train_frames=(0, cut),
                val_frames=(cut, frames),
            )
            model, best_step = load_weights(folder / "weights.pt")[0], summary["best"]["step"]
            timing = folder / "tune_s.json"  # the wall time of the last call that trained (a rerun that
            if summary["steps_run"] or not timing.exists():  # finds the fine-tune done reports it)
                write_json(timing, time.time() - start)
            tune_s = float(read_json(timing))
            fit_start = time.time()
            forecasters = fit_forecasters(
                Windows([fish], C, frames=(0, cut)), Windows([fish], C, frames=(cut, frames)), baselines
            )
            fit_s = time.time() - fit_start
        scores = score(model, path, {n: forecasters.forecaster(n) for n in PER_NEURON}, first, evaluate)
        rows.append({"minutes": k, "sbm_best_step": best_step, "tune_s": tune_s, "baselines_fit_s": fit_s, **scores})
        log.info(
            "%s, %g min: next-step MAE sbm %.5f ridge %.5f; fine-tune %.0f s (best step %d)",
            fish.subject,
            k,
            scores["next_step_mae"]["sbm"],
            scores["next_step_mae"]["ridge"],
            tune_s,
            best_step,
        )
    return {
        "subject": fish.subject,
        "fps": fish.fps,
        "first_scored_frame": first,
        "scored_minutes": (fish.n_frames - first) / fish.fps / 60,
        "dropped_minutes": {f"{k:g}": why for k, why in dropped.items()},
        "by_minutes": rows,
    }


def summarise_adaptation(per_fish: list[dict], cfg: AdaptConfig) -> dict:
    """Over the held-out fish, per k that every fish kept: next-step MAE and the rollout MAE
    averaged over its horizon, per forecaster, pooled as every MAE (a fish weighs its values:
    neuron-frames, rollout starts times neurons); the mean fine-tuning wall time."""
    common = sorted(set.intersection(*[{r["minutes"] for r in f["by_minutes"]} for f in per_fish]))
    rows = {k: [next(r for r in f["by_minutes"] if r["minutes"] == k) for f in per_fish] for k in common}
    first = per_fish[0]["by_minutes"][0] if common else {"next_step_mae": {}, "rollout_mae": {}}

    def mean(k, get, weight=lambda r: 1):
        return float(np.average([get(r) for r in rows[k]], weights=[weight(r) for r in rows[k]]))

    return {
        "minutes": common,
        "next_step_mae": {
            n: [mean(k, lambda r: r["next_step_mae"][n], lambda r: r["values"]) for k in common]
            for n in first["next_step_mae"]
        },
        "rollout_mae": {
            n: [mean(k, lambda r: np.mean(r["rollout_mae"][n]), lambda r: r["rollout_values"]) for k in common]
            for n in first["rollout_mae"]
        },
        "tune_s": [mean(k, lambda r: r["tune_s"]) for k in common],
        "config": asdict(cfg),
    }
