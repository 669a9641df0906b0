"""Pool kernels: the Numba flavour against the NumPy reference, and both against PyTorch on the
special values (ties, -inf, NaN) that decide max-pool indices."""
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

from tinyconv.kernels.cpu import pool as cpu
from tinyconv.kernels.reference import pool as ref

FLAVOURS = [pytest.param(ref, id="reference"), pytest.param(cpu, id="cpu")]


def close(actual, expected):
    """float64 to 1e-10, float32 to 1e-5, with an absolute floor scaled to the data."""
    rtol = 1e-10 if expected.dtype == np.float64 else 1e-5
    scale = float(np.abs(expected).max()) if expected.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * max(scale, 1.0))


@st.composite
def windows(draw):
    """A non-square input and a window that fits it: (x_shape, kernel, stride, padding, dtype)."""
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    h = draw(st.integers(1, 9))
    w = draw(st.integers(1, 9).filter(lambda v: v != h))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    assume(h + 2 * padding[0] >= kernel[0] and w + 2 * padding[1] >= kernel[1])
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return (n, c, h, w), kernel, stride, padding, dtype


def out_shape(x_shape, kernel, stride, padding, dilation=(1, 1)):
    n, c, h, w = x_shape
    return (n, c) + tuple((s + 2 * p - d * (k - 1) - 1) // st_ + 1 for s, k, st_, p, d in
                          zip((h, w), kernel, stride, padding, dilation))


@given(windows(), st.tuples(st.integers(1, 3), st.integers(1, 3)), st.integers(0, 2**32 - 1))
def test_max_pool_cpu_matches_reference(case, dilation, seed):
    x_shape, kernel, stride, padding, dtype = case
    # a dilated window spans d*(k-1)+1 pixels: widen the input so that it still fits
    x_shape = x_shape[:2] + tuple(n + (d - 1) * (k - 1) for n, k, d in zip(x_shape[2:], kernel, dilation))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    y, argmax = cpu.max_pool2d_forward(x, kernel, stride, padding, dilation)
    y_ref, argmax_ref = ref.max_pool2d_forward(x, kernel, stride, padding, dilation)
    assert y.shape == out_shape(x_shape, kernel, stride, padding, dilation) and y.dtype == dtype
    assert argmax.dtype == np.int64
    np.testing.assert_array_equal(y, y_ref)  # a max is exact
    np.testing.assert_array_equal(argmax, argmax_ref)
    # every index points at an input value equal to the output
    picked = np.take_along_axis(x.reshape(x_shape[0], x_shape[1], -1),
                                argmax.reshape(x_shape[0], x_shape[1], -1), axis=2)
    np.testing.assert_array_equal(picked.reshape(y.shape), y)

    gy = rng.standard_normal(y.shape).astype(dtype)
    gx = cpu.max_pool2d_backward(gy, argmax, x_shape)
    assert gx.shape == x_shape and gx.dtype == dtype
    close(gx, ref.max_pool2d_backward(gy, argmax, x_shape))


@given(windows(), st.integers(0, 2**32 - 1))
def test_avg_pool_cpu_matches_reference(case, seed):
    x_shape, kernel, stride, padding, dtype = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    y = cpu.avg_pool2d_forward(x, kernel, stride, padding)
    assert y.shape == out_shape(x_shape, kernel, stride, padding) and y.dtype == dtype
    close(y, ref.avg_pool2d_forward(x, kernel, stride, padding))
    gy = rng.standard_normal(y.shape).astype(dtype)
    gx = cpu.avg_pool2d_backward(gy, x_shape, kernel, stride, padding)
    assert gx.shape == x_shape and gx.dtype == dtype
    close(gx, ref.avg_pool2d_backward(gy, x_shape, kernel, stride, padding))


@given(st.integers(1, 9), st.integers(1, 9), st.integers(1, 11), st.integers(1, 11),
       st.sampled_from([np.float32, np.float64]), st.integers(0, 2**32 - 1))
def test_adaptive_avg_pool_cpu_matches_reference(h, w, oh, ow, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, h, w)).astype(dtype)
    y = cpu.adaptive_avg_pool2d_forward(x, (oh, ow))
    assert y.shape == (2, 3, oh, ow) and y.dtype == dtype
    close(y, ref.adaptive_avg_pool2d_forward(x, (oh, ow)))
    gy = rng.standard_normal(y.shape).astype(dtype)
    gx = cpu.adaptive_avg_pool2d_backward(gy, x.shape, (oh, ow))
    assert gx.shape == x.shape and gx.dtype == dtype
    close(gx, ref.adaptive_avg_pool2d_backward(gy, x.shape, (oh, ow)))


@pytest.mark.parametrize("kernels", FLAVOURS)
def test_avg_pool_counts_padding_in_the_divisor(kernels):
    x = np.ones((1, 1, 2, 2))
    y = kernels.avg_pool2d_forward(x, (2, 2), (1, 1), (1, 1))
    # corners see one real 1 out of 4 taps, edges two, the centre all four
    np.testing.assert_allclose(y[0, 0], [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]])
    gx = kernels.avg_pool2d_backward(np.ones_like(y), x.shape, (2, 2), (1, 1), (1, 1))
    np.testing.assert_allclose(gx[0, 0], np.ones((2, 2)))  # each input sits in 4 windows of 1/4


