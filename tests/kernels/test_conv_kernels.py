"""Conv kernels: im2col/col2im against a loop-by-loop oracle and against each other (adjointness),
and conv2d forward/backward of the Numba flavour against the NumPy reference, in both algorithms,
on non-square inputs and kernels with stride, padding, dilation and groups."""
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

from tinyconv.kernels.cpu import conv as cpu
from tinyconv.kernels.reference import conv as ref

FLAVOURS = [pytest.param(ref, id="reference"), pytest.param(cpu, id="cpu")]
ALGOS = ["im2col", "direct"]


def close(actual, expected, scale=None):
    """float64 to 1e-10, float32 to 1e-5, with an absolute floor scaled to the data (or to
    `scale`, the size of the terms that were summed)."""
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    rtol = 1e-10 if expected.dtype == np.float64 else 1e-5
    if scale is None:
        scale = float(np.abs(expected).max()) if expected.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * max(scale, 1.0))


def out_size(n, k, s, p, d):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


@st.composite
def convs(draw, max_hw=8):
    """(x_shape, w_shape, stride, padding, dilation, groups, dtype) with H != W, kh and kw drawn
    apart, and a dilated kernel that fits the padded input."""
    groups = draw(st.integers(1, 3))
    c, o = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    h = draw(st.integers(1, max_hw))
    w = draw(st.integers(1, max_hw).filter(lambda v: v != h))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    assume(dilation[0] * (kh - 1) + 1 <= h + 2 * padding[0])
    assume(dilation[1] * (kw - 1) + 1 <= w + 2 * padding[1])
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return (draw(st.integers(1, 2)), c, h, w), (o, c // groups, kh, kw), stride, padding, dilation, groups, dtype


def naive_im2col(x, kernel, stride, padding, dilation):
    """One element at a time, straight from the definition: row (c, i, j), column (oh, ow)."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    oh, ow = out_size(h, kh, sh, ph, dh), out_size(w, kw, sw, pw, dw)
    cols = np.zeros((n, c * kh * kw, oh * ow), dtype=x.dtype)
    for b in range(n):
        for ci in range(c):
            for i in range(kh):
                for j in range(kw):
                    for y in range(oh):
                        for z in range(ow):
                            r, q = y * sh - ph + i * dh, z * sw - pw + j * dw
                            if 0 <= r < h and 0 <= q < w:
                                cols[b, (ci * kh + i) * kw + j, y * ow + z] = x[b, ci, r, q]
    return cols


def naive_conv(x, w, b, stride, padding, dilation, groups):
    """Float64 cross-correlation output by output, from a zero-padded copy of x."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh, ow = out_size(h, kh, sh, ph, dh), out_size(wd, kw, sw, pw, dw)
    y = np.zeros((n, o, oh, ow))
    for k in range(o):
        g = k // (o // groups)
        for yy in range(oh):
            for xx in range(ow):
                win = xp[:, g * cg:(g + 1) * cg, yy * sh:yy * sh + dh * (kh - 1) + 1:dh,
                         xx * sw:xx * sw + dw * (kw - 1) + 1:dw]
                y[:, k, yy, xx] = (win * w[k]).sum(axis=(1, 2, 3)) + (0.0 if b is None else b[k])
    return y


def draw_arrays(case, seed):
    x_shape, w_shape, *_, dtype = case
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype),
            rng.standard_normal(w_shape[0]).astype(dtype), rng)


# --- im2col / col2im ------------------------------------------------------------------------------
@given(convs(max_hw=6), st.integers(0, 2**32 - 1))
def test_im2col_matches_the_definition(case, seed):
    x_shape, w_shape, stride, padding, dilation, _, dtype = case
    x = draw_arrays(case, seed)[0]
    kernel = w_shape[2:]
    expected = naive_im2col(x, kernel, stride, padding, dilation)
    for k in (ref, cpu):
        cols = k.im2col(x, kernel, stride, padding, dilation)
        assert cols.dtype == dtype and cols.shape == expected.shape
        np.testing.assert_array_equal(cols, expected)  # a gather: exact


@given(convs(), st.integers(0, 2**32 - 1))
def test_col2im_cpu_matches_reference_and_is_the_adjoint(case, seed):
    x_shape, w_shape, stride, padding, dilation, _, dtype = case
    x, _, _, rng = draw_arrays(case, seed)
    kernel = w_shape[2:]
    cols_shape = ref.im2col(x, kernel, stride, padding, dilation).shape
    c = rng.standard_normal(cols_shape).astype(dtype)
    back = cpu.col2im(c, x_shape, kernel, stride, padding, dilation)
    assert back.shape == x_shape and back.dtype == dtype
    close(back, ref.col2im(c, x_shape, kernel, stride, padding, dilation), scale=float(np.abs(c).max()))
    # <im2col(x), c> == <x, col2im(c)> in float64: col2im scatters exactly where im2col gathers
    x64, c64 = x.astype(np.float64), c.astype(np.float64)
    for k in (ref, cpu):
        lhs = float((k.im2col(x64, kernel, stride, padding, dilation) * c64).sum())
        rhs = float((x64 * k.col2im(c64, x_shape, kernel, stride, padding, dilation)).sum())
        bound = float((np.abs(x64).max() * np.abs(c64)).sum())
        assert abs(lhs - rhs) <= 1e-12 * max(bound, 1.0)


