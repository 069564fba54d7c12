"""Spike-inference baselines: exact values, recovery of known models, causality, OASIS, bad input."""

import sys

import numpy as np
import pytest
from scipy.signal import lfilter

from sbm.spikes.baselines import LinearFilter, ar1_deconvolution, first_difference, fit_ar1, oasis


def simulate_ar1(T, n, g, rate, seed):
    """Calcium c(t) = g c(t-1) + s(t) from Poisson spikes s; no spike at t = 0, so c(0) = 0 = c(-1)."""
    rng = np.random.default_rng(seed)
    s = rng.poisson(rate, (T, n)).astype(float)
    s[0] = 0
    return lfilter([1], [1, -g], s, axis=0), s, rng


# --- exact values -------------------------------------------------------------------------------


def test_first_difference_by_hand():
    np.testing.assert_array_equal(first_difference(np.array([1.0, 3.0, 2.0, 2.5])), [0.0, 2.0, 0.0, 0.5])
    x = np.array([[1.0, -1.0], [3.0, -2.0], [2.0, 0.0]])
    np.testing.assert_array_equal(first_difference(x), [[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])


def test_ar1_deconvolution_by_hand():
    # t=0: max(0, (1-g) dff(0)) = 0.5 * 2; t=1: 0.5 - 1 < 0; t=2: 3 - 0.25; t=3: 1 - 1.5 < 0
    np.testing.assert_allclose(ar1_deconvolution(np.array([2.0, 0.5, 3.0, 1.0]), 0.5), [1.0, 0.0, 2.75, 0.0])
    # a trace opening below baseline gives no spike at t = 0
    np.testing.assert_allclose(ar1_deconvolution(np.array([[-1.0], [1.0]]), 0.5), [[0.0], [1.5]])


def test_ar1_with_g_one_is_the_first_difference():
    x = np.random.default_rng(0).normal(size=(50, 3))
    np.testing.assert_array_equal(ar1_deconvolution(x, 1.0), first_difference(x))


@pytest.mark.parametrize("g", [-0.1, 1.5, np.nan])
def test_ar1_rejects_g_outside_unit_interval(g):
    with pytest.raises(ValueError, match="must lie in"):
        ar1_deconvolution(np.ones(5), g)


# --- AR(1) recovery -----------------------------------------------------------------------------


def test_ar1_deconvolution_recovers_the_spikes():
    c, s, _ = simulate_ar1(2000, 4, 0.8, 0.05, seed=1)
    assert s.sum() > 100
    np.testing.assert_allclose(ar1_deconvolution(c, 0.8), s, atol=1e-9)


def test_fit_ar1_finds_g_on_noisy_traces():
    c, s, rng = simulate_ar1(2000, 5, 0.8, 0.1, seed=2)
    noisy = c + rng.normal(0, 0.02, c.shape)
    # traces of different lengths, as lists of (T_i,)
    dffs = [noisy[: 2000 - 100 * j, j] for j in range(5)]
    counts = [s[: 2000 - 100 * j, j] for j in range(5)]
    assert abs(fit_ar1(dffs, counts) - 0.8) <= 0.05


def test_fit_ar1_returns_a_grid_value():
    c, s, _ = simulate_ar1(500, 2, 0.5, 0.1, seed=3)
    assert fit_ar1(list(c.T), list(s.T), grid=[0.1, 0.5, 0.9]) == 0.5


def test_fit_ar1_without_spikes_raises():
    with pytest.raises(ValueError, match="undefined"):
        fit_ar1([np.random.default_rng(0).random(100)], [np.zeros(100)])


# --- linear filter ------------------------------------------------------------------------------


def filter_by_hand(x, w_by_lag, b):
    """y(t) = sum_j w[j] x(t - j) + b over lags j (dict), x edge-padded at both ends."""
    T = len(x)
    return np.array([sum(w * x[min(max(t - j, 0), T - 1)] for j, w in w_by_lag.items()) + b for t in range(T)])


def test_linear_filter_recovers_a_causal_filter():
    rng = np.random.default_rng(4)
    w = rng.normal(size=8)
    xs = [rng.normal(size=T) for T in (700, 1000, 1300)]
    ys = [filter_by_hand(x, dict(enumerate(w)), 0.3) for x in xs]
    f = LinearFilter.fit(xs, ys, taps=8)
    assert f.weights.shape == (8,) and (f.taps, f.lookahead) == (8, 0)
    np.testing.assert_allclose(f.weights, w, atol=1e-3)
    assert f.bias == pytest.approx(0.3, abs=1e-3)
    np.testing.assert_allclose(f.apply(xs[0]), ys[0], atol=1e-3)


def test_linear_filter_with_lookahead_uses_the_next_frame():
    rng = np.random.default_rng(5)
    w = {-1: 0.7, 0: 1.0, 1: -0.5, 2: 0.25}  # lag -1 is x(t + 1)
    xs = [rng.normal(size=T) for T in (800, 1200)]
    ys = [filter_by_hand(x, w, -0.2) for x in xs]
    f = LinearFilter.fit(xs, ys, taps=4, lookahead=1)
    assert f.weights.shape == (5,)
    np.testing.assert_allclose(f.weights, [0.7, 1.0, -0.5, 0.25, 0.0], atol=1e-3)
    # a causal fit cannot see x(t + 1): it leaves a large error
    causal = LinearFilter.fit(xs, ys, taps=4)
    assert np.mean((causal.apply(xs[0]) - ys[0]) ** 2) > 0.3


def test_linear_filter_applies_per_column():
    rng = np.random.default_rng(6)
    f = LinearFilter(weights=rng.normal(size=5), bias=0.1, taps=4, lookahead=1)
    x = rng.normal(size=(60, 3))
    out = f.apply(x)
    assert out.shape == (60, 3)
    for j in range(3):
        np.testing.assert_allclose(out[:, j], f.apply(x[:, j]))


def test_linear_filter_is_causal_without_lookahead():
    rng = np.random.default_rng(7)
    xs = [rng.normal(size=500)]
    ys = [rng.normal(size=500)]
    t = 100
    x = rng.normal(size=(300, 2))
    later = x.copy()
    later[t + 1 :] = rng.normal(size=(300 - t - 1, 2)) * 10  # change only frames after t
    causal = LinearFilter.fit(xs, ys, taps=8)
    np.testing.assert_array_equal(causal.apply(x)[: t + 1], causal.apply(later)[: t + 1])
    ahead = LinearFilter.fit(xs, ys, taps=8, lookahead=1)
    np.testing.assert_array_equal(ahead.apply(x)[:t], ahead.apply(later)[:t])
    assert np.all(ahead.apply(x)[t] != ahead.apply(later)[t])


def test_linear_filter_rejects_mismatched_training_data():
    with pytest.raises(ValueError, match="shape"):
        LinearFilter.fit([np.zeros(10)], [np.zeros(9)])
    with pytest.raises(ValueError, match="taps"):
        LinearFilter.fit([np.zeros(10)], [np.zeros(10)], taps=0)


# --- causality of the difference estimators -----------------------------------------------------


@pytest.mark.parametrize("estimate", [first_difference, lambda x: ar1_deconvolution(x, 0.7)])
def test_difference_estimators_are_causal(estimate):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(200, 3))
    later = x.copy()
    later[121:] = rng.normal(size=(79, 3)) + 5
    np.testing.assert_array_equal(estimate(x)[:121], estimate(later)[:121])
    assert not np.array_equal(estimate(x)[121:], estimate(later)[121:])


