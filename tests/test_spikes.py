"""Spike inference: causality, the Poisson conversion, ground-truth resampling and noise, the model file."""

import h5py
import numpy as np
import pytest
import torch
from conftest import SIMULATED_CASCADE, ground_truth_dir, needs_ground_truth

from sbm.io.errors import InputError
from sbm.spikes.ar1 import AR1SpikeModel, train_ar1_model
from sbm.spikes.baselines import first_difference
from sbm.spikes.choice import calibrated, choose_method, load_spike_model
from sbm.spikes.ground_truth import (
    FrameTrace,
    Recording,
    frame_traces,
    load_cascade,
    load_cascade_dataset,
    noise_std,
    resample,
    synthetic_training_traces,
)
from sbm.spikes.metrics import lagged_r
from sbm.spikes.model import SpikeModel, SpikeNet, SpikeNetConfig, train_model
from sbm.spikes.sparse import SparseAR1Model, innovation, running_decay, running_noise, train_sparse_model
from sbm.spikes.stage import check_frame_rate, spike_probability, write_probabilities, write_rates

TINY = SpikeNetConfig(channels=8, steps=30, ensemble=1, window=32, batch=16)


@pytest.mark.parametrize("lookahead", [0, 1, 2])
def test_network_reads_no_frame_beyond_the_lookahead(lookahead):
    torch.manual_seed(0)
    net = SpikeNet(SpikeNetConfig(lookahead=lookahead, dilations=(1, 2, 4)))
    x = torch.randn(3, 120)
    t = 60
    for changed_from in (t + lookahead + 1, t + lookahead + 5):
        y = x.clone()
        y[:, changed_from:] = torch.randn(3, 120 - changed_from) * 10
        torch.testing.assert_close(net(x)[:, : t + 1], net(y)[:, : t + 1], rtol=0, atol=0)
    if lookahead:  # the frames it may read do change the estimate
        y = x.clone()
        y[:, t + lookahead] += 5
        assert not torch.allclose(net(x)[:, t], net(y)[:, t])
    assert (net(x) >= 0).all()


def test_poisson_conversion():
    lam = np.array([0.0, 1e-9, 0.1, 1.0, 5.0])
    np.testing.assert_allclose(spike_probability(lam), 1 - np.exp(-lam), rtol=1e-12, atol=1e-15)
    assert spike_probability(np.array([1e-12]))[0] > 0  # no cancellation for tiny rates
    for bad in ([-0.1], [np.nan], [np.inf]):
        with pytest.raises(ValueError, match="finite and >= 0"):
            spike_probability(np.array(bad))


def recording_with_spikes(fps_native=30.0, seconds=600, rate_hz=0.5, noise=0.01, seed=0):
    rng = np.random.default_rng(seed)
    time = np.arange(0, seconds, 1 / fps_native)
    spikes = np.sort(rng.uniform(0, seconds, rng.poisson(rate_hz * seconds)))
    kernel = np.exp(-np.arange(0, 5, 1 / fps_native) / 1.0)
    train = np.histogram(spikes, bins=np.r_[time, seconds])[0]
    dff = np.convolve(train, kernel)[: len(time)] * 0.3 + rng.normal(0, noise, len(time))
    return Recording("r#0", "test", time, dff, spikes)


@pytest.mark.parametrize("mode", ["average", "sample"])
def test_resampling_counts_every_spike_once(mode):
    rec = recording_with_spikes()
    frames, counts, _ = resample(rec, 2.0, mode, np.random.default_rng(0))
    assert len(frames) == len(counts) and np.isfinite(frames).all()
    # All spikes after the first frame edge and before the last are counted, each once.
    assert abs(counts.sum() - len(rec.spike_times)) <= 2
    assert abs(len(frames) - 600 * 2) <= 2


def test_noise_is_topped_up_to_the_target_level():
    rng = np.random.default_rng(0)
    time = np.arange(0, 3000, 1 / 30)
    rec = Recording("n#0", "noise", time, rng.normal(0, 0.01, len(time)), np.array([]))
    for target in (2.0, 6.0):
        traces = frame_traces([rec], 2.0, "average", target, np.random.default_rng(1))
        # The pipeline's DF/F divides by an 8th-percentile baseline, which sits 1.405 noise
        # std under the mean: the measured level is the target scaled by 1 / (1 - 1.405 sigma).
        sigma = noise_std(target, 2.0)
        assert traces and abs(traces[0].noise * (1 - 1.405 * sigma) / target - 1) < 0.05
    # Already noisier than asked: skipped, never denoised.
    assert frame_traces([rec], 2.0, "sample", 0.5, np.random.default_rng(1)) == []