@pytest.mark.parametrize("k", FLAVOURS)
def test_col2im_sums_overlapping_windows(k):
    # 3x3 ones, kernel 2x2 stride 1: every input is read by as many windows as contain it
    cols = np.ones((1, 4, 4))
    x = k.col2im(cols, (1, 1, 3, 3), (2, 2), (1, 1), (0, 0), (1, 1))
    np.testing.assert_array_equal(x[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    # padding soaks up the taps that fall outside; dilation 2 skips the middle row and column
    x = k.col2im(np.ones((1, 4, 9)), (1, 1, 3, 3), (2, 2), (1, 1), (1, 1), (2, 2))
    np.testing.assert_array_equal(x[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


# --- conv2d forward / backward --------------------------------------------------------------------
@given(convs(), st.booleans(), st.integers(0, 2**32 - 1))
def test_conv2d_forward_all_flavours_and_algos_agree(case, with_bias, seed):
    x_shape, w_shape, stride, padding, dilation, groups, dtype = case
    x, w, b, _ = draw_arrays(case, seed)
    b = b if with_bias else None
    expected = naive_conv(x, w, b, stride, padding, dilation, groups)
    # float32 rounding grows with the size of the summed terms, not with the (cancelling) sum
    scale = float(np.abs(x).max() * np.abs(w).max() * np.prod(w_shape[1:]))
    for k in (ref, cpu):
        for algo in ALGOS:
            y = k.conv2d_forward(x, w, b, stride, padding, dilation, groups, algo)
            assert y.flags.c_contiguous
            close(y, expected.astype(dtype), scale)


@given(convs(), st.integers(0, 2**32 - 1))
def test_conv2d_backward_cpu_matches_reference(case, seed):
    x_shape, w_shape, stride, padding, dilation, groups, dtype = case
    x, w, _, rng = draw_arrays(case, seed)
    args = stride, padding, dilation, groups
    y_shape = ref.conv2d_forward(x, w, None, *args, "im2col").shape
    gy = rng.standard_normal(y_shape).astype(dtype)
    gx_ref, gw_ref, gb_ref = ref.conv2d_backward(gy, x, w, *args, "im2col")
    assert gx_ref.shape == x_shape and gw_ref.shape == w_shape and gb_ref.shape == (w_shape[0],)
    # each gradient is a sum of products gy * (x or w): scale the float32 floor by those terms
    taps = w_shape[0] // groups * np.prod(w_shape[2:])
    gx_scale = float(np.abs(gy).max() * np.abs(w).max() * taps)
    gw_scale = float(np.abs(gy).max() * np.abs(x).max() * np.prod(y_shape[::2]) * y_shape[3])
    gb_scale = float(np.abs(gy).max() * np.prod(y_shape[::2]) * y_shape[3])
    for k in (ref, cpu):
        for algo in ALGOS:
            gx, gw, gb = k.conv2d_backward(gy, x, w, *args, algo)
            close(gx, gx_ref, gx_scale)
            close(gw, gw_ref, gw_scale)
            close(gb, gb_ref, gb_scale)
            assert gx.flags.c_contiguous and gw.flags.c_contiguous
            # without the input gradient: no gx, the same gw and gb
            gx_none, gw2, gb2 = k.conv2d_backward(gy, x, w, *args, algo, need_input_grad=False)
            assert gx_none is None
            close(gw2, gw_ref, gw_scale)
            close(gb2, gb_ref, gb_scale)
    close(gb_ref, gy.astype(np.float64).sum(axis=(0, 2, 3)).astype(dtype), gb_scale)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_is_the_adjoint_of_forward(dtype, rng):
    # <conv(x, w), gy> is bilinear: its derivatives in x and w are exactly <x, gx> and <w, gw>
    x = rng.standard_normal((2, 4, 7, 9)).astype(dtype)
    w = rng.standard_normal((6, 2, 3, 2)).astype(dtype)
    args = (2, 1), (1, 2), (2, 1), 2
    for k in (ref, cpu):
        for algo in ALGOS:
            y = k.conv2d_forward(x, w, None, *args, algo)
            gy = rng.standard_normal(y.shape).astype(dtype)
            gx, gw, _ = k.conv2d_backward(gy, x, w, *args, algo)
            inner = float((y.astype(np.float64) * gy).sum())
            rtol = 1e-12 if dtype == np.float64 else 1e-4
            np.testing.assert_allclose(float((x.astype(np.float64) * gx).sum()), inner, rtol=rtol)
            np.testing.assert_allclose(float((w.astype(np.float64) * gw).sum()), inner, rtol=rtol)


@pytest.mark.parametrize("algo", ALGOS)
def test_larger_grouped_case_splits_across_threads(algo, rng):
    # enough (n, o) planes and rows for every thread to get uneven shares of the work
    x = rng.standard_normal((3, 6, 13, 11)).astype(np.float32)
    w = rng.standard_normal((9, 2, 3, 4)).astype(np.float32)
    b = rng.standard_normal(9).astype(np.float32)
    args = (1, 2), (1, 2), (1, 1), 3
    y = cpu.conv2d_forward(x, w, b, *args, algo)
    scale = float(np.abs(x).max() * np.abs(w).max() * 24)
    close(y, naive_conv(x, w, b, *args).astype(np.float32), scale)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    for got, want in zip(cpu.conv2d_backward(gy, x, w, *args, algo),
                         ref.conv2d_backward(gy, x, w, *args, "im2col")):
        close(got, want, float(np.abs(want).max()) * 10)


@pytest.mark.parametrize("k", FLAVOURS)
@pytest.mark.parametrize("algo", ALGOS)
def test_outputs_that_see_only_padding_hold_the_bias(k, algo):
    # padding 2 around a 1x1 kernel: the border of the output reads nothing but zeros
    x = np.full((1, 1, 2, 3), 5.0)
    w = np.full((2, 1, 1, 1), 2.0)
    y = k.conv2d_forward(x, w, np.array([1.0, -1.0]), (1, 1), (2, 2), (1, 1), 1, algo)
    assert y.shape == (1, 2, 6, 7)
    expected = np.zeros((6, 7))
    expected[2:4, 2:5] = 10.0
    np.testing.assert_array_equal(y[0, 0], expected + 1)
    np.testing.assert_array_equal(y[0, 1], expected - 1)


@pytest.mark.parametrize("k", FLAVOURS)
def test_unknown_algo_is_rejected(k):
    x, w = np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 2, 2))
    with pytest.raises(ValueError, match="unknown algo 'fft'"):
        k.conv2d_forward(x, w, None, (1, 1), (0, 0), (1, 1), 1, "fft")
    with pytest.raises(ValueError, match="unknown algo 'fft'"):
        k.conv2d_backward(np.zeros((1, 1, 2, 2)), x, w, (1, 1), (0, 0), (1, 1), 1, "fft")


@pytest.mark.parametrize("o,s,p,off,n", [(1, 1, 2, 0, 1), (1, 1, 2, 4, 1), (3, 2, 2, 0, 1),
                                         (5, 1, 2, 0, 1), (1, 4, 0, 10, 3), (4, 3, 5, 0, 2)])
def test_valid_range_never_reaches_past_the_row(o, s, p, off, n):
    from tinyconv.kernels.cpu._conv_cols import valid_range
    lo, hi = valid_range(o, s, p, off, n)
    assert 0 <= lo <= hi <= o
    inside = [t for t in range(o) if 0 <= t * s - p + off < n]
    assert list(range(lo, hi)) == inside


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_wider_than_the_input_plus_padding(algo, dtype, rng):
    # 5x5 "same" on a width-1 image: taps 0, 1, 3, 4 of every row never touch the input; a
    # start index past the row end used to zero-fill the next row (another thread's)
    x = rng.standard_normal((3, 2, 4, 1)).astype(dtype)
    w = rng.standard_normal((3, 2, 5, 5)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    args = (1, 1), (2, 2), (1, 1), 1
    y = cpu.conv2d_forward(x, w, b, *args, algo)
    close(y, naive_conv(x, w, b, *args).astype(dtype))
    gy = rng.standard_normal(y.shape).astype(dtype)
    for got, want in zip(cpu.conv2d_backward(gy, x, w, *args, algo),
                         ref.conv2d_backward(gy, x, w, *args, "im2col")):
        close(got, want)
    cols = cpu.im2col(x, (5, 5), (1, 1), (2, 2), (1, 1))
    np.testing.assert_array_equal(cols, ref.im2col(x, (5, 5), (1, 1), (2, 2), (1, 1)))


@pytest.mark.parametrize("k", FLAVOURS)
@pytest.mark.parametrize("algo", ALGOS)
def test_empty_batch(k, algo):
    x, w, b = np.zeros((0, 4, 7, 6)), np.ones((6, 2, 3, 3)), np.ones(6)
    args = (1, 1), (1, 1), (1, 1), 2
    y = k.conv2d_forward(x, w, b, *args, algo)
    assert y.shape == (0, 6, 7, 6)
    gx, gw, gb = k.conv2d_backward(np.ones(y.shape), x, w, *args, algo)
    assert gx.shape == x.shape
    np.testing.assert_array_equal(gw, np.zeros_like(w))
    np.testing.assert_array_equal(gb, np.zeros(6))
