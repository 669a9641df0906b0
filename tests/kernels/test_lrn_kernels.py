"""LRN kernels: both flavours against a loop-by-loop reading of the contract's formula, and the
Numba flavour against the NumPy reference over drawn shapes and hyper-parameters."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinyconv.kernels.cpu import lrn as cpu
from tinyconv.kernels.reference import lrn as ref

FLAVOURS = [pytest.param(ref, id="reference"), pytest.param(cpu, id="cpu")]


def close(actual, expected):
    rtol = 1e-10 if expected.dtype == np.float64 else 1e-5
    scale = float(np.abs(expected).max()) if expected.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * max(scale, 1.0))


def literal_lrn(x, size, alpha, beta, k):
    """The contract spelled out channel by channel (paper form, alpha not divided by size),
    with the gradient of sum(y * gy) taken by the product rule, one (c, j) pair at a time."""
    n_ch = x.shape[1]
    window = [range(max(c - size // 2, 0), min(c + (size - 1) // 2, n_ch - 1) + 1) for c in range(n_ch)]
    scale = np.stack([k + alpha * sum(x[:, j] ** 2 for j in window[c]) for c in range(n_ch)], axis=1)
    y = x * scale ** -beta

    def grad(gy):
        gx = gy * scale ** -beta
        for c in range(n_ch):
            for j in window[c]:  # d y[c] / d x[j] through scale[c]
                gx[:, j] += gy[:, c] * x[:, c] * -beta * scale[:, c] ** (-beta - 1) * 2 * alpha * x[:, j]
        return gx
    return y, scale, grad


@pytest.mark.parametrize("kernels", FLAVOURS)
@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("channels", [1, 3, 7])
@pytest.mark.parametrize("beta", [0.75, 0.4])  # 0.75 has its own code path in the Numba kernels
def test_lrn_matches_the_formula(kernels, size, channels, beta):
    rng = np.random.default_rng(size * 10 + channels)
    x = rng.standard_normal((2, channels, 3, 2))
    gy = rng.standard_normal(x.shape)
    alpha, k = 0.9, 0.7  # large alpha, small k: a wrong window changes the result a lot
    y_exp, scale_exp, grad = literal_lrn(x, size, alpha, beta, k)
    y, scale = kernels.lrn_forward(x, size, alpha, beta, k)
    close(scale, scale_exp)
    close(y, y_exp)
    close(kernels.lrn_backward(gy, x, y, scale, size, alpha, beta), grad(gy))


@given(n=st.integers(1, 2), channels=st.integers(1, 9), h=st.integers(1, 5), w=st.integers(1, 5),
       size=st.integers(1, 7), alpha=st.floats(0.0, 1.0), beta=st.sampled_from([0.75, 0.5, 1.3]),
       k=st.floats(0.3, 2.5), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**32 - 1))
def test_lrn_cpu_matches_reference(n, channels, h, w, size, alpha, beta, k, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, channels, h, w)).astype(dtype)
    gy = rng.standard_normal(x.shape).astype(dtype)
    y, scale = cpu.lrn_forward(x, size, alpha, beta, k)
    y_ref, scale_ref = ref.lrn_forward(x, size, alpha, beta, k)
    assert y.dtype == scale.dtype == dtype and y.shape == scale.shape == x.shape
    close(scale, scale_ref)
    close(y, y_ref)
    gx = cpu.lrn_backward(gy, x, y, scale, size, alpha, beta)
    assert gx.dtype == dtype and gx.shape == x.shape
    close(gx, ref.lrn_backward(gy, x, y_ref, scale_ref, size, alpha, beta))


def test_running_sum_survives_a_large_leading_channel():
    # the Numba running sum adds and subtracts channels; a huge first channel must not leave
    # round-off behind once it has left the window
    x = np.full((1, 8, 2, 2), 1e-3, dtype=np.float32)
    x[:, 0] = 3e3
    y, scale = cpu.lrn_forward(x, 3, 1.0, 0.75, 1.0)
    y_ref, scale_ref = ref.lrn_forward(x.astype(np.float64), 3, 1.0, 0.75, 1.0)
    np.testing.assert_allclose(scale, scale_ref, rtol=1e-6)
    np.testing.assert_allclose(y, y_ref, rtol=1e-6)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # the reference's inf * 0, inf - inf
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("beta", [0.75, 0.4])
@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_lrn_cpu_nonfinite_input_stays_in_its_windows(size, beta, dtype):
    """A NaN or inf reaches only the channels whose window holds it, as in the reference; in a
    running sum it would stay after leaving the window and make every later channel NaN."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 11, 3, 4)).astype(dtype)
    x[0, 2, 0, 0], x[0, 5, 1, 1], x[1, 0, 2, 3] = np.nan, np.inf, -np.inf
    x[1, 9, 2, 3], x[1, 4, 0, 2], x[1, 7, 0, 2] = np.nan, np.inf, -np.inf
    gy = rng.standard_normal(x.shape).astype(dtype)
    gy[0, 8, 2, 2] = np.inf
    y, scale = cpu.lrn_forward(x, size, 0.2, beta, 2.0)
    y_ref, scale_ref = ref.lrn_forward(x, size, 0.2, beta, 2.0)
    assert np.isfinite(scale_ref).sum() > scale_ref.size // 2
    for actual, expected in [(scale, scale_ref), (y, y_ref),
                             (cpu.lrn_backward(gy, x, y_ref, scale_ref, size, 0.2, beta),
                              ref.lrn_backward(gy, x, y_ref, scale_ref, size, 0.2, beta))]:
        np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
        finite = np.isfinite(expected)
        np.testing.assert_array_equal(actual[~finite], expected[~finite])  # same infinities
        close(actual[finite], expected[finite])