# --- OASIS --------------------------------------------------------------------------------------


def test_oasis_correlates_with_the_true_spikes():
    c, s, rng = simulate_ar1(2000, 3, 0.8, 0.05, seed=9)
    dff = c + rng.normal(0, 0.02, c.shape)
    out = oasis(dff, fps=2.0)
    assert out.shape == dff.shape
    for j in range(3):
        assert np.corrcoef(out[:, j], s[:, j])[0, 1] > 0.8
    one = oasis(dff[:, 1])
    assert one.shape == (2000,)
    np.testing.assert_allclose(one, out[:, 1])


def test_oasis_rejects_a_constant_column():
    x = np.random.default_rng(10).random((100, 3))
    x[:, 2] = 0.5
    with pytest.raises(ValueError, match=r"columns \[2\] are constant"):
        oasis(x)


def test_oasis_names_the_package_when_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "oasis.functions", None)  # makes the import fail
    with pytest.raises(ImportError, match="pip install oasis-deconv"):
        oasis(np.random.default_rng(0).random(50))


# --- bad input ----------------------------------------------------------------------------------

ESTIMATORS = {
    "first_difference": first_difference,
    "ar1_deconvolution": lambda x: ar1_deconvolution(x, 0.8),
    "linear_filter": LinearFilter(weights=np.ones(3), bias=0.0, taps=3, lookahead=0).apply,
    "oasis": oasis,
}


@pytest.mark.parametrize("name", ESTIMATORS)
def test_non_finite_input_raises(name):
    x = np.random.default_rng(11).random((50, 4))
    x[3, 1], x[7, 2] = np.nan, np.inf
    with pytest.raises(ValueError, match=r"dff holds 2 non-finite values \(columns \[1, 2\]\)"):
        ESTIMATORS[name](x)
    with pytest.raises(ValueError, match="dff holds 1 non-finite values"):
        ESTIMATORS[name](x[:, 1])


@pytest.mark.parametrize("name", ESTIMATORS)
def test_three_dimensional_input_raises(name):
    with pytest.raises(ValueError, match=r"must be \(T,\) or \(T, n\)"):
        ESTIMATORS[name](np.zeros((10, 2, 2)))


def test_training_input_is_checked():
    x = np.ones(20)
    x[5] = np.nan
    with pytest.raises(ValueError, match=r"dff\[1\] holds 1 non-finite values"):
        fit_ar1([np.random.default_rng(0).random(20), x], [np.ones(20), np.ones(20)])
    with pytest.raises(ValueError, match=r"counts\[0\] must be"):
        LinearFilter.fit([np.ones(8)], [np.ones((2, 2, 2))])