def test_cascade_format_loads_and_bad_folders_fail(simulated_ground_truth, tmp_path):
    recs = load_cascade(simulated_ground_truth, [SIMULATED_CASCADE])[SIMULATED_CASCADE]
    assert len(recs) == 6 and all(25 < r.fps < 35 for r in recs)
    assert all(np.all(np.diff(r.time) > 0) and len(r.spike_times) > 0 for r in recs)
    assert all(abs(r.spike_times.max() - r.time[-1]) < 10 for r in recs)  # events_AP read in units of 0.1 ms
    with pytest.raises(InputError, match="no \\*_mini.mat ground-truth files"):
        load_cascade_dataset(tmp_path)
    with pytest.raises(InputError, match="ground-truth dataset folder not found"):
        load_cascade(tmp_path, ["DS99"])
    (tmp_path / "x_mini.mat").write_bytes(b"not a mat file")
    with pytest.raises(InputError, match="x_mini.mat: not a CASCADE ground-truth file"):
        load_cascade_dataset(tmp_path)


def test_excluded_neurons_are_skipped_and_repeated_times_dropped(simulated_ground_truth, tmp_path, caplog):
    """CASCADE's authors excluded the neurons they renamed *_mXini.mat / *_miXni.mat: not read, but
    counted. A sample that repeats its predecessor's time (DS27) is dropped, not the whole trial."""
    import shutil

    import scipy.io

    folder = tmp_path / "DS"
    shutil.copytree(simulated_ground_truth / SIMULATED_CASCADE, folder)
    (folder / "cell0_mini.mat").rename(folder / "cell0_mXini.mat")
    trials = scipy.io.loadmat(folder / "cell1_mini.mat")["CAttached"]
    t = trials[0, 0][0, 0]
    n = t["fluo_time"].size
    time = t["fluo_time"].ravel().copy()
    time[100] = time[99]
    trials[0, 0] = {"fluo_time": time, "fluo_mean": t["fluo_mean"].ravel(), "events_AP": t["events_AP"].ravel()}
    scipy.io.savemat(folder / "cell1_mini.mat", {"CAttached": trials})
    with caplog.at_level("INFO"):
        recs = load_cascade_dataset(folder)
    assert sorted(r.name.split("#")[0] for r in recs) == [f"cell{k}_mini" for k in range(1, 6)]
    assert len(next(r for r in recs if r.name.startswith("cell1")).time) == n - 1
    assert "1 excluded files" in caplog.text and "1 samples repeating a time" in caplog.text


@needs_ground_truth
def test_cascade_ground_truth_loads(tmp_path):
    """The real database, where it is (CI: the copy beside the repository)."""
    recs = load_cascade(ground_truth_dir(), ["DS06-GCaMP6f-zf-aDp"])["DS06-GCaMP6f-zf-aDp"]
    assert len(recs) >= 8 and all(25 < r.fps < 35 for r in recs)
    assert all(np.all(np.diff(r.time) > 0) and len(r.spike_times) > 0 for r in recs)


def test_model_roundtrip_bands_and_frame_rate(tmp_path):
    rng = np.random.default_rng(0)
    traces = []
    for k, noise in enumerate([1.0, 4.0, 6.0] * 4):
        counts = rng.poisson(0.3, 400).astype(np.float32)
        dff = (np.convolve(counts, [0.3, 0.2, 0.1])[:400] + rng.normal(0, 0.05, 400)).astype(np.float32)
        traces.append(FrameTrace(f"t#{k}", "t", dff, counts, noise))
    model = train_model(traces, 2.0, [0, 3, 5, 100], TINY)
    assert sorted(model.nets) == [0, 1, 2]
    band, outside = model.band_of(np.array([0.5, 3.0, 7.0, 250.0, np.nan]))
    assert band.tolist()[:3] == [0, 1, 2] and outside.tolist() == [False, False, False, True, True]
    x = np.stack([t.dff for t in traces[:3]], 1)
    again = load_spike_model(torch.load(_save(model, tmp_path), weights_only=False))
    assert isinstance(again, SpikeModel)
    np.testing.assert_array_equal(model.infer(x, np.array([1.0, 4.0, 6.0])), again.infer(x, np.array([1.0, 4.0, 6.0])))
    check_frame_rate(model, 2.15, 0.1, "f.h5")
    with pytest.raises(InputError, match=r"f.h5: recorded at 2.500 Hz but the spike model was trained for 2.000 Hz"):
        check_frame_rate(model, 2.5, 0.1, "f.h5")


