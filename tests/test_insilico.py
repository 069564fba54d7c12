"""In-silico optogenetics: a perturbation of zero strength changes nothing, none changes a frame
before its start (in the model and in the simulator), the simulator's replay reproduces the fish
bit for bit and carries a perturbation through the true wiring, and the scores and the lag-1
baseline recover known answers."""

import h5py
import numpy as np
import pytest
import torch
from conftest import SMALL

from sbm.data.windows import Windows, collate, open_probs
from sbm.eval.insilico import (
    InsilicoConfig,
    Lag1Groups,
    Perturbation,
    group_map,
    insilico_fish,
    predicted_response,
    score_map,
    simulator_replay,
)
from sbm.eval.truth import SimulatedTruth, population_means
from sbm.io.errors import InputError
from sbm.model.forecast import rollout, sbm_forecaster
from sbm.model.sbm import SBM, SBMConfig
from sbm.synth.brain import canonical_brain
from sbm.synth.fish import SimConfig
from sbm.synth.replay import expected_spikes, replay_responses


def setup(probs_dir, horizon=8):
    fish = open_probs(probs_dir / "subject_3.h5", 7)
    torch.manual_seed(0)
    model = SBM(SBMConfig(n_stimuli=3, context=6, d_model=16, n_heads=2, n_layers=1, cluster_size=10)).eval()
    batch = collate([w for w in (Windows([fish], context=6 + horizon - 1)[i] for i in (0, 20))])
    return model, batch


def sbm_response(model, batch, p, horizon=8):
    forecast = sbm_forecaster(model)
    base = rollout(forecast, batch["prob"][:, :6], batch["xyz"], batch["stimulus"], batch["mask"], horizon)
    return predicted_response(forecast, batch, 6, p, base)


def test_a_perturbation_of_zero_strength_changes_nothing(probs_dir):
    model, batch = setup(probs_dir)
    for kind in ("excite", "clamp"):
        zero = Perturbation("first ten", np.arange(10), kind, 0.0, start=1, duration=4)
        response = sbm_response(model, batch, zero)
        if kind == "excite":
            assert torch.equal(response, torch.zeros_like(response))
        else:  # clamping at 0 is silencing: it does change the rollout
            assert response.abs().max() > 0


@pytest.mark.parametrize("kind", ["excite", "silence", "clamp"])
def test_a_perturbation_never_changes_frames_before_its_start(probs_dir, kind):
    model, batch = setup(probs_dir)
    p = Perturbation("first ten", np.arange(10), kind, 0.6, start=3, duration=2)
    response = sbm_response(model, batch, p)
    assert torch.equal(response[:, :3], torch.zeros_like(response[:, :3]))
    assert response[:, 3:, :10].abs().max() > 0.01  # the targets themselves
    assert response[:, 4:, 10:].abs().max() > 0  # and, through the model, the other neurons


def test_the_response_resumed_after_the_start_is_the_whole_perturbed_rollout(probs_dir):
    """predicted_response reuses the unperturbed forecasts up to the start: it must equal rolling
    the perturbed experiment out from the first step."""
    model, batch = setup(probs_dir)
    forecast = sbm_forecaster(model)
    args = (batch["prob"][:, :6], batch["xyz"], batch["stimulus"], batch["mask"], 8)
    base = rollout(forecast, *args)
    for start in (0, 3, 7):
        p = Perturbation("first ten", np.arange(10), "excite", 0.5, start=start, duration=2)
        whole = p.observed(rollout(forecast, *args, edit=p.edit(6))) - base
        torch.testing.assert_close(predicted_response(forecast, batch, 6, p, base), whole)


def test_perturbations_set_what_they_say():
    frame = torch.tensor([[0.2, 0.5, 0.9]])
    targets = np.array([0, 2])
    excite = Perturbation("t", targets, "excite", 0.5).apply(frame)
    torch.testing.assert_close(excite, torch.tensor([[0.6, 0.5, 0.95]]))
    assert torch.equal(Perturbation("t", targets, "silence").apply(frame), torch.tensor([[0.0, 0.5, 0.0]]))
    assert torch.equal(Perturbation("t", targets, "clamp", 0.25).apply(frame), torch.tensor([[0.25, 0.5, 0.25]]))
    for bad in ({"kind": "boost"}, {"strength": 1.0}, {"start": -1}, {"duration": 0}, {"targets": np.array([])}):
        with pytest.raises(ValueError):
            Perturbation(**{"name": "t", "targets": targets, "kind": "excite", **bad})


def test_excitation_maps_to_the_same_chance_of_a_spike_in_the_simulator():
    """On the simulator's side, excite adds expected spikes whose chance of a spike is exactly the
    model's: 1 - exp(-(lambda + d)) = 1 - (1 - p)(1 - strength)."""
    p = Perturbation("t", np.array([1]), "excite", 0.3)
    substeps, lam = 4, np.float32(0.05)
    expected = np.full(3, lam / substeps, np.float32)
    after = sum(p.on_expected(substeps)(expected) for _ in range(substeps))
    model_side = p.apply(torch.tensor([-np.expm1(-lam)]).repeat(3))[1].item()
    assert after[0] == pytest.approx(lam) and -np.expm1(-after[1]) == pytest.approx(model_side, rel=1e-5)


