"""Known-answer scoring against the simulator's truth, the ceiling, the baselines that read other
neurons, and the SBM without spatial attention."""

import h5py
import numpy as np
import pytest
import torch

from sbm.data.windows import Windows, collate, open_probs, window
from sbm.eval.next_step import next_step_errors, summarise
from sbm.eval.rollout import rollout_errors, summarise_rollouts
from sbm.eval.truth import population_context, read_truth
from sbm.model.baselines import neighbour_context, principal_context
from sbm.model.sbm import SBM, SBMConfig
from sbm.train.baselines import ForecasterConfig, fit_forecasters

POPULATIONS = 3


def write_simulated(folder, subject, n_frames=80, n_neurons=30, seed=0, noise=0.0):
    """A probs file and its ground_truth.h5: each population's true probability q follows
    q(t + 1) = 0.05 + 0.9 q(t) + 0.05 e(t) (e standard normal), every neuron's true probability is
    its population's, and the recorded probabilities are the truth plus noise (clipped)."""
    rng = np.random.default_rng(seed)
    population = np.arange(n_neurons) % POPULATIONS
    q = np.zeros((n_frames, POPULATIONS))
    q[0] = rng.uniform(0.1, 0.9, POPULATIONS)
    for t in range(1, n_frames):
        q[t] = np.clip(0.05 + 0.9 * q[t - 1] + 0.05 * rng.normal(size=POPULATIONS), 0.01, 0.99)
    true_prob = q[:, population]
    observed = np.clip(true_prob + noise * rng.normal(size=true_prob.shape), 0, 1)
    cell_id = rng.permutation(1000)[:n_neurons]
    folder = folder / subject
    folder.mkdir(parents=True)
    with h5py.File(folder / "probs.h5", "w") as f:
        f["prob"] = observed.astype(np.float32)
        f["xyz"] = rng.uniform(0, 100, (n_neurons, 3)).astype(np.float32)
        f["stimulus"] = np.eye(2, dtype=np.float32)[np.arange(n_frames) % 2]
        f["cell_id"] = cell_id
        f.attrs.update(subject=subject, fps=2.0, stimulus_names=["a", "b"])
    order = rng.permutation(n_neurons)  # the truth lists the neurons in another order
    with h5py.File(folder / "ground_truth.h5", "w") as g:
        g["rate"] = (-np.log1p(-true_prob[:, order])).astype(np.float32)  # lambda with 1 - exp(-lambda) = q
        g["spikes"] = np.zeros((n_frames, n_neurons), np.uint8)
        g["cell_id"], g["population"] = cell_id[order], population[order]
        g["connectivity"] = np.eye(POPULATIONS)
        g["population_rate"] = q.astype(np.float32)
        g.attrs.update(fps=2.0, population_names=[f"p{k}" for k in range(POPULATIONS)], subject=subject)
    return folder / "probs.h5", folder / "ground_truth.h5"


def tiny_sbm(context=6, spatial="dense"):
    torch.manual_seed(0)
    return SBM(SBMConfig(n_stimuli=2, context=context, d_model=16, n_heads=2, n_layers=1, spatial=spatial))


def test_truth_is_matched_by_cell_id_and_is_one_minus_exp_of_minus_lambda(tmp_path):
    probs, truth_path = write_simulated(tmp_path, "subject_1")
    truth = read_truth(probs, truth_path)
    with h5py.File(probs) as f:  # noise 0: the recorded probabilities are the truth
        np.testing.assert_allclose(truth.prob, f["prob"][()], atol=1e-6)
    np.testing.assert_array_equal(truth.population, np.arange(30) % POPULATIONS)
    np.testing.assert_allclose(truth.population_prob, truth.prob[:, :POPULATIONS], atol=1e-6)


def test_scores_against_the_truth_equal_a_direct_computation(tmp_path):
    probs, truth_path = write_simulated(tmp_path, "subject_1", noise=0.2)
    truth = read_truth(probs, truth_path)
    result = next_step_errors(tiny_sbm(), probs, stride=3, batch_size=4, truth=truth)
    with h5py.File(probs) as f:
        p = f["prob"][()].astype(np.float64)
    starts = range(0, 80 - 6, 3)
    true = truth.prob.astype(np.float64)
    direct = sum(np.abs(p[s + 5] - true[s + 6]).sum() for s in starts)
    pop = np.arange(30) % POPULATIONS
    means = lambda x: np.array([x[pop == k].mean() for k in range(POPULATIONS)])  # noqa: E731
    direct_population = sum(np.abs(means(p[s + 5]) - means(true[s + 6])).sum() for s in starts)
    scored = result["truth"]
    assert scored["values"] == len(starts) * 30 and scored["population_values"] == len(starts) * POPULATIONS
    assert scored["abs_error_sums"]["persistence"] == pytest.approx(direct, rel=1e-5)
    assert scored["population_abs_error_sums"]["persistence"] == pytest.approx(direct_population, rel=1e-5)
    # ... and the same forecasts against the recorded probabilities are the usual scores.
    assert result["abs_error_sums"]["persistence"] == pytest.approx(
        sum(np.abs(p[s + 5] - p[s + 6]).sum() for s in starts), rel=1e-5
    )
    summary = summarise([result])["truth"]
    assert summary["mae"]["persistence"] == pytest.approx(direct / (len(starts) * 30), rel=1e-5)