def _save(model, folder):
    path = folder / "m.pt"
    torch.save(model.state(), path)
    return path


def test_rates_and_probability_files(small_fish, tmp_path):
    """The stage functions on a simulated fish's DF/F: shapes, provenance, p = 1 - exp(-lambda)."""
    from sbm.io.chen import read_chen_fish, read_stim_codes
    from sbm.spikes.dff import build_vocabulary, write_chen_dff

    fish = read_chen_fish(small_fish)
    write_chen_dff(fish, tmp_path / "dff.h5", build_vocabulary({"s": read_stim_codes(small_fish)}))
    with h5py.File(tmp_path / "dff.h5") as d:
        fps, noise = float(d.attrs["fps"]), d["noise_level"][()]
    traces = [
        FrameTrace(
            f"t#{k}",
            "t",
            np.random.default_rng(k).random(300).astype(np.float32),
            np.random.default_rng(k).poisson(0.2, 300).astype(np.float32),
            float(n),
        )
        for k, n in enumerate(noise[:12])
    ]
    model = train_model(traces, fps, [0, 100], TINY)
    write_rates(tmp_path / "dff.h5", model, tmp_path / "rates.h5", "test/model.pt")
    write_probabilities(tmp_path / "rates.h5", tmp_path / "dff.h5", tmp_path / "probs.h5")
    with h5py.File(tmp_path / "probs.h5") as p, h5py.File(tmp_path / "dff.h5") as d:
        assert p["prob"].shape == d["dff"].shape
        np.testing.assert_allclose(p["prob"][()], 1 - np.exp(-p["rate"][()]), rtol=1e-5, atol=1e-7)
        assert p.attrs["lookahead"] == 0 and p.attrs["model_id"] == "test/model.pt"
        assert p.attrs["method"] == "causal-cnn-ensemble"
        np.testing.assert_array_equal(p["xyz"][()], d["xyz"][()])
        np.testing.assert_array_equal(p["cell_id"][()], d["cell_id"][()])
    # Constant traces and noise levels outside every band are counted, not hidden.
    with h5py.File(tmp_path / "dff.h5", "r+") as d:
        d["dff"][:, 3] = 0.25
    narrow = train_model([FrameTrace(t.name, t.dataset, t.dff, t.counts, 1.0) for t in traces], fps, [0, 3], TINY)
    write_rates(tmp_path / "dff.h5", narrow, tmp_path / "narrow.h5", "m")
    with h5py.File(tmp_path / "narrow.h5") as r:
        assert r.attrs["n_constant_traces"] == 1
        assert r.attrs["n_outside_bands"] == int((noise >= 3).sum()) > 0
        assert np.isfinite(r["rate"][()]).all()
    with h5py.File(tmp_path / "dff.h5", "r+") as d:
        d["dff"][5, 2] = np.nan
    with pytest.raises(InputError, match="dff.h5: dff holds 1 non-finite values"):
        write_rates(tmp_path / "dff.h5", model, tmp_path / "rates2.h5", "m")
    assert not (tmp_path / "rates2.h5").exists()
    # A dff file without its noise levels is named, with the missing dataset, before any work.
    with h5py.File(tmp_path / "dff.h5", "r+") as d:
        del d["noise_level"]
    with pytest.raises(InputError, match=r"dff.h5: missing dataset\(s\) \['noise_level'\]: rerun the dff stage"):
        write_rates(tmp_path / "dff.h5", model, tmp_path / "rates2.h5", "m")


