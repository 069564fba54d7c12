"""Next-step evaluation on held-out fish: baselines with known answers, no leak of held-out fish."""

import h5py
import numpy as np
import pytest
import torch
import yaml
from conftest import run_script, write_probs

from sbm.data.windows import Windows, collate, open_probs, window
from sbm.eval.metrics import Reliability
from sbm.eval.next_step import next_step_errors, summarise
from sbm.model.baselines import Forecasters
from sbm.model.forecast import sbm_forecaster
from sbm.model.poco import POCOConfig, poco_forecaster
from sbm.model.sbm import SBM, SBMConfig, load_weights, save_weights
from sbm.train import poco as poco_training
from sbm.train.baselines import ForecasterConfig, fit_forecasters, fit_mlp, fit_ridge
from sbm.train.sbm import TrainConfig, train


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
    fish = [
        {
            "subject": "subject_1",
            "windows": 2,
            "values": 10,
            "abs_error_sums": {"sbm": 1.0, "persistence": 2.0, "context_mean": 4.0},
        },
        {
            "subject": "subject_2",
            "windows": 3,
            "values": 30,
            "abs_error_sums": {"sbm": 3.0, "persistence": 2.0, "context_mean": 4.0},
        },
    ]
    s = summarise(fish)
    assert s["mae"] == {"sbm": 0.1, "persistence": 0.1, "context_mean": 0.2}
    assert s["sbm_over_baseline"] == {"persistence": 1.0, "context_mean": 0.5}
    assert s["per_subject"]["subject_1"]["sbm"] == 0.1 and s["windows"] == 5


def test_weights_trained_on_a_held_out_fish_are_refused(tmp_path, probs_dir, capsys):
    model = SBM(SBMConfig(n_stimuli=3, context=6, d_model=16, n_heads=2, n_layers=1, spatial="dense"))
    save_weights(
        model, tmp_path / "w.pt", training={"train_fish": ["subject_1", "subject_4"], "val_fish": ["subject_2"]}
    )
    (tmp_path / "split.yaml").write_text(
        yaml.safe_dump({"train": ["subject_1"], "val": ["subject_2"], "heldout": ["subject_4"]})
    )
    args = [
        "--weights",
        tmp_path / "w.pt",
        "--split",
        tmp_path / "split.yaml",
        "--heldout",
        probs_dir / "subject_4.h5",
        "--metrics",
        tmp_path / "e.json",
        "--states",
        tmp_path / "s.h5",
    ]
    assert run_script("evaluate_next_step", args) == 1
    assert "was trained or selected on held-out fish ['subject_4']" in capsys.readouterr().err
    assert not (tmp_path / "e.json").exists()


def test_neuron_mean_is_the_causal_mean_of_each_neurons_past(probs_dir):
    model = SBM(SBMConfig(n_stimuli=3, context=6, d_model=16, n_heads=2, n_layers=1, spatial="dense"))
    result = next_step_errors(model, probs_dir / "subject_4.h5", stride=7, batch_size=2)
    with h5py.File(probs_dir / "subject_4.h5") as f:
        p = f["prob"][()].astype(np.float64)
    expected = sum(np.abs(p[s + 6] - p[: s + 6].mean(0)).sum() for s in range(0, 54, 7))
    assert result["abs_error_sums"]["neuron_mean"] == pytest.approx(expected, rel=1e-5)


def test_ridge_recovers_a_linear_rule_and_forecasters_round_trip(tmp_path):
    g = torch.Generator().manual_seed(0)
    x, x_val = (
        torch.rand(5000, 4, generator=g, dtype=torch.float64),
        torch.rand(500, 4, generator=g, dtype=torch.float64),
    )
    rule = lambda a: 0.6 * a[:, 3] + 0.2 * a[:, 0] + 0.1  # noqa: E731
    w, info = fit_ridge(x, rule(x), x_val, rule(x_val), alphas=(1e-8, 1.0))
    torch.testing.assert_close(w, torch.tensor([0.2, 0, 0, 0.6, 0.1], dtype=torch.float64), atol=1e-5, rtol=0)
    assert info["alpha"] <= 1e-8 and info["val_mae_by_alpha"][1.0] > info["val_mae_by_alpha"][1e-8]


