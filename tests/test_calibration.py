"""Calibration: expected calibration error, reliability diagram, NLL, temperature scaling."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinyconv import calibrate, metrics


def test_ece_by_hand():
    # bins of width 0.2: 0.6 -> (0.4, 0.6] wrong; 0.7, 0.8 -> (0.6, 0.8] both right; 0.9 right
    p = np.array([[0.9, 0.1], [0.6, 0.4], [0.7, 0.3], [0.2, 0.8]])
    t = np.array([0, 1, 0, 1])
    d = metrics.reliability_diagram(p, t, n_bins=5)
    np.testing.assert_array_equal(d["count"], [0, 0, 1, 2, 1])
    np.testing.assert_allclose(d["confidence"][2:], [0.6, 0.75, 0.9])
    np.testing.assert_allclose(d["accuracy"][2:], [0.0, 1.0, 1.0])
    assert np.isnan(d["accuracy"][:2]).all()
    # 1/4 * |0 - 0.6| + 2/4 * |1 - 0.75| + 1/4 * |1 - 0.9|
    assert metrics.expected_calibration_error(p, t, n_bins=5) == pytest.approx(0.3, abs=1e-12)


def test_ece_of_a_calibrated_and_an_overconfident_model(rng):
    n, c = 20000, 4
    conf = rng.uniform(0.3, 1.0, n)
    p = np.empty((n, c))
    p[:, 0] = conf
    p[:, 1:] = ((1 - conf) / (c - 1))[:, None]
    right = rng.uniform(size=n) < conf  # correct exactly as often as it claims
    t = np.where(right, 0, 1)
    assert metrics.expected_calibration_error(p, t) < 0.02
    t_over = np.where(rng.uniform(size=n) < conf - 0.2, 0, 1)  # 20 points less often right
    assert metrics.expected_calibration_error(p, t_over) == pytest.approx(0.2, abs=0.03)


def test_nll():
    p = np.array([[0.5, 0.5], [0.1, 0.9]])
    assert metrics.nll(p, np.array([0, 1])) == pytest.approx(-(np.log(0.5) + np.log(0.9)) / 2)
    assert metrics.nll(np.array([[1.0, 0.0]]), np.array([1])) == np.inf


def test_bad_input():
    with pytest.raises(ValueError, match="summing to 1"):
        metrics.expected_calibration_error(np.array([[0.5, 0.6]]), np.array([0]))
    with pytest.raises(ValueError, match="n_bins"):
        metrics.expected_calibration_error(np.array([[0.5, 0.5]]), np.array([0]), n_bins=0)
    with pytest.raises(ValueError, match="3 rows but target has 2"):
        metrics.nll(np.full((3, 2), 0.5), np.array([0, 1]))
    with pytest.raises(ValueError, match="finite"):
        calibrate.fit_temperature(np.array([[np.inf, 0.0]]), np.array([0]))
    with pytest.raises(ValueError, match="outside"):
        calibrate.fit_temperature(np.zeros((2, 3)), np.array([0, 3]))


def nll_at(z, t, temperature):
    return metrics.nll(calibrate.softmax_with_temperature(z, temperature), t)


@given(st.integers(2, 60), st.integers(2, 6), st.floats(0.1, 20), st.integers(0, 2**32 - 1))
def test_temperature_never_raises_nll(n, c, scale, seed):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, c)) * scale
    t = rng.integers(0, c, n)
    temp = calibrate.fit_temperature(z, t)
    assert 0.01 <= temp <= 100
    best = nll_at(z, t, temp)
    assert best <= nll_at(z, t, 1.0) + 1e-12
    for other in (0.5 * temp, 0.9 * temp, 1.1 * temp, 2 * temp):
        if 0.01 <= other <= 100:
            assert best <= nll_at(z, t, other) + 1e-9
    # the predicted classes do not change
    np.testing.assert_array_equal(calibrate.softmax_with_temperature(z, temp).argmax(1), z.argmax(1))


def test_temperature_recovers_the_true_one(rng):
    z = rng.standard_normal((20000, 5)) * 4
    true_t = 2.5
    p = calibrate.softmax_with_temperature(z, true_t)
    t = (rng.uniform(size=(len(z), 1)) > np.cumsum(p, axis=1)).sum(axis=1)  # labels drawn from p
    assert calibrate.fit_temperature(z, t) == pytest.approx(true_t, rel=0.05)
