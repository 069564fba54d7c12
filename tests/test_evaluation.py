"""Issue 5's metrics on inputs with known answers: context length, fidelity, connectome, figures."""

import h5py
import numpy as np
import pytest
import scipy.stats
import torch
from conftest import run_script
from sklearn.metrics import roc_auc_score

from sbm.eval.connectome import attention_influence, auroc, chance_auroc, group_means, lagged_correlation
from sbm.eval.fidelity import classifier_accuracy, cross_fitted_energy, energy_distance, fidelity
from sbm.eval.next_step import next_step_errors
from sbm.eval.rollout import rollout_errors
from sbm.eval.truth import read_truth
from sbm.figures import fig1b_brain_maps, voxelise
from sbm.io.errors import InputError
from sbm.model.forecast import rollout, sbm_forecaster
from sbm.model.sbm import SBM, SBMConfig


def small_model(**kw):
    return SBM(
        SBMConfig(
            **{"n_stimuli": 3, "context": 6, "d_model": 16, "n_heads": 2, "n_layers": 1, "spatial": "dense", **kw}
        )
    )


# --- context length ----------------------------------------------------------------------------
def test_mae_by_context_matches_a_direct_computation(probs_dir):
    model = small_model()
    result = next_step_errors(model, probs_dir / "subject_4.h5", stride=5, batch_size=3)
    with h5py.File(probs_dir / "subject_4.h5") as f:
        p = f["prob"][()].astype(np.float64)
    starts = range(0, 60 - 6, 5)
    for t in range(6):  # forecast of frame s + t + 1 from the t + 1 frames s .. s + t
        context_mean = sum(np.abs(p[s + t + 1] - p[s : s + t + 1].mean(0)).sum() for s in starts)
        persistence = sum(np.abs(p[s + t + 1] - p[s + t]).sum() for s in starts)
        assert result["abs_error_sums_by_context"]["context_mean"][t] == pytest.approx(context_mean, rel=1e-5)
        assert result["abs_error_sums_by_context"]["persistence"][t] == pytest.approx(persistence, rel=1e-5)
    # The full context is the next-step score itself.
    assert result["abs_error_sums_by_context"]["sbm"][-1] == pytest.approx(result["abs_error_sums"]["sbm"], rel=1e-6)


def test_kept_states_are_the_observed_and_forecast_frames(probs_dir):
    model = small_model()
    result = next_step_errors(model, probs_dir / "subject_4.h5", stride=5, batch_size=3, keep_states=4)
    states = result["states"]
    with h5py.File(probs_dir / "subject_4.h5") as f:
        p = f["prob"][()]
    assert states["frame"].tolist() == [6 + 5 * i for i in np.linspace(0, 10, 4).round().astype(int)]  # 11 windows
    np.testing.assert_array_equal(states["observed"], p[states["frame"]])
    np.testing.assert_array_equal(states["persistence"], p[states["frame"] - 1])
    assert set(states) == {"frame", "observed", "sbm", "persistence", "context_mean", "neuron_mean"}


def test_rollout_example_is_the_observed_window_and_the_sbm_rollout(probs_dir):
    model = small_model()
    result = rollout_errors(model, probs_dir / "subject_3.h5", horizon=5, starts=3, batch_size=2)
    ex = result["example"]
    with h5py.File(probs_dir / "subject_3.h5") as f:
        p, stim = f["prob"][()], f["stimulus"][()]
    first = ex["first_frame"]
    assert first == result["start_frames"][1]  # the middle start
    np.testing.assert_array_equal(ex["observed"], p[first : first + 6 + 5])
    xyz = torch.from_numpy(ex["xyz"])[None]
    again = rollout(
        sbm_forecaster(model),
        torch.from_numpy(ex["observed"][None, :6]),
        xyz,
        torch.from_numpy(stim[None, first : first + 11]),
        torch.ones(1, p.shape[1], dtype=torch.bool),
        5,
    )
    torch.testing.assert_close(torch.from_numpy(ex["sbm"]), again[0])