@pytest.mark.slow
def test_network_learns_simulated_spikes_better_than_first_difference(tmp_path):
    sim = {"n_neurons": 300, "n_frames": 1000}
    train = synthetic_training_traces(2.0, sim, 1, [], seed=11, workdir=tmp_path / "train")
    test = synthetic_training_traces(2.0, sim, 1, [], seed=12, workdir=tmp_path / "test")
    model = train_model(train, 2.0, [0, 100], SpikeNetConfig(steps=300, ensemble=1))
    dff = np.stack([t.dff for t in test], 1)
    counts = np.stack([t.counts for t in test], 1)
    lam = model.infer(dff, np.array([t.noise for t in test]))
    r_cnn = np.nanmedian(lagged_r(lam, counts, 0))
    r_diff = np.nanmedian(lagged_r(first_difference(dff), counts, 0))
    assert r_cnn > r_diff + 0.05, (r_cnn, r_diff)


def _calcium_traces(g, spikes_per_dff, n=12, T=600, seed=0, noise=0.01, dataset="t"):
    """Traces of an AR(1) calcium model: dff(t) = g dff(t-1) + s(t) / spikes_per_dff + noise."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        counts = rng.poisson(0.3, T).astype(np.float32)
        c = np.zeros(T)
        for t in range(T):
            c[t] = (g * c[t - 1] if t else 0) + counts[t] / spikes_per_dff
        dff = (c + rng.normal(0, noise, T)).astype(np.float32)
        out.append(FrameTrace(f"{dataset}{k}#0", dataset, dff, counts, 1.0))
    return out


def test_ar1_model_recovers_the_decay_and_the_spike_scale(tmp_path):
    """On AR(1) calcium, the fitted g is the true decay and the gain turns DF/F back into spikes:
    inferred spikes add up to the true ones on new traces; the model reads no later frame."""
    model = train_ar1_model(_calcium_traces(0.7, 4.0), 2.0)
    assert abs(model.g - 0.7) < 0.03 and model.method == "causal-ar1" and model.lookahead == 0
    assert abs(model.gain - 4.0) < 0.4 and 0 <= model.offset < 0.05  # spikes per unit DF/F, no base rate
    test = _calcium_traces(0.7, 4.0, seed=1)
    dff, counts = np.stack([t.dff for t in test], 1), np.stack([t.counts for t in test], 1)
    lam = model.infer(dff)
    assert lam.dtype == np.float32 and lam.shape == dff.shape and (lam >= 0).all()
    assert 0.9 < lam.sum() / counts.sum() < 1.1
    assert np.nanmedian(lagged_r(lam, counts, 0)) > 0.9
    later = dff.copy()
    later[300:] += 5.0
    np.testing.assert_array_equal(model.infer(later)[:300], lam[:300])
    again = load_spike_model(torch.load(_save(model, tmp_path), weights_only=False))
    assert isinstance(again, AR1SpikeModel)
    np.testing.assert_array_equal(again.infer(dff), lam)
    with pytest.raises(ValueError, match="no spikes"):
        train_ar1_model([FrameTrace("t", "t", t.dff, np.zeros_like(t.counts), 1.0) for t in test], 2.0)


def test_ar1_model_shrinks_a_noisy_innovation_towards_the_base_rate():
    """Where the imaging noise is large, the least-squares line gives a base rate and a smaller
    slope: lambda is the best linear estimate of the count, not the innovation at full scale."""
    rng = np.random.default_rng(5)
    noisy = [
        FrameTrace(t.name, t.dataset, t.dff + rng.normal(0, 0.2, len(t.dff)).astype(np.float32), t.counts, 1.0)
        for t in _calcium_traces(0.7, 4.0)
    ]
    model = train_ar1_model(noisy, 2.0)
    assert model.offset > 0 and model.gain < 2.0  # 4 spikes per unit DF/F without the noise
    dff = np.stack([t.dff for t in noisy], 1)
    counts = np.stack([t.counts for t in noisy], 1)
    lam = model.infer(dff)
    matched = (
        lam.mean() / np.maximum(0, lam - model.offset).mean() * np.maximum(0, lam - model.offset)
    )  # same total, no offset
    assert abs(lam.sum() / counts.sum() - 1) < 0.05
    assert ((lam - counts) ** 2).mean() < ((matched - counts) ** 2).mean()


def test_ar1_rates_file_records_its_method(small_fish, tmp_path):
    """The stage writes the AR(1) model's rates with its method and provenance and no noise band."""
    from sbm.io.chen import read_chen_fish, read_stim_codes
    from sbm.spikes.dff import build_vocabulary, write_chen_dff

    write_chen_dff(
        read_chen_fish(small_fish), tmp_path / "dff.h5", build_vocabulary({"s": read_stim_codes(small_fish)})
    )
    with h5py.File(tmp_path / "dff.h5") as d:
        fps, dff = float(d.attrs["fps"]), d["dff"][()]
    model = train_ar1_model(_calcium_traces(0.7, 4.0), fps)
    model.info["datasets"] = ["t"]
    write_rates(tmp_path / "dff.h5", model, tmp_path / "rates.h5", "test/ar1.pt")
    write_probabilities(tmp_path / "rates.h5", tmp_path / "dff.h5", tmp_path / "probs.h5")
    with h5py.File(tmp_path / "rates.h5") as r, h5py.File(tmp_path / "probs.h5") as p:
        assert "band" not in r and "n_outside_bands" not in r.attrs
        assert '"datasets": ["t"]' in r.attrs["model_info"]
        np.testing.assert_allclose(r["rate"][()], model.infer(dff), rtol=1e-6)
        assert p.attrs["method"] == "causal-ar1" and p.attrs["lookahead"] == 0
        assert p.attrs["model_info"] == r.attrs["model_info"]