def test_searches_whose_best_sits_on_an_edge_go_past_it():
    """Ridge: noisy targets of a weak rule want a penalty far above the grid's top, and get it. MLP:
    a learning rate too small to converge in the given steps keeps it training while it improves."""
    g = torch.Generator().manual_seed(0)
    x, x_val = (torch.rand(n, 50, generator=g, dtype=torch.float64) for n in (200, 2000))
    noisy = lambda a: (0.5 + 0.01 * a[:, 0] + 0.3 * torch.randn(len(a), generator=g, dtype=torch.float64)).clamp(0, 1)  # noqa: E731
    _, info = fit_ridge(x, noisy(x), x_val, noisy(x_val), alphas=(1e-6, 1e-5))
    assert info["alpha"] > 1e-5 and info["alphas_added_past_the_grid"][0] == 1e-4
    assert info["alpha"] in info["alphas_added_past_the_grid"]
    rule = lambda a: torch.sigmoid(4 * a[:, 0] - 2)  # noqa: E731
    cfg = ForecasterConfig(hidden=8, steps=200, batch=64, lr=1e-4)
    _, info = fit_mlp(x.float(), rule(x).float(), x_val.float(), rule(x_val).float(), cfg)
    assert info["steps_run"] > cfg.steps and info["best_step"] > cfg.steps


def test_a_feature_never_seen_in_training_changes_no_forecast():
    """A stimulus absent from the fitted data (its column always 0) leaves ridge's and the MLP's
    forecasts unchanged when it appears: neither learned anything about it."""
    g = torch.Generator().manual_seed(0)
    x, x_val = (torch.rand(n, 5, generator=g, dtype=torch.float64) for n in (2000, 500))
    x[:, 4] = x_val[:, 4] = 0  # never shown
    rule = lambda a: torch.sigmoid(4 * a[:, 0] - 2)  # noqa: E731
    w, _ = fit_ridge(x, rule(x), x_val, rule(x_val), alphas=(1e-6,))
    mlp, _ = fit_mlp(
        x.float(), rule(x).float(), x_val.float(), rule(x_val).float(), ForecasterConfig(hidden=8, steps=100)
    )
    shown = x_val.clone()
    shown[:, 4] = 1
    assert w[4] == 0
    with torch.no_grad():
        torch.testing.assert_close(mlp(shown.float()), mlp(x_val.float()), rtol=0, atol=0)


def test_a_stimulus_never_seen_in_training_changes_no_forecast_of_the_sbm_or_poco(tmp_path):
    """Training fish that never show stim_2: on a new fish that does, the trained SBM and POCO
    read it as no stimulus, not as the random start of its embedding."""
    paths = [tmp_path / f"subject_{i}.h5" for i in (1, 2, 3)]
    for i, path in enumerate(paths):
        write_probs(path, n_frames=80, seed=i, subject=path.stem)
        with h5py.File(path, "r+") as f:
            stimulus = f["stimulus"][()]
            stimulus[:, 2] = 0  # frames of stim_2 become frames of no stimulus
            f["stimulus"][...] = stimulus
    context = 6
    fish = [open_probs(p, context + 1) for p in paths]
    batch = collate([Windows(fish, context)[0]])
    prob, shown = window(batch["prob"], batch["stimulus"], 0, context)
    shown, none = shown.clone(), shown.clone()
    shown[:, -1] = torch.tensor([0.0, 0.0, 1.0])  # the forecast frame shows stim_2
    none[:, -1] = 0

    sbm_cfg = SBMConfig(d_model=16, n_heads=2, n_layers=1, cluster_size=8, n_centroids=8, context=context)
    train_cfg = TrainConfig(batch_size=2, epochs=1, max_steps=3, val_windows=4)
    train(sbm_cfg, train_cfg, [str(p) for p in paths[:2]], [str(paths[2])], tmp_path / "run", tmp_path / "sbm.pt")
    sbm = load_weights(tmp_path / "sbm.pt")[0]
    poco, _ = poco_training.train_poco(
        Windows(fish[:2], context),
        Windows(fish[2:], context),
        POCOConfig(d_model=16, n_heads=2, n_latents=4, n_latent_layers=1, mlp_hidden=16, n_freqs=4),
        poco_training.TrainConfig(steps=3, batch_size=2, val_every=3, val_windows=4),
    )
    assert sbm.stimulus_embed.weight[:, 2].abs().sum() == 0 and sbm.stimulus_embed.weight[:, 1].abs().sum() > 0
    for forecaster in (sbm_forecaster(sbm), poco_forecaster(poco)):
        with torch.no_grad():
            a, b = (forecaster(prob, batch["xyz"], stim, batch["mask"]) for stim in (shown, none))
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_forecasters_read_each_neurons_context_and_the_forecast_frames_stimulus(probs_dir, tmp_path):
    fish = [open_probs(probs_dir / f"subject_{i}.h5", 7) for i in (1, 2)]
    cfg = ForecasterConfig(windows=20, neurons_per_window=16, steps=200)
    forecasters = fit_forecasters(Windows(fish[:1], 6), Windows(fish[1:], 6), cfg)
    ridge = forecasters.info["ridge"]["ridge"]
    assert ridge["alpha"] in [*cfg.ridge_alphas, *ridge["alphas_added_past_the_grid"]]
    assert ridge["alpha"] == min(ridge["val_mae_by_alpha"], key=ridge["val_mae_by_alpha"].get)  # the best one kept
    assert forecasters.info["n_features"] == 6 + 3
    torch.save(forecasters.state(), tmp_path / "f.pt")
    reloaded = Forecasters.from_state(torch.load(tmp_path / "f.pt", weights_only=False))
    batch = collate([Windows(fish, 6)[0], Windows(fish, 6)[60]])  # 26 and 28 neurons: padded

    def forecast(name, frames):  # the forecast of frame 6 from the window of frames 0..5
        prob, stimulus = window(frames, batch["stimulus"], 0, 6)
        return reloaded.forecaster(name)(prob, batch["xyz"], stimulus, batch["mask"])

    out = {name: forecast(name, batch["prob"]) for name in ("ridge", "mlp")}
    assert out["ridge"].shape == (2, 28) and out["ridge"][0, 26:].abs().sum() == 0
    x = torch.cat((batch["prob"][1, :6, 5], batch["stimulus"][1, 6], torch.ones(1))).double()
    assert float(out["ridge"][1, 5]) == pytest.approx(float((x @ reloaded.ridges["ridge"]).clamp(0, 1)), rel=1e-5)
    changed = batch["prob"].clone()
    changed[:, 6] = 1 - changed[:, 6]  # the frame being forecast is never read
    assert torch.equal(forecast("mlp", changed), out["mlp"])


