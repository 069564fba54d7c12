"""Next-step evaluation on held-out fish: baselines with known answers, no leak of held-out fish."""

import h5py
import numpy as np
import pytest
import yaml

from conftest import load_script
from sbm.eval.next_step import next_step_errors, summarise
from sbm.model.sbm import SBM, SBMConfig, save_weights


def test_baselines_match_a_direct_computation(probs_dir):
    model = SBM(SBMConfig(n_stimuli=3, context=6, d_model=16, n_heads=2, n_layers=1, spatial="dense"))
    result = next_step_errors(model, probs_dir / "subject_4.h5", stride=5, batch_size=3)
    with h5py.File(probs_dir / "subject_4.h5") as f:
        p = f["prob"][()].astype(np.float64)
    starts = range(0, 60 - 6, 5)
    persistence = sum(np.abs(p[s + 6] - p[s + 5]).sum() for s in starts)
    context_mean = sum(np.abs(p[s + 6] - p[s : s + 6].mean(0)).sum() for s in starts)
    assert result["windows"] == len(starts) and result["values"] == len(starts) * 32
    assert result["abs_error_sums"]["persistence"] == pytest.approx(persistence, rel=1e-5)
    assert result["abs_error_sums"]["context_mean"] == pytest.approx(context_mean, rel=1e-5)


def test_a_perfect_forecaster_scores_zero_and_ratios_are_relative_to_baselines():
    fish = [{"subject": "subject_1", "windows": 2, "values": 10, "abs_error_sums": {"sbm": 1.0, "persistence": 2.0, "context_mean": 4.0}},
            {"subject": "subject_2", "windows": 3, "values": 30, "abs_error_sums": {"sbm": 3.0, "persistence": 2.0, "context_mean": 4.0}}]
    s = summarise(fish)
    assert s["mae"] == {"sbm": 0.1, "persistence": 0.1, "context_mean": 0.2}
    assert s["sbm_over_baseline"] == {"persistence": 1.0, "context_mean": 0.5}
    assert s["per_subject"]["subject_1"]["sbm"] == 0.1 and s["windows"] == 5


def test_weights_trained_on_a_held_out_fish_are_refused(tmp_path, probs_dir, capsys):
    model = SBM(SBMConfig(n_stimuli=3, context=6, d_model=16, n_heads=2, n_layers=1, spatial="dense"))
    save_weights(model, tmp_path / "w.pt", training={"train_fish": ["subject_1", "subject_4"], "val_fish": ["subject_2"]})
    (tmp_path / "split.yaml").write_text(yaml.safe_dump({"train": ["subject_1"], "val": ["subject_2"], "heldout": ["subject_4"]}))
    from sbm.cli import run

    args = ["--weights", str(tmp_path / "w.pt"), "--split", str(tmp_path / "split.yaml"), "--probs-dir", str(probs_dir), "--out", str(tmp_path / "e.json")]
    assert run(load_script("evaluate_next_step")._main, args) == 1
    assert "was trained or selected on held-out fish ['subject_4']" in capsys.readouterr().err
    assert not (tmp_path / "e.json").exists()
