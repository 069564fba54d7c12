"""The subject split and the training windows: leaks, shapes, padding, streaming order, bad files."""

import shutil

import h5py
import numpy as np
import pytest
import torch
from conftest import write_probs

from sbm.data.split import SplitConfig, make_split
from sbm.data.windows import (
    Windows,
    check_same_stimuli,
    collate,
    epoch_batches,
    far_targets,
    model_inputs,
    normalise_positions,
    open_probs,
    spaced_windows,
)
from sbm.io.errors import InputError

SUBJECTS = [f"subject_{i}" for i in range(1, 8)]


def test_random_split_is_seeded_disjoint_and_complete():
    split = make_split(SUBJECTS, SplitConfig(n_val=2, n_heldout=1, seed=3))
    assert split == make_split(SUBJECTS, SplitConfig(n_val=2, n_heldout=1, seed=3))
    assert split != make_split(SUBJECTS, SplitConfig(n_val=2, n_heldout=1, seed=4))
    assert (len(split.train), len(split.val), len(split.heldout)) == (4, 2, 1)
    assert sorted(split.train + split.val + split.heldout) == sorted(SUBJECTS)


def test_explicit_split_is_kept():
    split = make_split(
        SUBJECTS, SplitConfig(train=("subject_1", "subject_2"), val=("subject_3",), heldout=("subject_7",))
    )
    assert (split.train, split.val, split.heldout) == (["subject_1", "subject_2"], ["subject_3"], ["subject_7"])


def test_a_random_split_of_the_labs_own_fish_names_orders_their_numbers_as_numbers():
    names = ["fish_a10", "fish_a2", "ZF-3", "zf_b1", "fish_a1", "fish_a9"]
    split = make_split(names, SplitConfig(n_val=1, n_heldout=1, seed=0))
    assert sorted(split.train + split.val + split.heldout) == sorted(names)
    fish_a = [s for s in split.train if s.startswith("fish_a")]
    assert fish_a == sorted(fish_a, key=lambda s: int(s[6:]))  # fish_a2 before fish_a10
    numbered = make_split(SUBJECTS + ["subject_10"], SplitConfig(n_val=1, n_heldout=1, seed=1)).train
    assert numbered == sorted(numbered, key=lambda s: int(s.split("_")[1]))


@pytest.mark.parametrize(
    "cfg, message",
    [
        (
            SplitConfig(train=("subject_1", "subject_2"), val=("subject_3",), heldout=("subject_2",)),
            "both train and heldout",
        ),
        (SplitConfig(train=("subject_1",), val=("subject_2",), heldout=("subject_2",)), "both val and heldout"),
        (SplitConfig(train=("subject_1",), val=("subject_9",), heldout=("subject_2",)), "not among"),
        (SplitConfig(train=("subject_1",), val=(), heldout=("subject_2",)), "no val fish"),
        (SplitConfig(n_val=4, n_heldout=3), "cannot give"),
    ],
)
def test_bad_splits_are_errors(cfg, message):
    with pytest.raises(ValueError, match=message):
        make_split(SUBJECTS, cfg)


def test_positions_are_normalised_isotropically():
    xyz = np.random.default_rng(0).uniform(0, [400, 800, 250], (100, 3))
    p = normalise_positions(xyz)
    assert np.isclose(p[:, 1].min(), -1) and np.isclose(p[:, 1].max(), 1)  # the longest axis spans [-1, 1]
    d_raw, d_norm = np.linalg.norm(xyz[:50] - xyz[50:], axis=1), np.linalg.norm(p[:50] - p[50:], axis=1)
    np.testing.assert_allclose(d_norm / d_raw, (d_norm / d_raw)[0], rtol=1e-4)  # one scale for every axis


def test_a_window_is_the_file_slice(probs_dir):
    fish = open_probs(probs_dir / "subject_2.h5", 7)
    windows = Windows([fish], context=6, stride=3, block_frames=16)
    assert len(windows) == len(range(0, 60 - 6, 3))
    with h5py.File(probs_dir / "subject_2.h5") as f:
        for i in (0, 5, len(windows) - 1):
            item = windows[i]
            assert torch.equal(item["prob"], torch.from_numpy(f["prob"][item["start"] : item["start"] + 7]))
            assert torch.equal(item["stimulus"], torch.from_numpy(f["stimulus"][item["start"] : item["start"] + 7]))


def test_batches_pad_fish_of_different_sizes(probs_dir):
    fishes = [open_probs(probs_dir / f"subject_{i}.h5", 7) for i in (1, 3)]  # 26 and 30 neurons
    windows = Windows(fishes, context=6)
    batch = collate([windows[0], windows[len(windows) - 1]])
    assert batch["prob"].shape == (2, 7, 30) and batch["mask"].sum(1).tolist() == [26, 30]
    assert batch["prob"][0, :, 26:].abs().sum() == 0
    (prob, xyz, stimulus, mask), target = model_inputs(batch)
    assert torch.equal(prob[:, 1:], target[:, :-1]) and stimulus.shape == (2, 6, 3)