def test_decay_and_noise_estimators_recover_a_simulated_trace():
    """On AR(1) calcium (decay 0.8, white Poisson spikes) with white noise of sd 0.02, each neuron's
    running estimates reach the known decay and the innovation's noise sd, sqrt(1 + g^2) x 0.02."""
    rng = np.random.default_rng(1)
    T, g, sd = 20_000, 0.8, 0.02
    counts = rng.poisson(0.3, (T, 2))
    c = np.zeros((T, 2))
    for t in range(T):
        c[t] = (g * c[t - 1] if t else 0) + 0.25 * counts[t]
    dff = c + rng.normal(0, sd, (T, 2))
    decay = running_decay(dff, g=0.5, prior_frames=0)[-1]  # starts from a wrong prior, which has no weight
    np.testing.assert_allclose(decay, g, atol=0.01)
    noise = running_noise(innovation(dff, g))[-1]
    np.testing.assert_allclose(noise, sd * np.sqrt(1 + g * g), rtol=0.05)
    # A prior of T frames pulls the estimate half way to it.
    np.testing.assert_allclose(running_decay(dff, g=0.5, prior_frames=T)[-1], (0.5 + decay) / 2, atol=1e-9)


def test_sparse_model_fits_the_decay_and_gives_a_silent_trace_p_near_0(tmp_path):
    """Fitted on AR(1) calcium of two datasets (spikes 5 noise sds high), the sparse model finds the
    decay and the scale; a trace of noise alone gets p near 0 (under issue 28's floor bound of
    0.05; the AR(1) with its offset, fitted on the same traces, gives more), and the p the model
    records for a silent neuron is the one measured."""
    train = _calcium_traces(0.7, 4.0, noise=0.05, dataset="a") + _calcium_traces(
        0.7, 4.0, noise=0.05, seed=3, dataset="b"
    )
    model = train_sparse_model(train, 2.0)
    assert abs(model.g - 0.7) <= 0.05 and model.k > 0 and model.floor() == 0.0
    test = _calcium_traces(0.7, 4.0, noise=0.05, seed=7)
    dff, counts = np.stack([t.dff for t in test], 1), np.stack([t.counts for t in test], 1)
    lam = model.infer(dff)
    assert lam.dtype == np.float32 and lam.shape == dff.shape and (lam >= 0).all()
    assert 0.7 < lam.sum() / counts.sum() < 1.3 and np.nanmedian(lagged_r(lam, counts, 0)) > 0.8
    silent = np.random.default_rng(9).normal(0, 0.05, (2000, 6)).astype(np.float32)
    p = spike_probability(model.infer(silent))
    assert p.mean() < 0.05 and (p == 0).mean() > 0.6, (p.mean(), (p == 0).mean())
    assert spike_probability(train_ar1_model(train, 2.0).infer(silent)).mean() > 0.07
    recorded = model.infer_with_parameters(silent)[1]["silent_p"]  # what the probs file tells a reader
    np.testing.assert_allclose(recorded, p.mean(), atol=0.01)
    again = load_spike_model(torch.load(_save(model, tmp_path), weights_only=False))
    assert isinstance(again, SparseAR1Model)
    np.testing.assert_array_equal(again.infer(dff), lam)