def test_reliability_bins_and_ece_have_known_answers():
    perfect = Reliability(bins=4)
    p = torch.tensor([0.1, 0.3, 0.6, 0.9])
    perfect.update(p, p)
    assert perfect.result()["ece"] == 0 and perfect.result()["count"] == [1, 1, 1, 1]
    biased = Reliability(bins=10)
    biased.update(torch.full((3, 5), 0.5), torch.full((3, 5), 0.2), mask=torch.tensor([[True] * 4 + [False]] * 3))
    r = biased.result()
    assert r["ece"] == pytest.approx(0.3) and r["count"][5] == 12 and sum(r["count"]) == 12
    assert (
        r["mean_predicted"][5] == pytest.approx(0.5)
        and r["mean_observed"][5] == pytest.approx(0.2)
        and r["mean_observed"][0] is None
    )
    two = Reliability(bins=2)
    two.update(torch.tensor([0.2, 0.2, 0.9]), torch.tensor([0.0, 0.2, 1.0]))  # bins: |0.2-0.1| x2, |0.9-1.0| x1
    assert two.result()["ece"] == pytest.approx((2 * 0.1 + 1 * 0.1) / 3)
    assert two.result()["count"] == [2, 1] and two.result()["bin_edges"] == [0, 0.5, 1]


def test_mean_activity_follows_the_observed_frames_per_window(probs_dir):
    model = SBM(SBMConfig(n_stimuli=3, context=6, d_model=16, n_heads=2, n_layers=1, spatial="dense"))
    reliability = {"persistence": Reliability()}
    result = next_step_errors(model, probs_dir / "subject_4.h5", stride=5, batch_size=3, reliability=reliability)
    with h5py.File(probs_dir / "subject_4.h5") as f:
        p = f["prob"][()]
    activity = result["mean_activity"]
    assert activity["frame"] == [s + 6 for s in range(0, 54, 5)]
    np.testing.assert_allclose(activity["observed"], p[activity["frame"]].mean(axis=1), rtol=1e-5)
    # The recorded (inferred) activity is "observed" in next_step.json: "truth" is the simulator's only.
    assert set(summarise([result])["mean_activity"]["subject_4"]) == {"frame", "observed", "sbm"}
    assert sum(reliability["persistence"].result()["count"]) == result["values"]
