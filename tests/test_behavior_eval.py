"""Behaviour evaluation: linear baselines, SBM-forecast states, chance, and the neural-pattern search."""

import numpy as np
import pytest
import torch
from conftest import write_probs

from sbm.data.behavior import load_behavior_fish
from sbm.eval.behavior import chance_r, evaluate_fish, sbm_states
from sbm.eval.search import (
    BehaviorSpace,
    SearchConfig,
    behaviors,
    hull_area,
    search_fish,
    search_patterns,
    shuffled_neurons,
)
from sbm.model.pnm import PNM, PNMConfig
from sbm.model.sbm import SBM, SBMConfig
from sbm.train.behavior_baselines import (
    BehaviorBaselineConfig,
    fit_behavior_baselines,
    fit_readout,
    fourier_moments,
    predict_columns,
)

NAMES = ["left_turn", "right_turn", "forward_swim", "raw_left", "raw_right"]


def tiny_sbm(context=6):
    torch.manual_seed(0)
    return SBM(SBMConfig(n_stimuli=3, context=context, d_model=16, n_heads=2, n_layers=1, spatial="dense")).eval()


def test_fourier_moments_ignore_neuron_order_and_padding():
    g = torch.Generator().manual_seed(0)
    prob, xyz = torch.rand(1, 4, 20, generator=g), torch.rand(1, 20, 3, generator=g) * 2 - 1
    mask = torch.ones(1, 20, dtype=torch.bool)
    moments = fourier_moments(prob, xyz, mask, 3)
    assert moments.shape == (1, 4 * 18)
    perm = torch.randperm(20)
    torch.testing.assert_close(moments, fourier_moments(prob[:, :, perm], xyz[:, perm], mask, 3), atol=1e-6, rtol=1e-5)
    padded = [
        torch.cat((prob, torch.rand(1, 4, 5)), 2),
        torch.cat((xyz, torch.rand(1, 5, 3)), 1),
        torch.cat((mask, torch.zeros(1, 5, dtype=torch.bool)), 1),
    ]
    torch.testing.assert_close(moments, fourier_moments(*padded, 3), atol=1e-6, rtol=1e-5)


def test_ridge_readout_recovers_a_linear_behaviour_and_picks_its_penalty_on_validation():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(10, 2))
    x, x_val = rng.normal(size=(300, 10)), rng.normal(size=(100, 10))
    y, y_val = x @ w + 0.1 * rng.normal(size=(300, 2)), x_val @ w + 0.1 * rng.normal(size=(100, 2))
    columns, info = fit_readout(x, y, x_val, y_val, alphas=(1e-3, 100.0))
    assert [i["alpha"] for i in info] == [1e-3, 1e-3] and all(i["val_r"] > 0.99 for i in info)
    np.testing.assert_allclose(predict_columns(columns, x_val), x_val @ w, atol=0.1)
    # with PCA: 2 components cannot carry a 10-dimensional readout, 10 can
    _, info = fit_readout(x, y, x_val, y_val, alphas=(1e-3,), components=(2, 10))
    assert [i["components"] for i in info] == [10, 10]


def test_sbm_states_are_each_frames_one_step_forecast_with_the_longest_history(tmp_path):
    path = write_probs(tmp_path / "subject_1.h5", n_frames=40, n_neurons=12)
    model = tiny_sbm(context=6)
    states = sbm_states(model, path, batch_size=3)
    assert np.isnan(states[0]).all() and np.isfinite(states[1:]).all()
    fish = load_behavior_fish(path, NAMES, 0.999, 7)
    prob, stim = torch.from_numpy(fish.prob.astype(np.float32)), torch.from_numpy(fish.stimulus)
    xyz, mask = torch.from_numpy(fish.xyz)[None], torch.ones(1, 12, dtype=torch.bool)
    with torch.no_grad():
        # windows start every 3/4 context = 4 frames: frame 20 is first covered by the window from
        # frame 16 (history: frames 16..19), not by the one from 20 - 6 = 14 (which does not exist)
        direct = torch.sigmoid(model(prob[None, 16:20], xyz, stim[None, 17:21], mask))[0, -1]
        np.testing.assert_allclose(states[20], direct.numpy(), atol=1e-5)
        direct = torch.sigmoid(model(prob[None, 0:3], xyz, stim[None, 1:4], mask))[
            0, -1
        ]  # frame 3, 3 frames of history
        np.testing.assert_allclose(states[3], direct.numpy(), atol=1e-5)
        last = 39  # the last frame is forecast too
        assert np.isfinite(states[last]).all()


def test_chance_r_is_what_unrelated_autocorrelated_series_reach():
    rng = np.random.default_rng(1)
    walk = np.cumsum(rng.normal(size=(2, 600)), axis=1)  # two independent random walks: often |r| > 0.5
    assert chance_r(walk[0], walk[1], margin=10) > 0.3
    noise = rng.normal(size=(2, 600))
    assert chance_r(noise[0], noise[1], margin=10) < 0.15


def test_coverage_counts_grid_cells_and_hull_measures_area():
    space = BehaviorSpace(np.random.default_rng(0).random((200, 5)), grid=4)
    centres = space.cell_centres()
    assert centres.shape == (16, 2)
    assert space.coverage(centres) == 1.0 and space.coverage(centres[:4]) == 0.25
    assert space.coverage(centres[:1].repeat(10, axis=0)) == 1 / 16
    assert space.coverage(np.array([[1e6, 1e6]])) == 0.0  # off the grid reaches nothing
    assert hull_area(np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5]])) == pytest.approx(1.0)
    assert hull_area(np.array([[0, 0], [1, 1]])) == 0.0


