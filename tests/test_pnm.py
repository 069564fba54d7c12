"""The PNM: invariance to neuron order and padding, behaviour checks, the balanced sampler, training."""

import h5py
import numpy as np
import pytest
import torch
from conftest import run_script, write_probs

from sbm.data.behavior import (
    BalancedSampler,
    frame_batch,
    frame_index,
    load_behavior_fish,
    read_behavior,
    scale_to_unit,
)
from sbm.io.errors import InputError
from sbm.model.pnm import PNM, PNMConfig
from sbm.train.pnm import PNMTrainConfig, pearson_r, predict_fish, train_pnm

NAMES = ["left_turn", "right_turn", "forward_swim", "raw_left", "raw_right"]


def inputs(B=2, F=4, N=30, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.rand(B, F, N, generator=g),
        torch.rand(B, N, 3, generator=g) * 2 - 1,
        torch.ones(B, N, dtype=torch.bool),
    )


def test_shuffling_neurons_leaves_the_output_unchanged():
    model = PNM(PNMConfig(seed=1))
    prob, xyz, mask = inputs()
    perm = torch.randperm(prob.shape[2])
    out, shuffled = model(prob, xyz, mask), model(prob[:, :, perm], xyz[:, perm], mask[:, perm])
    torch.testing.assert_close(out, shuffled, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(out[0], out[1])  # the output does depend on the activity


def test_padding_leaves_the_output_unchanged():
    """Padded neurons (any values, masked) change nothing: nor the z-scores, nor the mean."""
    model = PNM(PNMConfig(seed=2))
    prob, xyz, mask = inputs(B=1)
    pad = 11
    padded_prob = torch.cat((prob, torch.rand(1, 4, pad)), dim=2)
    padded_xyz = torch.cat((xyz, torch.rand(1, pad, 3)), dim=1)
    padded_mask = torch.cat((mask, torch.zeros(1, pad, dtype=torch.bool)), dim=1)
    torch.testing.assert_close(
        model(prob, xyz, mask), model(padded_prob, padded_xyz, padded_mask), atol=1e-5, rtol=1e-5
    )
    # and a fish batched beside a larger one (45 neurons) gets what it gets alone
    big = inputs(B=1, N=45, seed=3)
    small = (
        torch.cat((prob, torch.zeros(1, 4, 15)), dim=2),
        torch.cat((xyz, torch.zeros(1, 15, 3)), dim=1),
        torch.cat((mask, torch.zeros(1, 15, dtype=torch.bool)), dim=1),
    )
    batch = [torch.cat(pair) for pair in zip(small, big)]
    torch.testing.assert_close(model(*batch), torch.cat((model(prob, xyz, mask), model(*big))), atol=1e-5, rtol=1e-5)


def test_series_equals_the_model_on_every_window():
    model = PNM(PNMConfig(seed=4))
    prob, xyz, _ = inputs(B=1, F=20, N=25)
    series = model.series(prob[0], xyz[0], chunk=7)
    assert torch.isnan(series[:3]).all()
    windows = prob[0].unfold(0, 4, 1).permute(0, 2, 1)  # (17, 4, N): frames t - 3 .. t
    direct = model(windows, xyz.expand(17, -1, -1), torch.ones(17, 25, dtype=torch.bool)).clamp(0, 1)
    torch.testing.assert_close(series[3:], direct, atol=1e-5, rtol=1e-5)


def test_balanced_sampler_pairs_rare_frames_with_typical_ones():
    rng = np.random.default_rng(0)
    target = np.where(rng.random(1000) < 0.05, rng.random(1000), 0.0)  # sparse bouts
    sampler = BalancedSampler(target, batch_size=16, quantile=0.9, high_fraction=0.5, seed=1)
    rare = set(np.flatnonzero(target > 0))
    assert set(sampler.high) == rare  # the 0.9 quantile is 0: every bout is rare
    seen = set()
    for _ in range(200):
        batch = sampler.batch()
        assert len(batch) == 16 and sum(i in rare for i in batch) == 8  # half rare, though 5 % of frames
        seen.update(batch.tolist())
    assert seen == set(range(1000))  # every frame, rare or typical, comes round
    with pytest.raises(ValueError, match="no frames above"):
        BalancedSampler(np.zeros(100), batch_size=8)


def test_scale_to_unit_maps_min_and_quantile_to_0_and_1():
    b = np.array([[1.0, 0], [2, 0], [3, 0], [101, 5]])
    scaled = scale_to_unit(b, 0.5)
    np.testing.assert_allclose(scaled[:, 0], [0, 2 / 3, 1, 1], rtol=1e-6)  # the 0.5 quantile (2.5) -> 1, clipped above
    np.testing.assert_allclose(scaled[:, 1], [0, 0, 0, 1])  # mostly minimum: scaled by the maximum


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda f: (
                f.__delitem__("behavior"),
                f.attrs.__setitem__("behavior_problem", "data_full.mat has no Behavior_full"),
            ),
            r"no usable behaviour \(data_full.mat has no Behavior_full\)",
        ),
        (
            lambda f: f["behavior"].__setitem__((7, 2), np.nan),
            r"forward_swim has 1 non-finite values \(first at frame 7\)",
        ),
        (
            lambda f: f["behavior"].__setitem__((slice(None), 1), 0.3),
            r"\['right_turn'\] is constant over all 60 frames",
        ),
        (
            lambda f: f.attrs.__setitem__("behavior_names", ["a", "b", "c", "d", "e"]),
            r"column\(s\) \['left_turn'.*missing; this fish has \['a'",
        ),
        (
            lambda f: (f.__delitem__("behavior"), f.__setitem__("behavior", np.zeros((59, 5), np.float32))),
            r"behavior has shape \(59, 5\)",
        ),
    ],
)
def test_bad_behaviour_is_refused_with_the_file_and_the_reason(tmp_path, edit, message):
    path = write_probs(tmp_path / "subject_1.h5")
    with h5py.File(path, "r+") as f:
        edit(f)
    with pytest.raises(InputError, match=message) as err:
        read_behavior(path, NAMES)
    assert str(path) in str(err.value)