def test_the_ceiling_recovers_known_population_dynamics_and_scores_between_floor_and_it(tmp_path):
    fish = [write_simulated(tmp_path, f"subject_{i}", seed=i, noise=0.25) for i in (1, 2, 3)]
    opened = [open_probs(p, 7) for p, _ in fish]
    truths = [read_truth(p, t) for p, t in fish]
    # One small penalty, so that the weights are the dynamics' (a grid extends to the penalty that
    # validates best, whose shrinkage spreads the weight over the collinear frames).
    cfg = ForecasterConfig(windows=60, neurons_per_window=30, steps=100, ridge_alphas=(1e-8,))
    forecasters = fit_forecasters(Windows(opened[:1], 6), Windows(opened[1:2], 6), cfg, ([truths[0]], [truths[1]]))
    # Features: 6 own frames, 2 stimulus columns, then 6 frames of the population's truth; + bias.
    for name in ("ceiling", "ceiling_inferred_targets"):  # fitted to the true and to the recorded probabilities
        w = forecasters.ridges[name]
        assert float(w[-2]) == pytest.approx(0.9, abs=0.08)  # q(t + 1) = 0.05 + 0.9 q(t) on the last frame
    held = fish[2]
    fitted = {
        "ridge": (forecasters.forecaster("ridge"), False),
        **{
            name: (forecasters.forecaster(name, torch.from_numpy(truths[2].population)), True)
            for name in ("ceiling", "ceiling_inferred_targets")
        },
    }
    result = summarise([next_step_errors(tiny_sbm(), held[0], stride=1, fitted=fitted, truth=truths[2])])["truth"]
    assert result["mae"]["ceiling"] < 0.6 * result["mae"]["ridge"]
    assert result["floor_to_ceiling"]["ridge"] == 0 and result["floor_to_ceiling"]["ceiling"] == 1
    assert result["floor_to_reachable"]["ridge"] == 0 and result["floor_to_reachable"]["ceiling_inferred_targets"] == 1
    rolled = summarise_rollouts([rollout_errors(tiny_sbm(), held[0], 8, 4, fitted=fitted, truth=truths[2])])
    assert len(rolled["truth"]["mae"]["ceiling"]) == 8
    assert max(rolled["truth"]["mae"]["ceiling"]) < min(rolled["truth"]["mae"]["persistence"][1:])


def test_the_oracle_reads_only_frames_before_the_forecast_one():
    truth = np.arange(10, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)  # frame t holds t
    context = population_context(truth, [0, 3], 5)  # rows of frames s - 1 .. s + 3
    assert context[1, :, 0].tolist() == [2, 3, 4, 5, 6] and context[0, :, 0].tolist() == [0, 0, 1, 2, 3]
    stimulus = torch.zeros(2, 5, 1)
    _, read = window(torch.zeros(2, 5, 1), torch.cat((stimulus, context), dim=-1), 0, 4)
    assert read[1, -1, 1] == 6 and read[1, 0, 1] == 3  # the forecast of frame 7 reads the truth of frames 3..6


def test_neighbour_context_is_the_mean_of_the_nearest_other_neurons_of_the_same_fish():
    g = torch.Generator().manual_seed(0)
    prob, xyz = torch.rand(2, 4, 9, generator=g), torch.rand(2, 9, 3, generator=g)
    mask = torch.ones(2, 9, dtype=torch.bool)
    mask[1, 7:] = False  # the second fish has 7 neurons: padding is never a neighbour
    out = neighbour_context(prob, xyz, mask, k=3)
    for b, n in ((0, 9), (1, 7)):
        d = torch.cdist(xyz[b, :n], xyz[b, :n]).fill_diagonal_(float("inf"))
        nearest = d.topk(3, largest=False).indices
        torch.testing.assert_close(out[b, :n], prob[b, :, :n].T[nearest].mean(dim=1))
    assert out[1, 7:].abs().sum() == 0