@pytest.mark.parametrize("kernels", FLAVOURS)
def test_adaptive_windows_follow_pytorch_rule(kernels):
    # n_in=5 -> n_out=3: windows [0,2), [1,4), [3,5) (floor / ceil bounds, overlapping)
    x = np.arange(5.0).reshape(1, 1, 1, 5)
    y = kernels.adaptive_avg_pool2d_forward(x, (1, 3))
    np.testing.assert_allclose(y.ravel(), [0.5, 2.0, 3.5])
    gx = kernels.adaptive_avg_pool2d_backward(np.ones((1, 1, 1, 3)), x.shape, (1, 3))
    np.testing.assert_allclose(gx.ravel(), [1 / 2, 1 / 2 + 1 / 3, 1 / 3, 1 / 3 + 1 / 2, 1 / 2])


def special_inputs(rng):
    """Planes on which max-pool indices are easy to get wrong."""
    base = rng.standard_normal((6, 5, 7))
    planes = [
        np.zeros((5, 7)),                                  # all tied
        np.round(base[0]),                                 # many ties among small integers
        np.full((5, 7), -np.inf),                          # only -inf: ties with the padding
        np.where(base[1] > 0, -np.inf, base[1]),           # some -inf
        np.where(base[2] > 1.0, np.nan, base[2]),          # scattered NaN
        np.where(np.arange(7) % 2 == 0, np.nan, base[3]),  # several NaN per window
    ]
    return np.stack(planes)[None]


@pytest.mark.parametrize("kernels", FLAVOURS)
@pytest.mark.parametrize("kernel,stride,padding,dilation", [
    ((3, 3), (2, 2), (1, 1), (1, 1)), ((2, 3), (1, 2), (1, 1), (1, 1)),
    ((3, 2), (1, 1), (0, 1), (1, 1)), ((4, 4), (3, 3), (2, 2), (1, 1)),
    ((2, 3), (1, 1), (1, 1), (2, 3)), ((3, 2), (2, 1), (1, 1), (2, 2)),
    ((1, 2), (1, 2), (0, 1), (1, 8)),  # taps straddle each row: windows without a real tap
])
def test_max_pool_special_values_match_pytorch(kernels, kernel, stride, padding, dilation):
    torch = pytest.importorskip("torch")
    x = special_inputs(np.random.default_rng(0))
    y, argmax = kernels.max_pool2d_forward(x, kernel, stride, padding, dilation)
    yt, it = torch.nn.functional.max_pool2d(torch.from_numpy(x), kernel, stride, padding, dilation,
                                            return_indices=True)
    np.testing.assert_array_equal(y, yt.numpy())  # NaN == NaN here
    np.testing.assert_array_equal(argmax, it.numpy())
    gy = np.random.default_rng(1).standard_normal(y.shape)
    gx = kernels.max_pool2d_backward(gy, argmax, x.shape)
    inside = (argmax >= 0) & (argmax < x.shape[2] * x.shape[3])
    if inside.all():  # the gradient as PyTorch routes it
        xt = torch.from_numpy(x).requires_grad_()
        torch.nn.functional.max_pool2d(xt, kernel, stride, padding, dilation).backward(torch.from_numpy(gy))
        np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-12)
    else:  # PyTorch would write past the plane (into the next one, or past the tensor); we drop it
        np.testing.assert_allclose(gx.sum(axis=(2, 3)), np.where(inside, gy, 0).sum(axis=(2, 3)), rtol=1e-12)


@pytest.mark.parametrize("kernels", FLAVOURS)
def test_max_pool_tie_goes_to_first_in_row_major_order(kernels):
    x = np.array([[0.0, 1.0, 1.0],
                  [1.0, 1.0, 0.0]]).reshape(1, 1, 2, 3)
    y, argmax = kernels.max_pool2d_forward(x, (2, 3), (1, 1), (0, 0))
    assert y.item() == 1.0 and argmax.item() == 1  # (0, 1), not (0, 2) nor (1, 0)
    gx = kernels.max_pool2d_backward(np.array([[[[5.0]]]]), argmax, x.shape)
    np.testing.assert_array_equal(gx.ravel(), [0, 5, 0, 0, 0, 0])


@given(st.integers(1, 3), st.integers(2, 13), st.integers(2, 13), st.integers(0, 2**32 - 1),
       st.sampled_from([np.float32, np.float64]))
def test_max_pool_2x2_stride_2_fast_path_equals_reference(c, h, w, seed, dtype):
    # the 2x2/2 tournament (kernels/cpu/pool.py::_max_2x2): values from {0, 1, 2} make most
    # windows tie, odd sizes leave a row/column out, and a NaN plane takes the generic loop
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, size=(2, c, h, w)).astype(dtype)
    x[1, 0, rng.integers(h), rng.integers(w)] = np.nan
    y, idx = cpu.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0))
    y_ref, idx_ref = ref.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0))
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(idx, idx_ref)
