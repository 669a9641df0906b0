"""Every CUDA kernel against the NumPy reference on the same inputs (needs a CUDA device).

float64 to 1e-10 and float32 to 1e-5 relative (with an absolute floor scaled to the data);
exact where the operation is exact: max-pool values and indices (ties, -inf, NaN included),
the dropout draws and masks.
"""
import numpy as np
import pytest

cp = pytest.importorskip("cupy")

from tinyconv.kernels.cuda import activation, conv, dropout, lrn, pool, softmax  # noqa: E402
from tinyconv.kernels.reference import activation as ref_activation  # noqa: E402
from tinyconv.kernels.reference import conv as ref_conv  # noqa: E402
from tinyconv.kernels.reference import dropout as ref_dropout  # noqa: E402
from tinyconv.kernels.reference import lrn as ref_lrn  # noqa: E402
from tinyconv.kernels.reference import pool as ref_pool  # noqa: E402
from tinyconv.kernels.reference import softmax as ref_softmax  # noqa: E402

pytestmark = pytest.mark.gpu
DTYPES = [np.float32, np.float64]


def gpu(a):
    return cp.asarray(a) if isinstance(a, np.ndarray) else a


def host(result):
    """CuPy results (arrays, tuples of them, None) as NumPy."""
    if isinstance(result, tuple):
        return tuple(host(r) for r in result)
    return None if result is None else cp.asnumpy(result)


def run(kernel, *args):
    """kernel on device copies of the NumPy arguments, the result back on the host."""
    return host(kernel(*(gpu(a) for a in args)))


def close(actual, expected):
    assert isinstance(actual, np.ndarray), type(actual)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, \
        (actual.shape, actual.dtype, expected.shape, expected.dtype)
    rtol = 1e-10 if expected.dtype == np.float64 else 1e-5
    finite = np.abs(expected[np.isfinite(expected)])  # inf and NaN must match exactly
    scale = float(finite.max()) if finite.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * max(scale, 1.0))


def all_close(actual, expected):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        if e is None:
            assert a is None
        else:
            close(a, e)


# --- conv -------------------------------------------------------------------------------------------
# (x shape, w shape, stride, padding, dilation, groups): non-square kernels, strides, dilations,
# groups, and sizes spanning several tiles and weight-gradient splits
CONV_CASES = [
    ((2, 3, 9, 8), (4, 3, 3, 2), (1, 1), (0, 0), (1, 1), 1),
    ((2, 4, 11, 7), (6, 2, 3, 2), (2, 1), (1, 2), (1, 2), 2),
    ((1, 6, 13, 13), (6, 1, 5, 3), (3, 2), (2, 1), (2, 1), 6),
    ((3, 5, 6, 9), (7, 5, 1, 1), (1, 2), (0, 1), (1, 1), 1),
    ((16, 8, 20, 20), (40, 4, 3, 3), (1, 1), (1, 1), (1, 1), 2),  # many (n, l) steps: splits > 1
    ((2, 3, 31, 29), (33, 3, 4, 5), (2, 2), (3, 2), (1, 2), 1),  # several o, k and l tiles
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES)
def test_im2col_and_col2im(case, dtype, rng):
    x_shape, w_shape, stride, padding, dilation, _ = case
    x = rng.standard_normal(x_shape).astype(dtype)
    kernel = w_shape[2:]
    cols = run(conv.im2col, x, kernel, stride, padding, dilation)
    np.testing.assert_array_equal(cols, ref_conv.im2col(x, kernel, stride, padding, dilation))  # a copy
    c = rng.standard_normal(cols.shape).astype(dtype)
    close(run(conv.col2im, c, x_shape, kernel, stride, padding, dilation),
          ref_conv.col2im(c, x_shape, kernel, stride, padding, dilation))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("algo", ["im2col", "direct"])
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_forward_backward(case, algo, dtype, rng):
    x_shape, w_shape, stride, padding, dilation, groups = case
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    hyper = (stride, padding, dilation, groups)
    for bias in (b, None):
        close(run(conv.conv2d_forward, x, w, bias, *hyper, algo),
              ref_conv.conv2d_forward(x, w, bias, *hyper, "im2col"))
    y = ref_conv.conv2d_forward(x, w, None, *hyper, "im2col")
    gy = rng.standard_normal(y.shape).astype(dtype)
    expected = ref_conv.conv2d_backward(gy, x, w, *hyper, "im2col")
    all_close(run(conv.conv2d_backward, gy, x, w, *hyper, algo), expected)
    gx, gw, gb = run(conv.conv2d_backward, gy, x, w, *hyper, algo, False)
    assert gx is None
    all_close((gw, gb), expected[1:])


def test_conv_weight_gradient_is_split(rng):
    x_shape, w_shape, stride, padding, dilation, groups = CONV_CASES[4]
    g = conv.geometry(x_shape, w_shape[2:], stride, padding, dilation)
    assert conv.grad_weight_splits(g, w_shape[0], groups) > 1  # the case above covers the sum


