"""Autoregressive rollouts: the first step is the next-step forecast, no future truth leaks in,
and the growth exponent of a known power law comes back."""

import h5py
import numpy as np
import pytest
import torch

from sbm.data.windows import Windows, collate, model_inputs, open_probs
from sbm.eval.rollout import growth_exponent, rollout_errors, summarise_rollouts
from sbm.model.forecast import abs_error, persistence, rollout, sbm_forecaster
from sbm.model.sbm import SBM, SBMConfig


def setup(probs_dir, horizon=8):
    fish = open_probs(probs_dir / "subject_3.h5", 7)
    torch.manual_seed(0)
    model = SBM(SBMConfig(n_stimuli=3, context=6, d_model=16, n_heads=2, n_layers=1, cluster_size=10)).eval()
    # Windows of context + horizon frames: the first 6 start the rollout, the rest are the truth.
    long = Windows([fish], context=6 + horizon - 1)
    batch = collate([long[0], long[20]])
    return model, batch


def test_first_rollout_step_is_the_next_step_forecast(probs_dir):
    model, batch = setup(probs_dir)
    forecast = sbm_forecaster(model)
    out = rollout(forecast, batch["prob"][:, :6], batch["xyz"], batch["stimulus"][:, :14], batch["mask"], horizon=8)
    assert out.shape == (2, 8, 30)
    window = {k: (v[:, :7] if k in ("prob", "stimulus") else v) for k, v in batch.items()}
    inputs, _ = model_inputs(window)
    torch.testing.assert_close(out[:, 0], torch.sigmoid(model(*inputs)[:, -1]))


def test_rollouts_never_read_the_true_future(probs_dir):
    model, batch = setup(probs_dir)
    forecast = sbm_forecaster(model)
    out = rollout(forecast, batch["prob"][:, :6], batch["xyz"], batch["stimulus"], batch["mask"], horizon=8)
    assert batch["prob"].shape[1] == 14  # the true future frames 6..13 exist but are not passed
    changed_stimulus = batch["stimulus"].clone()
    changed_stimulus[:, 10:] = changed_stimulus[:, 10:].flip(-1)  # the stimulus of frames 10+ changes
    again = rollout(forecast, batch["prob"][:, :6], batch["xyz"], changed_stimulus, batch["mask"], horizon=8)
    torch.testing.assert_close(again[:, :4], out[:, :4], atol=0, rtol=0)  # forecasts of frames 6..9
    assert (again[:, 4:] - out[:, 4:]).abs().max() > 0


def test_persistence_rolls_out_to_the_last_true_frame(probs_dir):
    _, batch = setup(probs_dir)
    out = rollout(persistence, batch["prob"][:, :6], batch["xyz"], batch["stimulus"], batch["mask"], horizon=8)
    assert torch.equal(out, batch["prob"][:, 5:6].expand(2, 8, 30))


def test_rollout_needs_the_whole_future_stimulus(probs_dir):
    _, batch = setup(probs_dir)
    with pytest.raises(ValueError, match="stimulus covers 10 frames"):
        rollout(persistence, batch["prob"][:, :6], batch["xyz"], batch["stimulus"][:, :10], batch["mask"], horizon=8)


@pytest.mark.parametrize("b", [0.3, 1.0, 1.7])
def test_growth_exponent_of_a_power_law(b):
    h = np.arange(1, 33)
    assert growth_exponent(h, 0.02 * h**b) == pytest.approx(b)
    with pytest.raises(ValueError):
        growth_exponent(h, np.zeros(32))