def test_sparse_model_has_no_floor_where_the_ar1_has_one():
    """Where the imaging noise is twice a spike, the AR(1)'s least-squares line has a base
    rate: every frame gets p >= 1 - exp(-offset), a DF/F that sits still included. The sparse
    model fitted on the same traces gives such a frame p = 0, and its frames without a spike stay
    within issue 28's bound."""
    rng = np.random.default_rng(5)
    noisy = [
        FrameTrace(t.name, t.dataset, t.dff + rng.normal(0, 0.5, len(t.dff)).astype(np.float32), t.counts, 1.0)
        for t in _calcium_traces(0.7, 4.0)
    ]
    ar1, sparse = train_ar1_model(noisy, 2.0), train_sparse_model(noisy, 2.0)
    still = np.zeros((50, 3), np.float32)
    assert ar1.floor() > 0.05 and spike_probability(ar1.infer(still)).min() == pytest.approx(ar1.floor(), rel=1e-5)
    assert sparse.floor() == 0.0 and (sparse.infer(still) == 0).all()
    dff, counts = np.stack([t.dff for t in noisy], 1), np.stack([t.counts for t in noisy], 1)
    p = spike_probability(sparse.infer(dff))
    assert p[counts == 0].mean() <= 2 * (counts > 0).mean()
    assert sparse.info["calibrated"] and sparse.info["training_worst_silent_ratio"] <= 2


@pytest.mark.parametrize("decay_frames", [None, 30.0])
def test_sparse_model_reads_no_later_frame(decay_frames):
    """Look-ahead 0: changing frames after t changes nothing at or before t, with the neuron's own
    decay and noise estimated on the way."""
    model = SparseAR1Model(2.0, g=0.8, k=0.5, gain=10.0, decay_frames=decay_frames)
    dff = np.random.default_rng(0).gamma(1.0, 0.1, (400, 600)).astype(np.float32)
    lam = model.infer(dff)
    for t in (0, 1, 57, 398):
        later = dff.copy()
        later[t + 1 :] = np.random.default_rng(t).gamma(2.0, 0.3, later[t + 1 :].shape)
        np.testing.assert_array_equal(model.infer(later)[: t + 1], lam[: t + 1])
    assert (lam[1:] != model.infer(dff[::-1])[::-1][1:]).any()  # it does read the past


def test_sparse_rates_and_probs_files_record_floor_and_neuron_parameters(small_fish, tmp_path):
    """The stage writes the floor, the fitted numbers and each neuron's noise sd, threshold and
    silent p (with their spread) into the rates file, and the probs file carries them on."""
    from sbm.io.chen import read_chen_fish, read_stim_codes
    from sbm.spikes.dff import build_vocabulary, write_chen_dff

    write_chen_dff(
        read_chen_fish(small_fish), tmp_path / "dff.h5", build_vocabulary({"s": read_stim_codes(small_fish)})
    )
    with h5py.File(tmp_path / "dff.h5") as d:
        fps, dff = float(d.attrs["fps"]), d["dff"][()]
    model = SparseAR1Model(fps, g=0.8, k=0.5, gain=10.0)
    write_rates(tmp_path / "dff.h5", model, tmp_path / "rates.h5", "test/sparse.pt", block=7)
    write_probabilities(tmp_path / "rates.h5", tmp_path / "dff.h5", tmp_path / "probs.h5")
    params = model.infer_with_parameters(dff)[1]
    with h5py.File(tmp_path / "rates.h5") as r, h5py.File(tmp_path / "probs.h5") as p:
        np.testing.assert_allclose(r["rate"][()], model.infer(dff), rtol=1e-6)
        for f in (r, p):
            assert f.attrs["method"] == "causal-sparse-ar1" and f.attrs["floor"] == 0.0
            assert '"k": 0.5' in f.attrs["model_parameters"] and "decay" not in f
            for name in ("noise_sd", "threshold", "silent_p"):
                np.testing.assert_allclose(f[name][()], params[name], rtol=1e-6)
                assert f[name].attrs["p05"] <= f[name].attrs["median"] <= f[name].attrs["p95"]
                assert f[name].attrs["meaning"]
        np.testing.assert_allclose(r["threshold"][()], 0.5 * r["noise_sd"][()], rtol=1e-6)