# --- pool -------------------------------------------------------------------------------------------
POOL_CASES = [  # (x shape, kernel, stride, padding)
    ((2, 3, 9, 8), (2, 2), (2, 2), (0, 0)),
    ((2, 2, 13, 11), (3, 3), (2, 2), (1, 1)),  # overlapping windows (AlexNet's pool)
    ((1, 4, 7, 10), (3, 2), (1, 3), (1, 1)),
    ((3, 1, 5, 5), (5, 4), (1, 1), (2, 2)),
    ((1, 1, 70, 3), (3, 1), (1, 1), (1, 0)),  # more than 32 outputs per plane: several warp chunks
]


def assert_max_pool_matches(x, kernel, stride, padding, dilation=(1, 1)):
    y, argmax = run(pool.max_pool2d_forward, x, kernel, stride, padding, dilation)
    y_ref, argmax_ref = ref_pool.max_pool2d_forward(x, kernel, stride, padding, dilation)
    assert argmax.dtype == np.int64 and y.dtype == x.dtype
    np.testing.assert_array_equal(y, y_ref)  # NaN matches NaN here
    np.testing.assert_array_equal(argmax, argmax_ref)
    return y, argmax


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_CASES)
def test_max_pool(case, dtype, rng):
    x_shape, kernel, stride, padding = case
    x = rng.standard_normal(x_shape).astype(dtype)
    y, argmax = assert_max_pool_matches(x, kernel, stride, padding)
    gy = rng.standard_normal(y.shape).astype(dtype)
    gx = run(pool.max_pool2d_backward, gy, argmax, x_shape)
    close(gx, ref_pool.max_pool2d_backward(gy, argmax, x_shape))
    # no atomics: the same gradient, bit for bit, every time
    np.testing.assert_array_equal(run(pool.max_pool2d_backward, gy, argmax, x_shape), gx)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_CASES)
def test_max_pool_ties_inf_and_nan(case, dtype, rng):
    x_shape, kernel, stride, padding = case
    x = rng.integers(0, 3, x_shape).astype(dtype)  # few distinct values: ties everywhere
    assert_max_pool_matches(x, kernel, stride, padding)
    x = np.where(rng.random(x_shape) < 0.5, -np.inf, x).astype(dtype)  # some windows all -inf
    x[..., 0, :] = -np.inf
    assert_max_pool_matches(x, kernel, stride, padding)
    x = np.where(rng.random(x_shape) < 0.1, np.nan, x).astype(dtype)  # NaN: the last one wins
    assert_max_pool_matches(x, kernel, stride, padding)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", [  # (x shape, kernel, stride, padding, dilation)
    ((2, 3, 11, 10), (3, 2), (1, 2), (1, 1), (2, 3)),
    ((1, 2, 9, 7), (2, 2), (2, 1), (1, 1), (3, 2)),
    ((1, 1, 5, 7), (1, 2), (1, 2), (0, 1), (1, 8)),  # windows without a real tap
])
def test_max_pool_dilated(case, dtype, rng):
    x_shape, kernel, stride, padding, dilation = case
    x = rng.integers(0, 3, x_shape).astype(dtype)  # ties
    x = np.where(rng.random(x_shape) < 0.3, -np.inf, x).astype(dtype)
    y, argmax = assert_max_pool_matches(x, kernel, stride, padding, dilation)
    gy = rng.standard_normal(y.shape).astype(dtype)
    close(run(pool.max_pool2d_backward, gy, argmax, x_shape), ref_pool.max_pool2d_backward(gy, argmax, x_shape))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_CASES)
def test_avg_pool(case, dtype, rng):
    x_shape, kernel, stride, padding = case
    x = rng.standard_normal(x_shape).astype(dtype)
    y = run(pool.avg_pool2d_forward, x, kernel, stride, padding)
    close(y, ref_pool.avg_pool2d_forward(x, kernel, stride, padding))
    gy = rng.standard_normal(y.shape).astype(dtype)
    close(run(pool.avg_pool2d_backward, gy, x_shape, kernel, stride, padding),
          ref_pool.avg_pool2d_backward(gy, x_shape, kernel, stride, padding))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hw, out", [((9, 8), (3, 3)), ((5, 7), (3, 2)), ((2, 3), (5, 7)),
                                     ((13, 13), (6, 6)), ((6, 6), (1, 1)), ((4, 4), (4, 4))])
def test_adaptive_avg_pool(hw, out, dtype, rng):
    x = rng.standard_normal((2, 3) + hw).astype(dtype)
    y = run(pool.adaptive_avg_pool2d_forward, x, out)
    close(y, ref_pool.adaptive_avg_pool2d_forward(x, out))
    gy = rng.standard_normal(y.shape).astype(dtype)
    close(run(pool.adaptive_avg_pool2d_backward, gy, x.shape, out),
          ref_pool.adaptive_avg_pool2d_backward(gy, x.shape, out))


