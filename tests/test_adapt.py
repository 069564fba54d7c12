"""A trained SBM taken to a new fish: which minutes fit a fish, windows confined to frames, a
fine-tune that starts from trained weights and keeps them unless it beats them, the whole
adaptation of a held-out fish."""

import csv
import json
import shutil

import h5py
import pytest
import torch
from conftest import write_probs
from test_sbm_train import MODEL, TRAIN, command, train_sbm

from sbm.data.windows import Windows, open_probs
from sbm.eval.adapt import AdaptConfig, adapt_fish, plan_minutes, summarise_adaptation
from sbm.eval.load import load_evaluated
from sbm.io.errors import InputError
from sbm.model.sbm import SBMConfig, load_weights
from sbm.train.baselines import ForecasterConfig, fit_forecasters
from sbm.train.sbm import TrainConfig, train


def test_the_minutes_that_fit_a_fish_and_the_frames_scored():
    cfg = AdaptConfig(minutes=(0, 1, 2, 5, 10), min_eval_minutes=2.0, val_share=0.25)
    used, dropped, first = plan_minutes(n_frames=1400, fps=2.0, context=12, cfg=cfg)  # 11.7 minutes
    assert used == [0, 1, 2, 5] and list(dropped) == [10] and first == 600
    used, dropped, _ = plan_minutes(n_frames=1500, fps=0.5, context=12, cfg=cfg)  # 1 minute: 30 frames
    assert 1 not in used and "gives fewer than 8 windows of 13" in dropped[1]
    used, dropped, _ = plan_minutes(n_frames=1400, fps=2.0, context=12, cfg=cfg, scored_frames=900)
    assert 5 not in used and "or 900 frames to score" in dropped[5]  # a rollout must fit after it


def test_windows_confined_to_frames(probs_dir):
    fish = open_probs(probs_dir / "subject_1.h5", 7)
    windows = Windows([fish], 6, frames=(10, 30))
    starts = [s for _, s in windows.index]
    assert starts[0] == 10 and starts[-1] + 6 == 29 and len(windows) == 14
    assert len(Windows([fish], 6, frames=(0, 0))) == 0


@pytest.fixture(scope="module")
def trained(tmp_path_factory, probs_dir):
    folder = tmp_path_factory.mktemp("trained")
    train_sbm(command(folder, probs_dir, train={**TRAIN, "epochs": 3, "adamw_lr": 3e-3}))
    return folder / "run.pt"