def _run(fps, mode, scores, noise="native", silent=None, true_p=None):
    run = {"fps": fps, "mode": mode, "noise": noise, "scores": scores}
    if silent is not None:
        run.update(silent_p=silent, true_p=true_p)
    return run


def test_benchmark_rule_chooses_the_method_that_wins_on_held_out_datasets():
    cnn_wins = {"A": {"ar1": 0.5, "cnn": 0.6}, "B": {"ar1": 0.5, "cnn": 0.7}, "C": {"ar1": 0.6, "cnn": 0.4}}
    ar1_wins = {"A": {"ar1": 0.6, "cnn": 0.5, "first_difference": 0.9}}
    tie = {"A": {"ar1": 0.600, "cnn": 0.603}}
    results = {
        "runs": [
            _run(2.0, "sample", cnn_wins),
            _run(2.0, "sample", ar1_wins, noise="8"),  # only native noise decides
            _run(2.0, "average", ar1_wins),
            _run(3.0, "sample", tie),
            _run(30.0, "average", cnn_wins),
        ]
    }
    assert choose_method(results, 2.0, "sample")[0] == "cnn"
    assert choose_method(results, 2.0, "average")[0] == "ar1"  # first_difference cannot ship
    method, reason = choose_method(results, 3.2, "sample")
    assert method == "ar1" and "at 3.0 Hz, sample" in reason  # within the tie: the cheaper one
    assert choose_method(results, 20.0, "sample")[0] == "ar1"  # nearest rate in the same mode
    assert choose_method({"runs": [_run(30.0, "average", cnn_wins)]}, 2.0, "sample")[0] == "cnn"  # any mode
    with pytest.raises(ValueError, match="no benchmark run at native noise"):
        choose_method({"runs": [_run(2.0, "sample", tie, noise="4")]}, 2.0, "sample")


def test_benchmark_rule_ships_no_method_that_floods_quiet_frames():
    """Where the benchmark recorded calibration, a method whose frames without a spike got more
    than twice the true spike probability on a held-out zebrafish set cannot ship, however high its r."""
    scores = {"DS04-x-zf-a": {"ar1": 0.7, "sparse": 0.6}, "DS09-m": {"ar1": 0.7, "sparse": 0.6}}
    true_p = {"DS04-x-zf-a": 0.14, "DS09-m": 0.15}
    floored = {"DS04-x-zf-a": {"ar1": 0.75, "sparse": 0.10}, "DS09-m": {"ar1": 0.20, "sparse": 0.9}}
    method, reason = choose_method(
        {"runs": [_run(2.0, "sample", scores, silent=floored, true_p=true_p)]}, 2.0, "sample"
    )
    assert method == "sparse" and "ar1 0.700 (not calibrated)" in reason  # a mouse set (DS09) does not count
    quiet = {"DS04-x-zf-a": {"ar1": 0.20, "sparse": 0.10}, "DS09-m": {"ar1": 0.20, "sparse": 0.1}}
    assert (
        choose_method({"runs": [_run(2.0, "sample", scores, silent=quiet, true_p=true_p)]}, 2.0, "sample")[0] == "ar1"
    )
    loud = {h: {m: 0.9 for m in row} for h, row in floored.items()}
    with pytest.raises(ValueError, match="no method kept the frames without a spike"):
        choose_method({"runs": [_run(2.0, "sample", scores, silent=loud, true_p=true_p)]}, 2.0, "sample")


def test_the_committed_benchmark_chooses_a_spike_model_for_every_frame_rate():
    """The pipeline's default (spikes.method auto) reads the committed results: they must be there
    and name, at the benchmarked rates, a calibrated method that beats every causal baseline it was
    run beside (but those that flood quiet frames)."""
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks/spikes_ground_truth.json"
    results = json.loads(path.read_text())
    for run in results["runs"]:
        if run["noise"] != "native":
            continue
        method, reason = choose_method(results, run["fps"], run["mode"])
        medians = {
            m: np.nanmedian([row[m] for row in run["scores"].values()]) for m in next(iter(run["scores"].values()))
        }
        causal = {m: r for m, r in medians.items() if "non-causal" not in m and calibrated(run, m) is not False}
        assert medians[method] >= max(causal.values()) - 0.005, (run["fps"], run["mode"], medians, reason)
        assert calibrated(run, method) and "calibrated" in reason, reason