# --- fidelity ----------------------------------------------------------------------------------
def test_energy_distance_known_answers():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=300), rng.normal(1.0, 2.0, size=200)
    # scipy's 1-D energy distance is the square root of ours (both V-statistics).
    assert energy_distance(x, y) == pytest.approx(scipy.stats.energy_distance(x, y) ** 2, rel=1e-9)
    assert energy_distance(np.zeros((5, 3)), np.full((7, 3), [3.0, 4.0, 0.0])) == pytest.approx(
        2 * 5.0
    )  # point masses: 2|a|
    z = rng.normal(size=(50, 4))
    assert energy_distance(z, z) == pytest.approx(0.0, abs=1e-12)


def test_classifier_accuracy_is_chance_for_equal_and_one_for_separated_states():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=(200, 5))
    same = rng.normal(size=(200, 5))
    assert abs(classifier_accuracy(truth, same) - 0.5) < 0.1
    assert classifier_accuracy(truth, truth + np.array([10.0, 0, 0, 0, 0])) > 0.99
    with pytest.raises(ValueError, match="pair up"):
        classifier_accuracy(truth, same[:10])


def test_the_previous_true_frame_is_indistinguishable_from_the_truth():
    """Persistence's states are the true states one frame earlier: neither number may tell them
    apart (a classifier with folds of scattered frames scored 0.24 here, trained on near-copies of
    its test rows with the other label), while a shrunken copy is told apart."""
    rng = np.random.default_rng(5)
    latent = np.zeros((187, 10))
    for t in range(1, 187):
        latent[t] = 0.8 * latent[t - 1] + rng.normal(size=10)
    x = latent @ rng.normal(size=(10, 300)) + 0.5 * rng.normal(size=(187, 300))
    truth, previous = x[1:], x[:-1]
    assert abs(classifier_accuracy(truth, previous) - 0.5) < 0.06
    assert cross_fitted_energy(truth, previous) < 0.2 * cross_fitted_energy(truth, 0.5 * previous)


def test_fidelity_of_the_truth_itself_and_of_a_shifted_copy():
    rng = np.random.default_rng(2)
    truth = rng.random((60, 40))
    metrics, coords, shown = fidelity(truth, {"copy": truth.copy(), "shifted": truth + 2.0}, components=10)
    assert metrics["metrics"]["copy"]["energy_distance"] == pytest.approx(0.0, abs=1e-9)
    assert metrics["metrics"]["copy"]["classifier_accuracy"] <= 0.6
    assert (
        metrics["metrics"]["shifted"]["energy_distance"] > 1
        and metrics["metrics"]["shifted"]["classifier_accuracy"] > 0.9
    )
    assert metrics["components"] == 10 and shown.tolist() == list(
        range(1, 60, 2)
    )  # fitted on the even frames, odd ones shown
    assert coords["pca"]["observed"].shape == coords["umap"]["shifted"].shape == (30, 2)
    np.testing.assert_allclose(
        coords["pca"]["copy"], coords["pca"]["observed"], atol=1e-9
    )  # the same projection for all
    np.testing.assert_allclose(coords["umap"]["copy"], coords["umap"]["observed"], atol=1e-5)


def test_fidelity_script_names_a_bad_states_file(tmp_path, capsys):
    with h5py.File(tmp_path / "states.h5", "w") as f:
        f["subject_2/frame"] = np.arange(20)
        f["subject_2/observed"] = np.random.rand(20, 8)
        f["subject_2/sbm"] = np.full((20, 8), np.nan)
    args = [
        "--states",
        str(tmp_path / "states.h5"),
        "--metrics",
        str(tmp_path / "f.json"),
        "--embedding",
        str(tmp_path / "e.csv"),
    ]
    assert run_script("evaluate_fidelity", args) == 1
    err = capsys.readouterr().err
    assert "states.h5" in err and "subject_2/sbm" in err and "non-finite" in err
    assert not (tmp_path / "f.json").exists()