def test_a_fine_tune_starts_from_the_trained_weights_and_keeps_them_unless_it_beats_them(tmp_path, probs_dir, trained):
    path = str(probs_dir / "subject_5.h5")
    settings = TrainConfig(batch_size=4, epochs=50, max_steps=8, val_per_epoch=1, val_windows=8, adamw_lr=1e-2)
    model, _ = load_weights(trained)
    summary = train(
        model.cfg, settings, [path], [path], tmp_path / "tune", tmp_path / "tuned.pt", progress=False,
        init=trained, train_frames=(0, 40), val_frames=(40, 60),
    )  # fmt: skip
    with open(tmp_path / "tune/metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["val_loss"]]
    assert rows[0]["step"] == "0" and summary["best"]["val_mae"] <= float(rows[0]["val_mae"])
    best = min(rows, key=lambda r: float(r["val_mae"]))  # the kept step is the best validated one, 0 included
    assert summary["best"]["step"] == int(best["step"]) and summary["best"]["val_mae"] == float(best["val_mae"])
    if summary["best"]["step"] == 0:  # the zero-shot weights stayed the best
        assert torch.equal(load_weights(tmp_path / "tuned.pt")[0].head.weight, model.head.weight)
    other = SBMConfig(**{**MODEL, "d_model": 8, "n_stimuli": 3})
    with pytest.raises(InputError, match="its model config or stimulus columns differ"):
        train(other, settings, [path], [path], tmp_path / "x", tmp_path / "x.pt", progress=False, init=trained)


def test_a_held_out_fish_adapted_over_minutes(tmp_path, probs_dir, trained):
    """A new fish of 200 frames at 2 Hz: k = 0, 0.5, 0.6 minutes (60 and 72 frames), the rest scored;
    5 minutes do not fit."""
    context = load_weights(trained)[0].cfg.context
    fish = [open_probs(probs_dir / f"subject_{i}.h5", context + 1) for i in (1, 2, 3)]
    forecasters = fit_forecasters(
        Windows(fish[:2], context), Windows(fish[2:], context), ForecasterConfig(windows=20, steps=100)
    )
    path = tmp_path / "subject_5.h5"
    write_probs(path, n_frames=200, n_neurons=34, seed=5, subject="subject_5")
    cfg = AdaptConfig(minutes=(0, 0.5, 0.6, 5), min_eval_minutes=0.5, steps=4, batch_size=2, val_windows=4)
    evaluate = {"stride": 5, "batch_size": 4, "rollout_horizon": 3, "rollout_starts": 2}
    result = adapt_fish(trained, forecasters, path, cfg, ForecasterConfig(windows=10, steps=50), evaluate, tmp_path)
    assert [r["minutes"] for r in result["by_minutes"]] == [0, 0.5, 0.6] and list(result["dropped_minutes"]) == ["5"]
    assert result["first_scored_frame"] == round(0.6 * 60 * result["fps"])
    persistence = {r["next_step_mae"]["persistence"] for r in result["by_minutes"]}
    assert len(persistence) == 1  # one scored segment for every k
    zero = result["by_minutes"][0]
    assert zero["sbm_best_step"] == 0 and zero["tune_s"] == 0 and set(zero["rollout_mae"]) >= {"sbm", "ridge", "mlp"}
    summary = summarise_adaptation([result], cfg)
    assert summary["minutes"] == [0, 0.5, 0.6] and len(summary["rollout_mae"]["sbm"]) == 3
    json.dumps(summary)  # the result is plain JSON


def test_fish_at_another_frame_rate_are_refused_in_training_and_evaluation(tmp_path, probs_dir, trained):
    fast = tmp_path / "subject_5.h5"
    shutil.copy(probs_dir / "subject_5.h5", fast)
    with h5py.File(fast, "r+") as f:
        f.attrs["fps"] = 3.5
    with pytest.raises(
        InputError, match=r"frame rate more than 50% from the SBM's training fish \(2 Hz\): subject_5.h5"
    ):
        load_evaluated(trained, None, ["subject_5"], [fast])
    model, _ = load_weights(trained)
    settings = TrainConfig(batch_size=4, epochs=1, max_steps=1, val_windows=4)
    train_files = [str(probs_dir / f"subject_{i}.h5") for i in (1, 2)]
    with pytest.raises(InputError, match=r"from the training fish's median \(2 Hz\): subject_5.h5 at 3.5 Hz"):
        train(model.cfg, settings, train_files, [str(fast)], tmp_path / "run", tmp_path / "w.pt", progress=False)


def test_the_adaptation_summary_pools_the_fish_by_their_values():
    def fish(mae, values, rollout_values):
        row = {"minutes": 0, "next_step_mae": {"sbm": mae}, "rollout_mae": {"sbm": [mae, mae]}, "tune_s": 0.0}
        return {"by_minutes": [{**row, "values": values, "rollout_values": rollout_values}]}

    summary = summarise_adaptation([fish(0.1, 300, 10), fish(0.4, 100, 30)], AdaptConfig(minutes=(0,)))
    assert summary["next_step_mae"]["sbm"] == [pytest.approx((0.1 * 300 + 0.4 * 100) / 400)]
    assert summary["rollout_mae"]["sbm"] == [pytest.approx((0.1 * 10 + 0.4 * 30) / 40)]
