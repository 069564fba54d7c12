"""POCO: shapes and masking, the per-neuron core vs population coupling, it learns what a per-neuron
model cannot, save/load, settings errors, the training script."""

import json

import h5py
import numpy as np
import pytest
import torch
import yaml
from conftest import run_script

from sbm.data.windows import Windows, open_probs, spaced_windows
from sbm.model.poco import POCO, POCOConfig, load_poco, poco_forecaster, save_poco
from sbm.train.poco import TrainConfig, batch_inputs, train_poco, windows_mae

B, C, N, K = 2, 6, 20, 3
SMALL = {"d_model": 16, "n_heads": 2, "n_latents": 4, "n_latent_layers": 1, "mlp_hidden": 16, "n_freqs": 4}


def inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    prob = torch.rand(B, C, N, generator=g)
    xyz = torch.rand(B, N, 3, generator=g) * 2 - 1
    stimulus = torch.eye(K)[torch.randint(0, K, (B, C), generator=g)]
    mask = torch.ones(B, N, dtype=torch.bool)
    mask[1, 14:] = False  # the second window's fish has 14 neurons
    return prob, xyz, stimulus, mask


def coupled_model(seed=0) -> POCO:
    """A fresh POCO with a random FiLM head (a fresh one starts at zero: no population effect)."""
    torch.manual_seed(seed)
    model = POCO(POCOConfig(n_stimuli=K, context=C, **SMALL)).eval()
    torch.nn.init.normal_(model.film.weight, std=0.5)
    return model


def test_shape_and_padded_neurons_do_not_reach_real_ones():
    model = coupled_model()
    prob, xyz, stimulus, mask = inputs()
    out = model(prob, xyz, stimulus, mask)
    assert out.shape == (B, N) and torch.isfinite(out).all()
    changed_prob, changed_xyz = prob.clone(), xyz.clone()
    changed_prob[1, :, 14:] = torch.rand(C, N - 14)
    changed_xyz[1, 14:] = 5.0
    again = model(changed_prob, changed_xyz, stimulus, mask)
    torch.testing.assert_close(again[mask], out[mask], rtol=0, atol=1e-6)
    assert not torch.allclose(again[1, 14:], out[1, 14:])  # the padded neurons' own outputs did change
    # the same fish unpadded gives the same forecasts as padded
    alone = model(prob[1:, :, :14], xyz[1:, :14], stimulus[1:], mask[1:, :14])
    torch.testing.assert_close(alone[0], out[1, :14], rtol=0, atol=1e-5)
    # and the forecaster is the sigmoid of the logits
    torch.testing.assert_close(poco_forecaster(model)(prob, xyz, stimulus, mask), torch.sigmoid(out))


def test_without_film_each_neuron_reads_only_itself_and_with_it_neurons_couple():
    model = coupled_model()
    prob, xyz, stimulus, mask = inputs()
    changed = prob.clone()
    changed[:, :, 3] = 1 - changed[:, :, 3]  # neuron 3's context
    others = torch.arange(N) != 3
    out, out_changed = model(prob, xyz, stimulus, mask), model(changed, xyz, stimulus, mask)
    assert (out_changed - out)[:, others].abs().max() > 1e-4  # the population encoder couples neurons
    torch.nn.init.zeros_(model.film.weight)
    torch.nn.init.zeros_(model.film.bias)
    out, out_changed = model(prob, xyz, stimulus, mask), model(changed, xyz, stimulus, mask)
    assert torch.equal(out_changed[:, others], out[:, others])  # a per-neuron model
    assert (out_changed[:, 3] - out[:, 3]).abs().min() > 0  # that still reads its own neuron


def write_population_fish(path, subject, seed, n_frames=300, n_neurons=48, noise=0.15):
    """A probs file where every neuron's next probability is a fixed function of the mean over all
    neurons of the last frame (a chaotic logistic map, so the past does not foretell it) plus
    independent noise: the population mean pins it down, a neuron's own noisy past does not."""
    rng = np.random.default_rng(seed)
    prob = np.zeros((n_frames, n_neurons), dtype=np.float32)
    prob[0] = rng.uniform(0.1, 0.9, n_neurons)
    for t in range(1, n_frames):
        g = np.clip((prob[t - 1].mean() - 0.1) / 0.8, 0, 1)
        prob[t] = 0.1 + 0.8 * 3.9 * g * (1 - g) + rng.uniform(-noise, noise, n_neurons)
    with h5py.File(path, "w") as f:
        f["prob"] = np.clip(prob, 0, 1)
        f["xyz"] = rng.uniform(-1, 1, (n_neurons, 3)).astype(np.float32)
        f["stimulus"] = np.eye(K, dtype=np.float32)[rng.integers(0, K, n_frames)]
        f.attrs.update(subject=subject, fps=2.0, stimulus_names=[f"stim_{k}" for k in range(K)])
    return path