def test_the_replay_without_a_perturbation_reproduces_the_fish_bit_for_bit(small_fish):
    with h5py.File(small_fish / "ground_truth.h5") as g:
        rate = g["rate"][()]
    assert np.array_equal(expected_spikes(SMALL, "subject_1", len(rate)), rate)
    other = SimConfig(**{**SMALL.__dict__, "seed": 1})
    assert not np.array_equal(expected_spikes(other, "subject_1", 20), rate[:20])


def test_the_replay_carries_a_perturbation_through_the_true_wiring_and_never_backwards(small_fish):
    brain = canonical_brain()
    with h5py.File(small_fish / "ground_truth.h5") as g:
        population, wiring = g["population"][()], g["connectivity"][()]
    source = brain.pop_index("pretectum_L_motion")  # drives rs_turn_L and nmlf_forward (excitatory)
    targets = np.flatnonzero(population == source)
    excite = Perturbation("pretectum_L_motion", targets, "excite", 0.5, start=2, duration=6)
    zero = Perturbation("pretectum_L_motion", targets, "excite", 0.0, start=2, duration=6)
    responses = replay_responses(SMALL, "subject_1", [50, 200], [excite, zero], horizon=8, replicas=4)
    assert responses.prob.shape == (2, 2, 8, 300)
    assert np.array_equal(responses.prob[1], np.zeros_like(responses.prob[1]))
    assert np.array_equal(responses.prob[0][:, :2], np.zeros_like(responses.prob[0][:, :2]))
    response = responses.prob[0].mean(axis=0)  # (H, N)
    direct = response[2:, targets].mean()
    assert 0.25 < direct <= 0.5  # 0.5 (1 - p): the targets fire with a 50 % extra chance
    by_group = group_map(response, population, brain.n_populations, excite)
    wired = np.flatnonzero(wiring[:, source] > 1.0)
    unwired = np.flatnonzero((wiring[:, source] == 0) & np.isfinite(by_group))
    assert len(wired) and by_group[wired].mean() > 5 * np.abs(by_group[unwired]).mean()


def test_poisson_by_inversion_has_poisson_counts_and_adds_spikes_to_the_same_draws():
    from sbm.synth.fish import poisson_quantile

    rng = np.random.default_rng(0)
    u = rng.random(200_000)
    for lam in (0.05, 0.7, 3.0):
        k = poisson_quantile(u, np.full(len(u), lam))
        assert k.mean() == pytest.approx(lam, rel=0.02) and k.var() == pytest.approx(lam, rel=0.03)
    low, high = poisson_quantile(u, np.full(len(u), 0.2)), poisson_quantile(u, np.full(len(u), 0.5))
    assert np.all(high >= low)  # a raised rate keeps every spike of the same draw


def test_the_replays_arms_draw_the_same_noise_so_two_replicas_agree(small_fish):
    """The true response is the perturbation's effect: replicas with independent streams give the
    same response map (the arms of each are coupled; with one uncoupled stream the maps of two
    replicas correlated at about 0.2 on the benchmark's panel)."""
    brain = canonical_brain()
    with h5py.File(small_fish / "ground_truth.h5") as g:
        population = g["population"][()]
    source = brain.pop_index("pretectum_L_motion")
    excite = Perturbation("pretectum_L_motion", np.flatnonzero(population == source), "excite", 0.3, 1, 4)
    one = replay_responses(SMALL, "subject_1", [50, 200], [excite], horizon=6, replicas=1).prob[0]
    two = replay_responses(SMALL, "subject_1", [50, 200], [excite], horizon=6, replicas=2).prob[0]
    other = 2 * two - one  # the second replica alone
    maps = [group_map(r.mean(axis=0), population, brain.n_populations, excite) for r in (one, other)]
    known = np.isfinite(maps[0])
    assert np.corrcoef(maps[0][known], maps[1][known])[0, 1] > 0.9


def test_scores_of_a_perfect_a_flat_and_a_reversed_map():
    true = np.array([0.1, -0.05, 0.0, 0.001, np.nan])
    perfect = score_map(true * 2, true, threshold=0.01)
    assert perfect == {"r": pytest.approx(1.0), "auroc": 1.0, "sign_agreement": 1.0, "responders": 2}
    flat = score_map(np.zeros(5), true, threshold=0.01)
    assert flat["r"] is None and flat["auroc"] == 0.5 and flat["sign_agreement"] is None
    assert score_map(-true, true, threshold=0.01)["sign_agreement"] == 0.0