def test_principal_context_keeps_shared_dynamics_and_ignores_sign_and_padding():
    g = torch.Generator().manual_seed(0)
    shared = torch.rand(1, 6, 1, generator=g)
    prob = 0.3 + shared * torch.rand(1, 1, 20, generator=g)  # rank one about each neuron's mean... nearly
    prob = torch.cat((prob, torch.rand(1, 6, 4, generator=g)), dim=2)  # 4 padded neurons of noise
    mask = torch.ones(1, 24, dtype=torch.bool)
    mask[0, 20:] = False
    out = principal_context(prob, mask, components=1)
    torch.testing.assert_close(out[0, :20, :6], prob[0, :, :20].T, atol=1e-5, rtol=0)  # rank one: kept whole
    torch.testing.assert_close(out[0, :20, 6:], prob[0, :, :20].mean(dim=1).expand(20, 6))  # the mean context
    changed = prob.clone()
    changed[0, :, 20:] = torch.rand(6, 4, generator=g)  # padding changes nothing
    torch.testing.assert_close(principal_context(changed, mask, 1)[0, :20], out[0, :20])


def test_ridges_reading_other_neurons_fit_and_round_trip(probs_dir, tmp_path):
    from sbm.model.baselines import Forecasters

    fish = [open_probs(probs_dir / f"subject_{i}.h5", 7) for i in (1, 2)]
    cfg = ForecasterConfig(windows=20, neurons_per_window=16, steps=100, neighbours=4, components=2)
    forecasters = fit_forecasters(Windows(fish[:1], 6), Windows(fish[1:], 6), cfg)
    assert forecasters.names == ("ridge", "mlp", "ridge_neighbours", "ridge_pca")
    assert forecasters.ridges["ridge_neighbours"].shape == (6 + 3 + 6 + 1,)
    assert forecasters.ridges["ridge_pca"].shape == (6 + 3 + 12 + 1,)
    torch.save(forecasters.state(), tmp_path / "f.pt")
    reloaded = Forecasters.from_state(torch.load(tmp_path / "f.pt", weights_only=False))
    batch = collate([Windows(fish, 6)[0], Windows(fish, 6)[60]])
    prob, stimulus = window(batch["prob"], batch["stimulus"], 0, 6)
    for name in ("ridge_neighbours", "ridge_pca"):
        out = reloaded.forecaster(name)(prob, batch["xyz"], stimulus, batch["mask"])
        assert out.shape == (2, 28) and out[0, 26:].abs().sum() == 0 and (out >= 0).all() and (out <= 1).all()
    with pytest.raises(ValueError, match="ceiling"):
        reloaded.forecaster("ceiling")(prob, batch["xyz"], stimulus, batch["mask"])


def test_without_spatial_attention_no_neuron_reads_another_but_all_read_the_stimulus():
    model = tiny_sbm(spatial="none").eval()
    g = torch.Generator().manual_seed(0)
    prob, xyz = torch.rand(1, 6, 12, generator=g), torch.rand(1, 12, 3, generator=g)
    stimulus, mask = torch.eye(2)[torch.arange(6) % 2][None], torch.ones(1, 12, dtype=torch.bool)
    out = model(prob, xyz, stimulus, mask)
    changed = prob.clone()
    changed[0, :, 3] = 1 - changed[0, :, 3]
    again = model(changed, xyz, stimulus, mask)
    assert (again[0, :, 3] - out[0, :, 3]).abs().max() > 0
    torch.testing.assert_close(
        torch.cat((again[0, :, :3], again[0, :, 4:]), 1), torch.cat((out[0, :, :3], out[0, :, 4:]), 1)
    )
    assert (model(prob, xyz, stimulus.flip(-1), mask) - out).abs().max() > 0
    dense = tiny_sbm(spatial="dense").eval()
    assert (dense(changed, xyz, stimulus, mask) - dense(prob, xyz, stimulus, mask))[0, :, :3].abs().max() > 0


@pytest.mark.parametrize("inputs, targets", [("truth", "truth"), ("inferred", "truth"), ("truth", "inferred")])
def test_the_ladders_rungs_read_and_train_on_what_they_say(tmp_path, inputs, targets):
    """The known-answer ladder: forecasters read `inputs` (prob) and are trained on `targets`
    (Windows' training target), each the recording (here the truth plus noise) or the truth."""
    from sbm.data.windows import model_inputs
    from sbm.eval.truth import use_truth

    probs, truth_path = write_simulated(tmp_path, "subject_1", noise=0.1)
    with h5py.File(probs) as f:
        recorded = f["prob"][()]
    true_prob = read_truth(probs, truth_path).prob
    use_truth(probs, truth_path, inputs, targets)
    values = {"inferred": recorded, "truth": true_prob}
    fish = open_probs(probs, 2)
    (read, *_), trained_on = model_inputs(collate([Windows([fish], 5)[7]]))
    assert np.allclose(read[0].numpy(), values[inputs][7:12], atol=1e-6)
    assert np.allclose(trained_on[0].numpy(), values[targets][8:13], atol=1e-6)
    with h5py.File(probs) as f:
        assert (f.attrs["inputs"], f.attrs["targets"]) == (inputs, targets) and ("target" in f) == (inputs != targets)
    with pytest.raises(ValueError, match="inferred or truth"):
        use_truth(probs, truth_path, "clean", "truth")
