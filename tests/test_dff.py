"""DF/F: the causal baseline, the noise level, the stimulus vocabulary and the written file."""

import h5py
import numpy as np
import pytest

from sbm.io.chen import read_chen_fish, read_stim_codes
from sbm.io.errors import InputError
from sbm.spikes.dff import build_vocabulary, causal_baseline, noise_level, one_hot, write_chen_dff


def brute_force_baseline(f, window, q):
    out = np.empty_like(f)
    for t in range(len(f)):
        past = np.sort(f[max(0, t - window + 1) : t + 1], axis=0)
        out[t] = past[min(int(q / 100 * len(past)), len(past) - 1)]
    return out


@pytest.mark.parametrize("window, q", [(1, 8), (7, 8), (20, 50), (60, 8)])
def test_baseline_is_the_running_percentile_of_the_past(window, q):
    f = np.random.default_rng(0).random((150, 5)).astype(np.float32)
    np.testing.assert_array_equal(causal_baseline(f, window, q), brute_force_baseline(f, window, q))


def test_baseline_is_causal():
    rng = np.random.default_rng(1)
    f = rng.random((300, 4)).astype(np.float32) + 1
    g = f.copy()
    g[120:] = rng.random((180, 4)) * 100  # change the future only
    np.testing.assert_array_equal(causal_baseline(f, 60, 8)[:120], causal_baseline(g, 60, 8)[:120])
    assert not np.array_equal(causal_baseline(f, 60, 8)[120:], causal_baseline(g, 60, 8)[120:])


def test_noise_level_of_white_noise():
    # For white noise of std s: median |diff| = 0.6745 * sqrt(2) * s, so nu = 95.4 s / sqrt(fps).
    s, fps = 0.05, 2.0
    x = np.random.default_rng(2).normal(0, s, (200_000, 2))
    np.testing.assert_allclose(noise_level(x, fps), 100 * 0.6745 * np.sqrt(2) * s / np.sqrt(fps), rtol=0.01)


def test_vocabulary_spans_all_fish_and_one_hot_checks_codes():
    vocab = build_vocabulary({"a": np.array([3, 1, 1]), "b": np.array([12, 3])}, {3: "all_white"})
    assert vocab["codes"] == [1, 3, 12] and vocab["names"] == ["code_1", "all_white", "code_12"]
    np.testing.assert_array_equal(one_hot(np.array([12, 1]), vocab["codes"], "x"), [[0, 0, 1], [1, 0, 0]])
    with pytest.raises(InputError, match=r"x: stimulus codes \[7\] are not in the stimulus vocabulary"):
        one_hot(np.array([7]), vocab["codes"], "x")


def test_write_dff_file(small_fish, tmp_path):
    fish = read_chen_fish(small_fish)
    vocab = build_vocabulary({"subject_1": read_stim_codes(small_fish)})
    out = tmp_path / "dff.h5"
    summary = write_chen_dff(fish, out, vocab, baseline_window_s=30, baseline_percentile=8, block_neurons=64)
    with h5py.File(out) as f:
        dff = f["dff"][()]
        assert dff.shape == (fish.n_frames, fish.n_neurons) and np.isfinite(dff).all()
        assert f["xyz"].shape == (fish.n_neurons, 3) and f["stimulus"].shape == (fish.n_frames, len(vocab["codes"]))
        np.testing.assert_array_equal(f["stimulus"][()].sum(1), 1)
        assert f["behavior"].shape == (fish.n_frames, 5)
        assert list(f.attrs["behavior_names"]) == list(fish.behavior_names)
        assert f.attrs["fps"] == fish.fps and f.attrs["baseline_window_frames"] == round(30 * fish.fps)
        noise = f["noise_level"][()]
    # Block size must not change anything.
    write_chen_dff(fish, tmp_path / "one_block.h5", vocab, block_neurons=10_000)
    with h5py.File(tmp_path / "one_block.h5") as f:
        np.testing.assert_array_equal(f["dff"][()], dff)
    # The simulator targets CASCADE noise levels of about 2-8 (measured nu also holds signal).
    assert 2 < np.median(noise) < 8 and summary["neurons"] == fish.n_neurons
    # A low-percentile baseline sits under the noise: DF/F is mostly small and positive, with
    # transients well above it.
    assert 0 < np.median(dff) < 0.3 and np.percentile(dff, 99) > np.median(dff) + 0.2


def test_nonpositive_baseline_neurons_are_dropped_and_counted(fish_copy, tmp_path):
    with h5py.File(fish_copy / "TimeSeries.h5", "r+") as f:
        f["CellResp"][:, 5] = -1.0  # a cell that is not raw fluorescence
    fish = read_chen_fish(fish_copy)
    vocab = build_vocabulary({"subject_1": read_stim_codes(fish_copy)})
    summary = write_chen_dff(fish, tmp_path / "d.h5", vocab)
    expected_drop = int(5 in fish.columns)
    assert summary["dropped"]["nonpositive_baseline"] == expected_drop == 1
    with h5py.File(tmp_path / "d.h5") as f:
        assert f.attrs["dropped_nonpositive_baseline"] == 1
        assert f["dff"].shape[1] == fish.n_neurons - 1 and f["cell_id"].shape[0] == fish.n_neurons - 1
    with h5py.File(fish_copy / "TimeSeries.h5", "r+") as f:
        f["CellResp"][:, :] = -1.0
    with pytest.raises(InputError, match="every neuron has a non-positive baseline"):
        write_chen_dff(read_chen_fish(fish_copy), tmp_path / "e.h5", vocab)
    assert not (tmp_path / "e.h5").exists()