def test_the_lag1_baseline_recovers_a_known_system_and_carries_a_perturbation():
    rng = np.random.default_rng(0)
    A = np.array([[0.5, 0.0, 0.0], [0.4, 0.5, 0.0], [0.0, 0.0, 0.5]])  # group 0 drives group 1
    x = np.zeros((4000, 3))
    for t in range(1, len(x)):
        x[t] = A @ x[t - 1] + 0.1 * rng.normal(size=3)
    lag1 = Lag1Groups.fit([x + 0.2], ridge=1e-6)
    np.testing.assert_allclose(lag1.A, A, atol=0.05)
    p = Perturbation("g0", np.arange(2), "clamp", 0.5, start=1, duration=3)
    response = lag1.response(p, 0, np.full(2, 0.2, np.float32), horizon=5)
    assert np.all(response[0] == 0) and response[1, 0] == pytest.approx(0.3)
    assert response[2, 1] > 0.1 and abs(response[2, 2]) < 0.05


def test_targets_by_sphere_and_by_list():
    from sbm.eval.insilico import sphere

    xyz = np.array([[0.0, 0, 0], [1, 0, 0], [0, 2, 0], [3, 3, 3]])
    assert sphere(xyz, [0, 0, 0], 1.0).tolist() == [0, 1] and sphere(xyz, [3, 3, 3], 0.5).tolist() == [3]
    p = Perturbation("listed", np.array([2, 0]), "silence")
    assert torch.equal(p.apply(torch.ones(1, 4)), torch.tensor([[0.0, 1, 0, 1]]))


def test_group_series_and_maps_average_the_right_neurons():
    groups = np.array([0, 0, 1, 2, 2])
    prob = np.arange(10, dtype=np.float32).reshape(2, 5)
    means = population_means(torch.from_numpy(prob), torch.from_numpy(groups), 4)[0]
    np.testing.assert_allclose(means, [[0.5, 2, 3.5, 0], [5.5, 7, 8.5, 0]])
    p = Perturbation("g", np.array([0, 3]), "silence", start=0, duration=1)
    np.testing.assert_allclose(group_map(prob, groups, 4, p), [1, 2, 4, np.nan])


def test_simulator_replay_refuses_settings_that_do_not_reproduce_the_fish(small_fish):
    truth = SimulatedTruth(np.zeros((0, 1)), np.zeros(1, int), np.zeros((1, 1)), ["a"], np.zeros(1, int))
    other = SimConfig(**{**SMALL.__dict__, "seed": 3})
    with pytest.raises(InputError, match="ground_truth.h5.*do not reproduce this fish"):
        simulator_replay(other, small_fish / "ground_truth.h5", truth, 4, 1)


def test_a_fish_too_short_for_the_experiments_is_named(probs_dir):
    model, _ = setup(probs_dir)
    cfg = InsilicoConfig(horizon=60, start=0, duration=2)
    groups = np.zeros(30, int)
    with pytest.raises(InputError, match="subject_3.h5: 60 frames, fewer than the 66"):
        insilico_fish(probs_dir / "subject_3.h5", model, {}, cfg, groups, ["all"])


def test_a_fish_without_truth_gets_region_experiments_and_a_page_that_embeds_them(probs_dir, tmp_path):
    """The real-data path: regions as targets, predicted responses only; the page's 8-bit codes
    give the responses back within one step of their scale."""
    import base64
    import json

    from sbm.eval.insilico import regions
    from sbm.insilico_page import page_data, page_html
    from sbm.io.contracts import INSILICO_RESPONSES, write_groups

    model, _ = setup(probs_dir)
    path = probs_dir / "subject_3.h5"
    groups = regions(open_probs(path, 1).xyz, 4)
    assert sorted(set(groups)) == [0, 1, 2, 3]
    cfg = InsilicoConfig(kinds=("excite", "silence"), starts=2, horizon=5, start=1, duration=3)
    entries, arrays = insilico_fish(path, model, {}, cfg, groups, [f"region_{g}" for g in range(4)])
    assert len(entries) == 8 and all("scores" not in e and e["maps"]["sbm"] for e in entries)
    assert np.all(arrays["response_sbm"][:, :1] == 0)  # nothing changes before the start
    write_groups(tmp_path / "r.h5", {"subject_3": {**arrays, "behavior_names": []}}, INSILICO_RESPONSES)
    metrics = {"experiments": entries}
    data = page_data(tmp_path / "r.h5", metrics, max_neurons=1000)
    fish = data["fishes"]["subject_3"]
    codes = np.frombuffer(base64.b64decode(fish["sbm"]["data"]), np.int8).reshape(arrays["response_sbm"].shape)
    scale = np.array(fish["sbm"]["scale"])[:, None, None]
    np.testing.assert_allclose(codes * scale, arrays["response_sbm"].astype(np.float32), atol=float(scale.max()))
    html = page_html(data)
    assert json.loads(html.split('type="application/json">')[1].split("</script>")[0]) == json.loads(json.dumps(data))
    assert "http://" not in html and "https://" not in html  # self-contained: nothing fetched
    # A response that is not a number is refused with the file, not drawn as no change.
    arrays["response_sbm"][0, 1, 0] = np.nan
    write_groups(tmp_path / "bad.h5", {"subject_3": {**arrays, "behavior_names": []}}, INSILICO_RESPONSES)
    with pytest.raises(InputError, match="bad.h5:subject_3: response_sbm holds 1 non-finite values"):
        page_data(tmp_path / "bad.h5", metrics)