# --- lrn --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channels, size", [(1, 5), (3, 1), (7, 2), (7, 5), (10, 4), (4, 9)])
def test_lrn(channels, size, dtype, rng):
    x = rng.standard_normal((2, channels, 5, 4)).astype(dtype)
    alpha, beta, k = 0.3, 0.75, 1.5  # alpha large enough that the window matters
    y, scale = run(lrn.lrn_forward, x, size, alpha, beta, k)
    y_ref, scale_ref = ref_lrn.lrn_forward(x, size, alpha, beta, k)
    close(y, y_ref)
    close(scale, scale_ref)
    gy = rng.standard_normal(x.shape).astype(dtype)
    close(run(lrn.lrn_backward, gy, x, y_ref, scale_ref, size, alpha, beta),
          ref_lrn.lrn_backward(gy, x, y_ref, scale_ref, size, alpha, beta))


# --- activation -------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_activations(dtype, rng):
    x = (3 * rng.standard_normal((3, 4, 5, 6))).astype(dtype)
    x[0, 0, 0, :3] = [np.nan, np.inf, -np.inf]
    gy = rng.standard_normal(x.shape).astype(dtype)
    for name in ("relu", "tanh", "sigmoid"):
        fwd = getattr(ref_activation, f"{name}_forward")
        bwd = getattr(ref_activation, f"{name}_backward")
        y = fwd(x)
        close(run(getattr(activation, f"{name}_forward"), x), y)
        close(run(getattr(activation, f"{name}_backward"), gy, y), bwd(gy, y))
    close(run(activation.leaky_relu_forward, x, 0.07), ref_activation.leaky_relu_forward(x, 0.07))
    close(run(activation.leaky_relu_backward, gy, x, 0.07), ref_activation.leaky_relu_backward(gy, x, 0.07))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 5), (2, 5, 3, 4), (2, 5, 3)])
def test_bias_add_in_place(shape, dtype, rng):
    y = rng.standard_normal(shape).astype(dtype)
    b = rng.standard_normal(shape[1]).astype(dtype)
    y_gpu = cp.asarray(y)
    out = activation.bias_add(y_gpu, cp.asarray(b))
    assert out is y_gpu
    close(cp.asnumpy(y_gpu), ref_activation.bias_add(y.copy(), b))


# --- dropout ----------------------------------------------------------------------------------------
SEEDS = [(0, 0), (1234, 0), (2**64 - 1, 2**64 - 5), (2**63 + 11, 10**12)]


@pytest.mark.parametrize("seed, offset", SEEDS)
def test_dropout_draws_are_the_reference_draws(seed, offset):
    u = cp.asnumpy(dropout.uniform(1000, seed, offset))
    np.testing.assert_array_equal(u, ref_dropout.uniform(1000, seed, offset))  # bit for bit
    # a later call continues exactly where an earlier one left off
    np.testing.assert_array_equal(cp.asnumpy(dropout.uniform(10, seed, offset + 990)), u[990:])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed, offset", SEEDS)
def test_dropout_mask_identity(seed, offset, dtype, rng):
    x = rng.standard_normal((4, 3, 7, 5)).astype(dtype)
    y, mask = run(dropout.dropout_forward, x, 0.3, seed, offset)
    y_ref, mask_ref = ref_dropout.dropout_forward(x, 0.3, seed, offset)
    assert mask.dtype == np.uint8 and mask.shape == x.shape
    np.testing.assert_array_equal(mask, mask_ref)
    np.testing.assert_array_equal(y, y_ref)  # the same two roundings
    gy = rng.standard_normal(x.shape).astype(dtype)
    np.testing.assert_array_equal(run(dropout.dropout_backward, gy, mask, 0.3),
                                  ref_dropout.dropout_backward(gy, mask_ref, 0.3))


# --- softmax ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5, 7), (3, 1), (2, 1000), (300, 10)])
def test_softmax_family(shape, dtype, rng):
    x = (5 * rng.standard_normal(shape)).astype(dtype)
    x[0] += 1e4 if dtype == np.float64 else 1e3  # huge logits stay finite
    gy = rng.standard_normal(shape).astype(dtype)
    for name in ("softmax", "log_softmax"):
        y = getattr(ref_softmax, f"{name}_forward")(x)
        close(run(getattr(softmax, f"{name}_forward"), x), y)
        close(run(getattr(softmax, f"{name}_backward"), gy, y), getattr(ref_softmax, f"{name}_backward")(gy, y))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("shape", [(6, 10), (2, 1000), (1, 1)])
def test_cross_entropy(shape, eps, dtype, rng):
    logits = (4 * rng.standard_normal(shape)).astype(dtype)
    target = rng.integers(0, shape[1], shape[0])
    loss, logp = run(softmax.cross_entropy_forward, logits, target, eps)
    loss_ref, logp_ref = ref_softmax.cross_entropy_forward(logits, target, eps)
    close(loss, loss_ref)
    close(logp, logp_ref)
    gloss = rng.standard_normal(shape[0]).astype(dtype)
    close(run(softmax.cross_entropy_backward, gloss, logp_ref, target, eps),
          ref_softmax.cross_entropy_backward(gloss, logp_ref, target, eps))