# --- connectome ----------------------------------------------------------------------------------
def test_auroc_agrees_with_scikit_learn_including_ties():
    rng = np.random.default_rng(3)
    label = rng.random(200) < 0.2
    score = np.round(rng.random(200) + 0.3 * label, 1)  # rounded: many ties
    assert auroc(score, label) == pytest.approx(roc_auc_score(label, score))
    assert auroc(label.astype(float), label) == 1.0 and auroc(-label.astype(float), label) == 0.0
    chance = chance_auroc(label, draws=300)
    assert abs(chance["mean"] - 0.5) < 0.02 and chance["q2.5"] < 0.5 < chance["q97.5"]


def test_lagged_correlation_finds_a_one_frame_lead():
    rng = np.random.default_rng(4)
    source = rng.normal(size=500)
    target = np.r_[0.0, source[:-1]]  # target(t) = source(t - 1)
    c = lagged_correlation(np.stack((target, source, rng.normal(size=500)), axis=1))
    assert c[0, 1] == pytest.approx(1.0, abs=1e-2)  # target x source
    assert abs(c[1, 0]) < 0.15 and abs(c[0, 2]) < 0.15
    np.testing.assert_allclose(
        group_means(np.arange(12.0).reshape(2, 6), np.array([0, 0, 1, 1, 1, 2]), 3), [[0.5, 3, 5], [6.5, 9, 11]]
    )


def test_uniform_attention_gives_uniform_influence(probs_dir):
    """With the query projection zeroed every score is equal, so each query puts 1 / (N + 1) on
    every neuron (and on the stimulus token)."""
    model = small_model(spatial="dense")
    with torch.no_grad():
        for block in model.blocks:
            block.spatial.qkv.weight[: model.cfg.d_model] = 0
    group = np.arange(28) % 3  # subject_2 has 28 neurons
    influence = attention_influence(model, probs_dir / "subject_2.h5", group, 4, windows=3)
    np.testing.assert_allclose(influence[:3, :3], 1 / 29, rtol=1e-5)
    assert (influence[3] == 0).all() and (influence[:, 3] == 0).all()  # an empty group


def test_routed_influence_weighs_duplicate_memberships_by_their_number(probs_dir):
    """Routed, clusters of 20 of 28 neurons (two clusters: duplicates, maybe uncovered neurons),
    uniform scores: a neuron in c clusters puts 1 / 21 on each of their keys, each cluster counted
    1 / c, so its total on neuron keys is 20 / 21 if it is in any cluster and 0 otherwise."""
    model = small_model(spatial="routed", cluster_size=20, n_layers=2)
    covered = []

    def count_covered(module, args):
        rows, _, _, _ = module.route(args[0][:, :, 1:], args[2])
        covered.append(len(rows.unique()))

    with torch.no_grad():
        for block in model.blocks:
            block.spatial.qkv.weight[: model.cfg.d_model] = 0
            block.spatial.register_forward_pre_hook(count_covered)
    influence = attention_influence(model, probs_dir / "subject_2.h5", np.zeros(28, dtype=int), 1, windows=2)
    total = influence[0, 0] * 28 * 28 * 6 * 2 * 2  # pairs x steps x layers x windows
    assert len(covered) == 2 * 2  # layers x windows
    assert total == pytest.approx(sum(covered) * 20 / 21, rel=1e-6)