def test_rollout_errors_of_persistence_match_a_direct_computation(probs_dir):
    model, _ = setup(probs_dir)
    result = rollout_errors(model, probs_dir / "subject_3.h5", horizon=5, starts=3, batch_size=2)
    with h5py.File(probs_dir / "subject_3.h5") as f:
        p = f["prob"][()].astype(np.float64)
    starts = result["start_frames"]
    assert len(starts) == 3 and starts[0] == 0
    expected = [np.mean([np.abs(p[s + 6 + h] - p[s + 5]).mean() for s in starts]) for h in range(5)]
    np.testing.assert_allclose(result["mae"]["persistence"], expected, rtol=1e-5)
    np.testing.assert_allclose(
        result["mean_activity"]["observed"],
        [np.mean([p[s + 6 + h].mean() for s in starts]) for h in range(5)],
        rtol=1e-5,
    )
    summary = summarise_rollouts([result])
    assert summary["horizon"] == [1, 2, 3, 4, 5] and summary["starts"] == 3
    # rollout.json calls the recorded (inferred) activity "observed"; "truth" is the simulator's only.
    assert set(summary["mean_activity"]) == {"observed", "sbm", "persistence"}
    assert summary["growth_exponent"]["persistence"] == pytest.approx(growth_exponent(np.arange(1, 6), expected))


def test_rollouts_over_fish_weigh_every_value_the_same(probs_dir):
    """Fish of 26 and 30 neurons: the pooled MAE is every |error| over both fish divided by their count."""
    model, _ = setup(probs_dir)
    per_fish = [rollout_errors(model, probs_dir / f"subject_{i}.h5", horizon=4, starts=3) for i in (1, 3)]
    assert [f["neurons"] for f in per_fish] == [26, 30]
    sums = sum(np.asarray(f["mae"]["persistence"]) * f["starts"] * f["neurons"] for f in per_fish)
    pooled = sums / sum(f["starts"] * f["neurons"] for f in per_fish)
    np.testing.assert_allclose(summarise_rollouts(per_fish)["mae"]["persistence"], pooled, rtol=1e-12)
    by_start = sum(np.asarray(f["mae"]["persistence"]) for f in per_fish) / 2  # each start alike: not the rule
    assert np.abs(pooled - by_start).max() > 0


def test_an_edit_hook_changes_every_window_before_it_is_read(probs_dir):
    _, batch = setup(probs_dir)

    def excite_neuron_3(step, frames):  # a perturbation: neuron 3 held at 1 in the newest frame
        frames = frames.clone()
        frames[:, -1, 3] = 1.0
        return frames

    out = rollout(
        persistence,
        batch["prob"][:, :6],
        batch["xyz"],
        batch["stimulus"],
        batch["mask"],
        horizon=8,
        edit=excite_neuron_3,
    )
    assert torch.equal(out[:, :, 3], torch.ones(2, 8))
    untouched = [n for n in range(30) if n != 3]
    assert torch.equal(out[:, :, untouched], batch["prob"][:, 5:6, untouched].expand(2, 8, 29))


def test_gradients_flow_through_a_rollout_only_when_asked(probs_dir):
    model, batch = setup(probs_dir)
    start = batch["prob"][:, :6].clone().requires_grad_(True)
    args = (sbm_forecaster(model), start, batch["xyz"], batch["stimulus"][:, :9], batch["mask"], 3)
    assert not rollout(*args).requires_grad
    out = rollout(*args, grad=True)
    out[:, -1].sum().backward()
    assert start.grad is not None and start.grad.abs().sum() > 0


def test_absolute_errors_count_real_neurons_only():
    truth = torch.zeros(2, 3, 4)
    pred = torch.full((2, 3, 4), 0.5)
    pred[1, :, 3] = 100.0  # padding of the second window: never counted
    mask = torch.tensor([[True] * 4, [True] * 3 + [False]])
    assert abs_error(pred, truth, mask).shape == (2, 3) and abs_error(pred, truth, mask).dtype == torch.float64
    assert float(abs_error(pred, truth, mask).sum() / (mask.sum() * 3)) == pytest.approx(0.5)
    assert abs_error(pred[:, 0], truth[:, 0], mask).tolist() == [2.0, 1.5]