def test_the_script_refuses_a_training_fish_without_behaviour(tmp_path, capsys):
    for i in (1, 2, 3):
        write_probs(tmp_path / f"subject_{i}.h5", seed=i, subject=f"subject_{i}")
    with h5py.File(tmp_path / "subject_2.h5", "r+") as f:
        del f["behavior"]
    (tmp_path / "split.yaml").write_text("train: [subject_1, subject_2]\nval: [subject_3]\nheldout: [subject_4]\n")
    code = run_script(
        "train_pnm",
        [
            "--split",
            tmp_path / "split.yaml",
            "--train",
            tmp_path / "subject_1.h5",
            tmp_path / "subject_2.h5",
            "--val",
            tmp_path / "subject_3.h5",
            "--behavior",
            "left_turn",
            "--out",
            tmp_path / "pnm.pt",
        ],
    )
    assert code == 1 and not (tmp_path / "pnm.pt").exists()
    assert f"{tmp_path / 'subject_2.h5'}: this fish has no usable behaviour" in capsys.readouterr().err


def write_behaving_fish(path, n_frames, n_neurons, seed):
    """A probs file whose behaviour is driven by three motor regions (left, right, rostral): sparse
    bouts of a latent motor drive that also raises the region's spike probabilities."""
    write_probs(path, n_frames=n_frames, n_neurons=n_neurons, seed=seed, subject=path.stem)
    rng = np.random.default_rng(seed)
    with h5py.File(path, "r+") as f:
        prob, xyz = f["prob"][()], f["xyz"][()]
        regions = [xyz[:, 0] < 130, xyz[:, 0] > 270, xyz[:, 1] > 550]
        bouts = np.where(rng.random((n_frames, 3)) < 0.1, rng.uniform(0.3, 1, (n_frames, 3)), 0.0)
        for r, region in enumerate(regions):
            prob[:, region] = np.clip(prob[:, region] + 0.6 * bouts[:, r : r + 1], 0, 1)
        f["prob"][...] = prob
        f["behavior"][...] = np.concatenate([bouts, bouts[:, :2] + 0.5 * bouts[:, 2:]], axis=1)
    return path


@pytest.fixture(scope="module")
def behaviour_fish(tmp_path_factory):
    folder = tmp_path_factory.mktemp("behaviour")
    paths = [write_behaving_fish(folder / f"subject_{i}.h5", 400, 40 + 5 * i, seed=10 + i) for i in range(4)]
    return [load_behavior_fish(p, NAMES, 0.999, 4) for p in paths]


def test_frame_batch_holds_the_frames_ending_at_t(behaviour_fish):
    index = np.array([[0, 3], [2, 399]])
    batch = frame_batch(behaviour_fish, index, 4)
    n0, n2 = len(behaviour_fish[0].xyz), len(behaviour_fish[2].xyz)
    assert batch["prob"].shape == (2, 4, n2) and batch["mask"].sum(dim=1).tolist() == [n0, n2]
    np.testing.assert_allclose(batch["prob"][1, :, :n2], behaviour_fish[2].prob[396:400].astype(np.float32))
    np.testing.assert_allclose(batch["target"][0], behaviour_fish[0].target[3])
    assert len(frame_index(behaviour_fish, 4)) == 4 * 397


def test_the_pnm_learns_a_behaviour_of_other_fish(behaviour_fish):
    """Trained on two fish (selected on a third), it predicts a fourth's right turns."""
    model, summary = train_pnm(
        PNMConfig(seed=0),
        PNMTrainConfig(steps=150, val_every=50, batch_size=16),
        behaviour_fish[:2],
        behaviour_fish[2:3],
        dim=1,
        progress=False,
    )
    assert summary["best_val_r"] == max(h["val_r"] for h in summary["history"])
    held_out = behaviour_fish[3]
    pred = predict_fish(model, held_out)
    assert np.isnan(pred[:3]).all() and np.all((pred[3:] >= 0) & (pred[3:] <= 1))
    assert pearson_r(pred[3:], held_out.target[3:, 1]) > 0.5  # 0.91 when written