def test_attention_influence_is_target_by_source(probs_dir):
    """Against the dense layer's attention weights computed in one piece: row a, column b is the
    weight neurons of group a (queries) put on neurons of group b (keys), so the matrix follows the
    model's asymmetric attention, not a symmetric summary of it."""
    from sbm.data.windows import Windows, collate, model_inputs, open_probs
    from sbm.model.sbm import rotate

    model = small_model(spatial="dense")
    group = (np.arange(28) >= 20).astype(int)  # groups of 20 and 8 neurons
    influence = attention_influence(model, probs_dir / "subject_2.h5", group, 2, windows=1)
    captured = []
    model.blocks[0].spatial.register_forward_pre_hook(lambda module, args: captured.append(args))
    data = Windows([open_probs(probs_dir / "subject_2.h5", 7)], 6)
    (prob, xyz, stimulus, mask), _ = model_inputs(collate([data[0]]))
    with torch.no_grad():
        model(prob, xyz, stimulus, mask)
        x = captured[0][0]
        attn = model.blocks[0].spatial
        q, k, _ = attn.qkv(x).view(1, 6, 29, 3, 2, 8).unbind(dim=3)
        cos, sin = attn.rotary(xyz)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        weights = torch.softmax(torch.einsum("tqhe,tkhe->thqk", q[0], k[0]) / 8**0.5, dim=-1).mean(dim=1)[
            :, 1:, 1:
        ]  # (T, N, N)
    g = torch.as_tensor(group)
    expected = np.array(
        [
            [float(weights[:, g == a][:, :, g == b].sum()) / ((g == a).sum() * (g == b).sum() * 6) for b in (0, 1)]
            for a in (0, 1)
        ]
    )
    np.testing.assert_allclose(influence, expected, rtol=1e-5)
    assert abs(influence[0, 1] - influence[1, 0]) > 1e-4  # not symmetric


# --- figures ---------------------------------------------------------------------------------------
def test_voxelise_means_neurons_per_cell_and_leaves_empty_cells_nan():
    xyz = np.array([[0.0, 0.0, 5.0], [0.0, 0.0, -5.0], [1.0, 1.0, 0.0], [0.5, 0.25, 1.0]])
    grid = voxelise(xyz, np.array([0.2, 0.4, 1.0, 0.7]), shape=(4, 2))
    assert grid.shape == (2, 4)  # rows y, columns x
    assert grid[0, 0] == pytest.approx(0.3)  # two neurons, pooled over z
    assert grid[1, 3] == 1.0 and grid[0, 2] == 0.7
    assert np.isnan(grid[1, 0]) and np.isnan(grid).sum() == 5


def test_fig1b_draws_observed_rollout_and_their_difference_on_data_set_scales(tmp_path):
    """Figure 1B: one row each for the observed frames, the rollout and rollout - observed, with
    visible dots; observed and rollout share a scale set by the data (not 0-1), the difference is
    centred at 0."""
    rng = np.random.default_rng(0)
    n, C, H = 800, 6, 8
    observed = (0.25 + 0.02 * rng.standard_normal((C + H, n))).astype(np.float32)
    sbm = (0.25 + 0.02 * rng.standard_normal((H, n))).astype(np.float32)
    example = {"observed": observed, "sbm": sbm, "xyz": rng.random((n, 3)), "context": C, "fps": 2.0, "first_frame": 0}
    fig = fig1b_brain_maps(example, tmp_path / "fig1b.png", horizons=(1, 4, 8))
    assert (tmp_path / "fig1b.png").stat().st_size > 0
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 9 and len(fig.axes) == 11  # 3 rows x 3 horizons, two colour bars
    dots = {ax.get_subplotspec().get_geometry()[2]: ax.collections[0] for ax in panels}  # by grid position
    for j, h in enumerate((1, 4, 8)):
        np.testing.assert_allclose(dots[j].get_array(), observed[C + h - 1], rtol=1e-6)
        np.testing.assert_allclose(dots[3 + j].get_array(), sbm[h - 1], rtol=1e-6)
        np.testing.assert_allclose(dots[6 + j].get_array(), sbm[h - 1] - observed[C + h - 1], atol=1e-6)
    lo, hi = dots[0].get_clim()
    assert dots[3].get_clim() == (lo, hi) and 0.15 < lo < hi < 0.35  # shared, set by the data
    assert dots[6].get_clim()[0] == -dots[6].get_clim()[1] > -0.1  # centred at 0
    assert dots[0].get_sizes()[0] >= 10  # 800 neurons: dots, not pixels


def test_truth_of_a_fish_without_cell_ids_is_refused(tmp_path, probs_dir):
    with h5py.File(tmp_path / "truth.h5", "w") as g:
        g["cell_id"], g["population"], g["connectivity"] = np.arange(28), np.zeros(28, int), np.zeros((1, 1))
    with pytest.raises(InputError, match="cell_id"):
        read_truth(probs_dir / "subject_2.h5", tmp_path / "truth.h5")