def test_far_targets_are_the_frames_h_ahead_of_each_step(probs_dir):
    windows = Windows([open_probs(probs_dir / "subject_2.h5", 10)], context=4 + 5 - 1)  # C = 4, up to 5 ahead
    batch = collate([windows[0], windows[3]])
    (prob, _, stimulus, _), target = model_inputs(batch, context=4)
    assert prob.shape[1] == 4 and stimulus.shape[1] == 4 and torch.equal(target, batch["target"][:, 1:5])
    far = far_targets(batch, 4, (2, 5))
    assert far.shape == (2, 4, prob.shape[2], 2)
    for t in range(4):
        assert torch.equal(far[:, t, :, 0], batch["target"][:, t + 2]) and torch.equal(
            far[:, t, :, 1], batch["target"][:, t + 5]
        )


def test_epoch_order_is_seeded_and_ranks_share_it_without_overlap(probs_dir):
    windows = Windows([open_probs(probs_dir / f"subject_{i}.h5", 7) for i in (1, 2)], context=6)
    one = epoch_batches(windows, 4, epoch=0, seed=0)
    assert one == epoch_batches(windows, 4, epoch=0, seed=0) and one != epoch_batches(windows, 4, epoch=1, seed=0)
    flat = [i for b in one for i in b]
    assert len(set(flat)) == len(flat) == (len(windows) // 4) * 4
    ranks = [epoch_batches(windows, 2, epoch=0, seed=0, rank=r, world=2) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1])
    both = [i for r in ranks for b in r for i in b]
    assert sorted(both) == sorted(flat)


def test_validation_windows_spread_over_the_fish(probs_dir):
    windows = Windows([open_probs(probs_dir / "subject_1.h5", 7)], context=6)
    idx = spaced_windows(windows, 5)
    assert idx[0] == 0 and idx[-1] == len(windows) - 1 and len(set(idx)) == 5


def damaged(probs_dir, tmp_path, change):
    path = tmp_path / "subject_1.h5"
    shutil.copy(probs_dir / "subject_1.h5", path)
    with h5py.File(path, "r+") as f:
        change(f)
    return path


def _replace(name, value):
    def change(f):
        del f[name]
        f[name] = value

    return change


def _shorten(frames):
    """A consistent recording of only `frames` frames."""

    def change(f):
        for name in [n for n in f if f[n].shape[0] == f["prob"].shape[0] and f[n].ndim == 2]:
            _replace(name, f[name][:frames])(f)

    return change


@pytest.mark.parametrize(
    "change, message",
    [
        (_replace("xyz", np.zeros((20, 3), np.float32)), "xyz has shape"),
        (_replace("stimulus", np.zeros((50, 3), np.float32)), "stimulus has shape"),
        (_replace("prob", np.zeros((60, 0), np.float32)), "empty fish"),
        (_replace("prob", np.full((60, 26), np.nan, np.float32)), r"prob\[0, 0\] = nan"),
        (_replace("prob", np.full((60, 26), 1.5, np.float32)), "in \\[0, 1\\]"),
        (_shorten(5), "fewer than the 7"),
        (lambda f: f.__delitem__("xyz"), "missing dataset"),
    ],
)
def test_bad_probs_files_are_named(probs_dir, tmp_path, change, message):
    path = damaged(probs_dir, tmp_path, change)
    with pytest.raises(InputError, match=message) as err:
        open_probs(path, 7)
    assert str(path) in str(err.value)


def test_truncated_probs_file_is_named(probs_dir, tmp_path):
    path = tmp_path / "subject_1.h5"
    path.write_bytes((probs_dir / "subject_1.h5").read_bytes()[:2000])
    with pytest.raises(InputError, match="cannot be read as HDF5"):
        open_probs(path, 7)


def test_fish_with_other_stimulus_columns_are_refused(tmp_path):
    a = open_probs(write_probs(tmp_path / "a.h5", n_stimuli=3), 7)
    b = open_probs(write_probs(tmp_path / "b.h5", n_stimuli=4), 7)
    with pytest.raises(InputError, match="stimulus columns"):
        check_same_stimuli([a, b])


def test_a_fish_streams_through_a_bounded_block_cache(probs_dir):
    windows = Windows([open_probs(probs_dir / "subject_1.h5", 7)], context=6, block_frames=16, cached_blocks=2)
    for batch in epoch_batches(windows, 4, epoch=0, seed=0):
        for i in batch:
            windows[i]
            assert len(windows._blocks) <= 2
            assert all(prob.shape[0] <= 16 + 6 for prob, _ in windows._blocks.values())
