"""Activation and bias_add kernels: the Numba flavour against the NumPy reference, and both
against closed forms and the special values (NaN, +-inf, +-0) where implementations differ."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinyconv.kernels.cpu import activation as cpu
from tinyconv.kernels.reference import activation as ref

FLAVOURS = [pytest.param(ref, id="reference"), pytest.param(cpu, id="cpu")]


def close(actual, expected):
    """float64 to 1e-10, float32 to 1e-5, with an absolute floor scaled to the data."""
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    rtol = 1e-10 if expected.dtype == np.float64 else 1e-5
    scale = float(np.abs(expected).max()) if expected.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * max(scale, 1.0))


shapes = st.lists(st.integers(0, 6), min_size=1, max_size=4).map(tuple)
dtypes = st.sampled_from([np.float32, np.float64])


def draw_pair(shape, dtype, seed, scale=3.0):
    rng = np.random.default_rng(seed)
    return ((scale * rng.standard_normal(shape)).astype(dtype),
            rng.standard_normal(shape).astype(dtype))


@given(shapes, dtypes, st.integers(0, 2**32 - 1))
def test_relu_cpu_matches_reference(shape, dtype, seed):
    x, gy = draw_pair(shape, dtype, seed)
    y = cpu.relu_forward(x)
    np.testing.assert_array_equal(y, ref.relu_forward(x))  # a max is exact
    assert y.dtype == dtype and y.shape == shape
    gx = cpu.relu_backward(gy, y)
    np.testing.assert_array_equal(gx, ref.relu_backward(gy, y))
    np.testing.assert_array_equal(gx, np.where(x > 0, gy, 0))


@given(shapes, dtypes, st.floats(-2.0, 2.0), st.integers(0, 2**32 - 1))
def test_leaky_relu_cpu_matches_reference(shape, dtype, slope, seed):
    x, gy = draw_pair(shape, dtype, seed)
    y = cpu.leaky_relu_forward(x, slope)
    assert y.dtype == dtype and y.shape == shape
    close(y, ref.leaky_relu_forward(x, slope))
    close(y, np.where(x > 0, x, x * dtype(slope)))
    gx = cpu.leaky_relu_backward(gy, x, slope)
    close(gx, ref.leaky_relu_backward(gy, x, slope))
    close(gx, np.where(x > 0, gy, gy * dtype(slope)))


@given(shapes, dtypes, st.integers(0, 2**32 - 1))
def test_tanh_cpu_matches_reference(shape, dtype, seed):
    x, gy = draw_pair(shape, dtype, seed)
    y = cpu.tanh_forward(x)
    close(y, ref.tanh_forward(x))
    gx = cpu.tanh_backward(gy, y)
    close(gx, ref.tanh_backward(gy, y))
    close(gx, (gy / np.cosh(x.astype(np.float64)) ** 2).astype(dtype))


@given(shapes, dtypes, st.sampled_from([1.0, 5.0, 60.0]), st.integers(0, 2**32 - 1))
def test_sigmoid_cpu_matches_reference(shape, dtype, scale, seed):
    x, gy = draw_pair(shape, dtype, seed, scale)
    y = cpu.sigmoid_forward(x)
    close(y, ref.sigmoid_forward(x))
    with np.errstate(over="ignore"):
        exact = 1 / (1 + np.exp(-x.astype(np.float64)))
    close(y, exact.astype(dtype))
    gx = cpu.sigmoid_backward(gy, y)
    close(gx, ref.sigmoid_backward(gy, y))


@pytest.mark.parametrize("k", FLAVOURS)
def test_special_values(k):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-30, 1e30, -1e30])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no warning on the way
        relu = k.relu_forward(x)
        leaky = k.leaky_relu_forward(x, 0.1)
        sig = k.sigmoid_forward(x)
    np.testing.assert_array_equal(relu, [np.nan, np.inf, 0, 0, 0, 1e-30, 0, 1e30, 0])
    np.testing.assert_array_equal(leaky, [np.nan, np.inf, -np.inf, 0, 0, 1e-30, -1e-30 * 0.1, 1e30, -1e30 * 0.1])
    np.testing.assert_array_equal(sig, [np.nan, 1, 0, 0.5, 0.5, 0.5, 0.5, 1, 0])
    np.testing.assert_array_equal(k.tanh_forward(x), np.tanh(x))
    # the gradient of relu at exactly 0 is 0, as in PyTorch; NaN inputs pass no gradient
    np.testing.assert_array_equal(k.relu_backward(np.ones(9), relu), [0, 1, 0, 0, 0, 1, 0, 1, 0])
    np.testing.assert_array_equal(k.leaky_relu_backward(np.ones(9), x, 0.1),
                                  [0.1, 1, 0.1, 0.1, 0.1, 1, 0.1, 1, 0.1])


@pytest.mark.parametrize("k", FLAVOURS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_saturates_without_nan(k, dtype):
    x = np.array([-200.0, -88.0, -30.0, 30.0, 88.0, 200.0], dtype=dtype)
    y = k.sigmoid_forward(x)
    assert y.dtype == dtype and np.isfinite(y).all()
    assert 0 <= y[0] < 1e-30 and y[-1] == 1
    np.testing.assert_allclose(y[2], np.exp(-30.0), rtol=1e-5)  # tiny, yet not flushed to 0


@given(st.lists(st.integers(0, 5), min_size=0, max_size=3).map(tuple), st.integers(1, 2),
       st.integers(1, 6), dtypes, st.integers(0, 2**32 - 1))
def test_bias_add_cpu_matches_reference_in_place(spatial, n, o, dtype, seed):
    rng = np.random.default_rng(seed)
    y0 = rng.standard_normal((n, o) + spatial).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    expected = y0 + b.reshape((1, o) + (1,) * len(spatial))
    for k in (ref, cpu):
        y = y0.copy()
        out = k.bias_add(y, b)
        assert out is y  # in place, and returned
        close(y, expected)


@pytest.mark.parametrize("k", FLAVOURS)
def test_large_flat_arrays_split_across_threads(k):
    # big enough for every thread to get a span; odd length so the spans are uneven
    x = np.linspace(-5, 5, 200_001)
    np.testing.assert_array_equal(k.relu_forward(x), np.maximum(x, 0))
    np.testing.assert_allclose(k.sigmoid_forward(x), 1 / (1 + np.exp(-x)), rtol=1e-12)
    y = np.zeros((3, 5, 101, 131))
    k.bias_add(y, np.arange(5.0))
    np.testing.assert_array_equal(y, np.broadcast_to(np.arange(5.0)[:, None, None], y.shape[1:])[None].repeat(3, 0))


def test_one_compiled_signature_per_dtype(rng):
    # DESIGN.md: one compiled signature per dtype. Each (dtype, ndim) pair would be another
    # parallel compile (~1 s each), paid again on every cold start.
    from numba import types
    for shape in [(5,), (2, 3), (2, 3, 4), (1, 2, 3, 4), ()]:
        for dtype in (np.float32, np.float64):
            x = rng.standard_normal(shape).astype(dtype)
            y = cpu.relu_forward(x)
            assert y.shape == shape
            cpu.relu_backward(x, y)
            cpu.leaky_relu_backward(x, cpu.leaky_relu_forward(x, 0.1), 0.1)
            cpu.tanh_backward(x, cpu.tanh_forward(x))
            cpu.sigmoid_backward(x, cpu.sigmoid_forward(x))
    for fn in (cpu._relu, cpu._relu_grad, cpu._leaky, cpu._leaky_grad, cpu._tanh_grad,
               cpu._sigmoid, cpu._sigmoid_grad):
        arrays = [a for sig in fn.signatures for a in sig if isinstance(a, types.Array)]
        assert {(a.ndim, a.layout) for a in arrays} == {(1, "C")}, fn.signatures
        assert len(fn.signatures) <= 2, fn.signatures