@pytest.fixture(scope="module")
def population_fish(tmp_path_factory):
    folder = tmp_path_factory.mktemp("population")
    return [write_population_fish(folder / f"subject_{i}.h5", f"subject_{i}", i) for i in range(1, 5)]


@pytest.fixture
def one_thread():
    """Small models train fastest on one thread (and do not fight other processes for the cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def ridge_mae(train: Windows, val: Windows, val_idx: list[int]) -> float:
    """Validation MAE of the best per-neuron linear forecaster (own context, stimulus, bias: the
    ridge baseline's features) fitted by least squares on every training window."""

    def rows(windows, idx):
        (prob, _, stimulus, mask), target, _ = batch_inputs(windows, idx)
        x = torch.cat((prob.transpose(1, 2), stimulus[:, -1, None].expand(-1, prob.shape[2], -1)), dim=-1)
        return torch.cat((x, torch.ones(*x.shape[:2], 1)), dim=-1)[mask].double(), target[mask].double()

    x, y = rows(train, list(range(len(train))))
    w = torch.linalg.solve(x.T @ x + 1e-6 * len(y) * torch.eye(x.shape[1], dtype=x.dtype), x.T @ y)
    x_val, y_val = rows(val, val_idx)
    return float((x_val @ w).clamp(0, 1).sub(y_val).abs().mean())


def test_poco_learns_the_population_drive_a_per_neuron_model_cannot(population_fish, one_thread):
    context = 4
    fish = [open_probs(p, context + 1) for p in population_fish]
    train, val = Windows(fish[:3], context), Windows(fish[3:], context)
    model_cfg = POCOConfig(**{**SMALL, "d_model": 32, "mlp_hidden": 32})
    cfg = TrainConfig(steps=600, batch_size=8, lr=1e-3, val_every=100, val_windows=64)
    model, info = train_poco(train, val, model_cfg, cfg)
    baseline = ridge_mae(train, val, spaced_windows(val, 64))
    assert info["best_val_mae"] < 0.7 * baseline, (info["val_curve"], baseline)
    assert info["best_val_mae"] < 0.8 * info["val_reference_mae"]["context_mean"]
    assert info["best_val_mae"] == min(v["val_mae"] for v in info["val_curve"])
    assert info["n_train_fish"] == 3 and info["config"]["context"] == context and info["config"]["n_stimuli"] == K
    # the returned model is the best one
    mae = windows_mae(poco_forecaster(model), val, spaced_windows(val, 64), 8)
    assert mae == pytest.approx(info["best_val_mae"], rel=1e-6)


def test_save_load_round_trip(tmp_path):
    model = coupled_model()
    save_poco(model, tmp_path / "poco.pt", note="x")
    loaded, state = load_poco(tmp_path / "poco.pt")
    assert state["note"] == "x" and loaded.cfg == model.cfg
    args = inputs(1)
    assert torch.equal(loaded(*args), model(*args))


@pytest.mark.parametrize("cls", [POCOConfig, TrainConfig])
def test_unknown_settings_are_a_one_line_error(cls):
    with pytest.raises(ValueError, match="unknown poco.* settings \\['bogus'\\]") as err:
        cls.from_dict({"bogus": 1})
    assert "\n" not in str(err.value)


def test_the_script_trains_and_writes_a_model(probs_dir, tmp_path):
    split = {"train": ["subject_1", "subject_2"], "val": ["subject_3"], "heldout": ["subject_5"]}
    (tmp_path / "split.yaml").write_text(yaml.safe_dump(split))
    settings = {"model": SMALL, "train": {"steps": 4, "batch_size": 2, "val_every": 2, "val_windows": 4}}
    common = ["--split", tmp_path / "split.yaml", "--context", 5, "--threads", 1]
    files = lambda part: [probs_dir / f"{s}.h5" for s in split[part]]  # noqa: E731
    argv = [*common, "--train", *files("train"), "--val", *files("val"), "--settings", json.dumps(settings)]
    assert run_script("train_poco", [*argv, "--out", tmp_path / "poco.pt"]) == 0
    model, state = load_poco(tmp_path / "poco.pt")
    assert model.cfg.context == 5 and model.cfg.n_stimuli == 3
    assert state["training"]["train_fish"] == split["train"] and len(state["training"]["val_curve"]) == 2
    assert not list(tmp_path.glob(".poco.pt.tmp-*"))
    # the validation fish given must be the split's
    wrong = [*common, "--train", *files("train"), "--val", probs_dir / "subject_4.h5", "--settings", "{}"]
    assert run_script("train_poco", [*wrong, "--out", tmp_path / "wrong.pt"]) == 1
    assert not (tmp_path / "wrong.pt").exists()
    with pytest.raises(ValueError, match="unknown poco settings"):
        run_script("train_poco", [*argv[:-1], json.dumps({"modle": {}}), "--out", tmp_path / "bad.pt"])