def test_shuffled_patterns_keep_their_values_and_budget():
    patterns, mask = torch.rand(3, 4, 10), torch.tensor([True] * 8 + [False] * 2)
    shuffled = shuffled_neurons(patterns, mask, seed=0)
    torch.testing.assert_close(shuffled[:, :, :8].sort(dim=2).values, patterns[:, :, :8].sort(dim=2).values)
    torch.testing.assert_close(shuffled[:, :, 8:], patterns[:, :, 8:])  # padding stays where it is
    assert not torch.equal(shuffled, patterns)
    # one permutation for all frames of a pattern: a neuron's trace moves whole
    first = shuffled[0, :, 0]
    assert any(torch.equal(first, patterns[0, :, n]) for n in range(8))


def pnms(n=3, frames=2, gain=3.0):
    """Untrained PNMs whose readouts are made `gain` times more sensitive (untrained ones barely
    respond to their input, so there would be little to search for)."""
    models = [PNM(PNMConfig(frames=frames, neuron_hidden=8, neuron_features=4, seed=s)) for s in range(n)]
    with torch.no_grad():
        for m in models:
            m.temporal[-1].weight *= gain
            m.temporal[-1].bias.fill_(0.5)
    return models


@pytest.mark.parametrize("through_sbm", [False, True])
def test_the_search_improves_its_objective(tmp_path, through_sbm):
    path = write_probs(tmp_path / "subject_1.h5", n_frames=60, n_neurons=16)
    fish = load_behavior_fish(path, NAMES[:3], 0.999, 7)
    models = pnms()
    # behaviour space spanned by what these PNMs read from random states: targets they can reach
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        reachable = behaviors(
            models,
            torch.rand(200, 2, 16, generator=g) ** 3,
            torch.from_numpy(fish.xyz),
            torch.ones(16, dtype=torch.bool),
        )
    space = BehaviorSpace(reachable.numpy(), grid=2)
    cfg = SearchConfig(grid=2, steps=50, lr=0.5, through_sbm=through_sbm, rollout=2)
    result = search_fish(models, space, fish, cfg, tiny_sbm() if through_sbm else None)
    objective = result["objective"]
    assert objective["end"] < 0.7 * objective["start"]
    assert result["distance_to_target"]["optimised"] < result["distance_to_target"]["real"]
    shown = result["shown"]
    assert shown["pattern"].shape == (2, 16) and shown["pattern"].min() >= 0 and shown["pattern"].max() <= 1
    assert set(result["coverage"]) == {"observed", "real", "random", "optimised"}


def test_search_loss_history_starts_at_the_real_states():
    g = torch.Generator().manual_seed(0)
    start = torch.rand(4, 2, 12, generator=g)
    xyz, mask = torch.rand(12, 3, generator=g) * 2 - 1, torch.ones(12, dtype=torch.bool)
    space = BehaviorSpace(np.random.default_rng(0).random((50, 3)), grid=2)
    found = search_patterns(pnms(), space, start, xyz, mask, space.cell_centres(), SearchConfig(steps=0))
    torch.testing.assert_close(found["patterns"], start.clamp(1e-3, 1 - 1e-3), atol=1e-5, rtol=1e-5)  # no step taken
    assert len(found["history"]) == 1


def test_evaluate_fish_scores_every_readout_on_the_same_frames(tmp_path):
    paths = [
        write_probs(tmp_path / f"subject_{i}.h5", n_frames=80, n_neurons=14 + i, seed=i, subject=f"subject_{i}")
        for i in (1, 2, 3)
    ]
    train, val = (
        [load_behavior_fish(p, NAMES, 0.999, 2) for p in paths[:1]],
        [load_behavior_fish(paths[1], NAMES, 0.999, 2)],
    )
    baselines = fit_behavior_baselines(
        train, val, PNMConfig(frames=2, fourier_frequencies=2), BehaviorBaselineConfig(pca_components=(2,))
    )
    result = evaluate_fish(paths[2], pnms(5), NAMES, 0.999, baselines, tiny_sbm(context=6))
    assert result["frames"] == 80 - (6 + 2 - 1)
    assert set(result["r"]) == {
        f"{m}_{s}" for m in ("pnm", "ridge", "pca_ridge") for s in ("observed_states", "sbm_states")
    }
    series = result["series"]
    assert series["observed"].shape == series["pnm_sbm_states"].shape == (73, 5) and series["frame"][0] == 7
    assert all(np.isfinite(series[k]).all() for k in series)


def test_the_sparsity_term_makes_sparser_patterns():
    g = torch.Generator().manual_seed(2)
    start = torch.rand(4, 2, 12, generator=g)
    xyz, mask = torch.rand(12, 3, generator=g) * 2 - 1, torch.ones(12, dtype=torch.bool)
    space = BehaviorSpace(np.random.default_rng(0).random((50, 3)), grid=2)
    mean = {
        w: search_patterns(
            pnms(), space, start, xyz, mask, space.cell_centres(), SearchConfig(steps=30, lr=0.3, sparsity=w)
        )["patterns"].mean()
        for w in (0.0, 5.0)
    }
    assert mean[5.0] < 0.5 * mean[0.0]
