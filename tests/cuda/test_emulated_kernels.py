"""Every CUDA kernel, run on the CPU through kernels/cuda/emulate/, against the NumPy reference.

The launchers are kernels/cuda/*.py unchanged and the kernels kernels/cuda/*.cu unchanged; only
the memory is host memory. Each call runs once per thread order (forward, reverse, shuffled):
the results must agree bit for bit (a race or a missing __syncthreads() would make them differ)
and match the reference: float64 to 1e-10, float32 to 1e-5 relative, exactly where the operation
is exact. tests/cuda/test_emulate_sanitizers.py runs this file again under ASan and UBSan.
"""
from __future__ import annotations

import importlib
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyconv.kernels.cuda import _cuda
from tinyconv.kernels.cuda import emulate
from tinyconv.kernels.cuda.emulate import ORDERS, runtime, schedule
from tinyconv.kernels.reference import activation as ref_activation
from tinyconv.kernels.reference import conv as ref_conv
from tinyconv.kernels.reference import dropout as ref_dropout
from tinyconv.kernels.reference import lrn as ref_lrn
from tinyconv.kernels.reference import pool as ref_pool
from tinyconv.kernels.reference import softmax as ref_softmax

pytestmark = [pytest.mark.emulated,
              pytest.mark.skipif(not emulate.available(), reason="no C++ compiler (g++) for the emulated kernels")]

DTYPES = [np.float32, np.float64]

if runtime.sanitize_requested():  # the sanitized child (test_emulate_sanitizers.py): fewer draws
    settings.register_profile("emulated-sanitized", parent=settings.get_profile("ci"), max_examples=5)
    settings.load_profile("emulated-sanitized")


def family(name):
    return importlib.import_module(f"tinyconv.kernels.cuda.emulate.{name}")


activation, conv, dropout, lrn, pool, softmax = (family(f) for f in emulate.FAMILIES)


@pytest.fixture(scope="module", autouse=True)
def libraries():
    emulate.prebuild(jobs=2)  # a cold cache compiles two families at a time


def _copy(a):
    return a.copy() if isinstance(a, np.ndarray) else a


def assert_same(a, b):
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif a is None:
        assert b is None
    else:
        np.testing.assert_array_equal(a, b)  # NaN equals NaN here


def run(kernel, *args):
    """kernel(*args) under every thread order (each on fresh copies): the same bits every time."""
    results = []
    for seed, order in enumerate(ORDERS):
        with schedule(order, seed=seed):
            results.append(kernel(*(_copy(a) for a in args)))
    for other in results[1:]:
        assert_same(results[0], other)
    return results[0]


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


def data(draw_seed, shape, dtype, scale=1.0):
    return (scale * np.random.default_rng(draw_seed).standard_normal(shape)).astype(dtype)


seeds = st.integers(0, 2**32 - 1)


# --- every kernel has a test here -----------------------------------------------------------------
KERNEL = re.compile(r"__global__\s+void\s+(\w+)\s*\(")


def test_every_global_kernel_is_run_emulated():
    """Each __global__ kernel of every .cu, in each instantiation its launcher asks for, is
    launched through its launcher: the enumeration comes from the sources, so a new kernel
    without a launcher path fails here."""
    runtime.launched.clear()
    rng = np.random.default_rng(0)
    for dtype in DTYPES:
        x = rng.standard_normal((2, 4, 6, 5)).astype(dtype)
        w = rng.standard_normal((4, 2, 3, 2)).astype(dtype)
        b = rng.standard_normal(4).astype(dtype)
        for algo in ("im2col", "direct"):
            y = conv.conv2d_forward(x, w, b, (1, 2), (1, 0), (1, 1), 2, algo)
            conv.conv2d_backward(y, x, w, (1, 2), (1, 0), (1, 1), 2, algo)
        y, argmax = pool.max_pool2d_forward(x, (2, 2), (2, 2), (1, 1))
        pool.max_pool2d_backward(y, argmax, x.shape)
        pool.avg_pool2d_backward(pool.avg_pool2d_forward(x, (2, 2), (1, 1), (0, 0)), x.shape, (2, 2), (1, 1), (0, 0))
        pool.adaptive_avg_pool2d_backward(pool.adaptive_avg_pool2d_forward(x, (3, 2)), x.shape, (3, 2))
        y, scale = lrn.lrn_forward(x, 3, 1e-2, 0.75, 2.0)
        lrn.lrn_backward(x, x, y, scale, 3, 1e-2, 0.75)
        for name in ("relu", "tanh", "sigmoid"):
            getattr(activation, f"{name}_backward")(x, getattr(activation, f"{name}_forward")(x))
        activation.leaky_relu_backward(x, activation.leaky_relu_forward(x, 0.1), 0.1)
        y, mask = dropout.dropout_forward(x, 0.5, 1, 2)
        dropout.dropout_backward(y, mask, 0.5)
        rows = x.reshape(16, 15)
        for name in ("softmax", "log_softmax"):
            getattr(softmax, f"{name}_backward")(rows, getattr(softmax, f"{name}_forward")(rows))
        target = np.arange(16) % 15
        loss, logp = softmax.cross_entropy_forward(rows, target, 0.1)
        softmax.cross_entropy_backward(loss, logp, target, 0.1)
    dropout.uniform(10, 1, 2)
    in_sources = set()
    for cu in sorted(_cuda.HERE.glob("*.cu")):
        fam = cu.stem
        names = KERNEL.findall(cu.read_text())
        expressions = set(importlib.import_module(f"tinyconv.kernels.cuda.{fam}").NAME_EXPRESSIONS)
        for name in names:
            instances = {e for e in expressions if e == name or e.startswith(name + "<")}
            assert instances, f"{fam}.cu: kernel {name} is not instantiated by its launcher"
            in_sources |= {(fam, e) for e in instances}
    assert len(in_sources) >= 60
    missing = in_sources - set(runtime.launched)
    assert not missing, f"kernels never launched emulated: {sorted(missing)}"


# --- conv -------------------------------------------------------------------------------------------
@st.composite
def conv_cases(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cg, og = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    sh, sw = draw(st.sampled_from([1, 2, 3, 4])), draw(st.sampled_from([1, 2, 4]))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = max(1, dh * (kh - 1) + 1 - 2 * ph) + draw(st.integers(0, 9))
    w = max(1, dw * (kw - 1) + 1 - 2 * pw) + draw(st.integers(0, 9))
    n = draw(st.integers(1, 3))
    return (n, groups * cg, h, w), (groups * og, cg, kh, kw), (sh, sw), (ph, pw), (dh, dw), groups


CONV_EDGES = [  # tiny, empty batch, a window as large as the image, more output channels than a tile
    ((1, 1, 1, 1), (1, 1, 1, 1), (1, 1), (0, 0), (1, 1), 1),
    ((0, 2, 5, 5), (3, 2, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    ((2, 2, 4, 3), (2, 2, 4, 3), (4, 4), (0, 0), (1, 1), 1),
    ((1, 2, 3, 3), (2, 1, 5, 5), (4, 4), (2, 2), (1, 1), 2),
    ((1, 3, 17, 18), (35, 3, 2, 3), (4, 4), (1, 0), (1, 1), 1),
    ((2, 8, 20, 20), (40, 4, 3, 3), (1, 1), (1, 1), (1, 1), 2),  # weight gradient in several splits
]


def check_conv(case, dtype, seed):
    x_shape, w_shape, stride, padding, dilation, groups = case
    x, w = data(seed, x_shape, dtype), data(seed + 1, w_shape, dtype)
    b = data(seed + 2, w_shape[0], dtype)
    hyper = (stride, padding, dilation, groups)
    if x_shape[0] == 0:  # (the reference cannot reshape an empty batch: checked by hand here)
        g = conv.geometry(x_shape, w_shape[2:], stride, padding, dilation)
        gy = np.zeros((0, w_shape[0], g.OH, g.OW), dtype)
        for algo in ("im2col", "direct"):
            assert run(conv.conv2d_forward, x, w, b, *hyper, algo).shape == gy.shape
            gx, gw, gb = run(conv.conv2d_backward, gy, x, w, *hyper, algo)
            assert gx.shape == x.shape
            np.testing.assert_array_equal(gw, np.zeros_like(w))
            np.testing.assert_array_equal(gb, np.zeros_like(b))
        return
    kernel = w_shape[2:]
    cols = run(conv.im2col, x, kernel, stride, padding, dilation)
    np.testing.assert_array_equal(cols, ref_conv.im2col(x, kernel, stride, padding, dilation))
    c = data(seed + 3, cols.shape, dtype)
    close(run(conv.col2im, c, x_shape, kernel, stride, padding, dilation),
          ref_conv.col2im(c, x_shape, kernel, stride, padding, dilation))
    y_ref = ref_conv.conv2d_forward(x, w, b, *hyper, "im2col")
    gy = data(seed + 4, y_ref.shape, dtype)
    expected = ref_conv.conv2d_backward(gy, x, w, *hyper, "im2col")
    for algo in ("im2col", "direct"):
        close(run(conv.conv2d_forward, x, w, b, *hyper, algo), y_ref)
        close(run(conv.conv2d_forward, x, w, None, *hyper, algo), ref_conv.conv2d_forward(x, w, None, *hyper, "im2col"))
        all_close(run(conv.conv2d_backward, gy, x, w, *hyper, algo), expected)
        gx, gw, gb = run(conv.conv2d_backward, gy, x, w, *hyper, algo, False)
        assert gx is None
        all_close((gw, gb), expected[1:])


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=conv_cases(), seed=seeds)
def test_conv(case, dtype, seed):
    check_conv(case, dtype, seed)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_EDGES)
def test_conv_edges(case, dtype):
    check_conv(case, dtype, 7)


# --- pool -------------------------------------------------------------------------------------------
@st.composite
def pool_cases(draw):
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    sh, sw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    h = max(1, kh - 2 * ph) + draw(st.integers(0, 9))
    w = max(1, kw - 2 * pw) + draw(st.integers(0, 40))  # > 32 outputs: several warp chunks
    return (draw(st.integers(0, 2)), draw(st.integers(1, 3)), h, w), (kh, kw), (sh, sw), (ph, pw)


def max_pool_values(seed, shape, dtype, kind):
    rng = np.random.default_rng(seed)
    if kind == "normal":
        return rng.standard_normal(shape).astype(dtype)
    x = rng.integers(0, 3, shape).astype(dtype)  # ties everywhere
    if kind == "nonfinite":
        x = np.where(rng.random(shape) < 0.4, -np.inf, x)
        x = np.where(rng.random(shape) < 0.1, np.nan, x).astype(dtype)
    return x


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=pool_cases(), dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)), seed=seeds,
       kind=st.sampled_from(["normal", "ties", "nonfinite"]))
def test_max_pool(case, dilation, dtype, seed, kind):
    x_shape, kernel, stride, padding = case
    # a dilated window spans d*(k-1)+1 pixels: widen the input so that it still fits
    x_shape = x_shape[:2] + tuple(n + (d - 1) * (k - 1) for n, k, d in zip(x_shape[2:], kernel, dilation))
    x = max_pool_values(seed, x_shape, dtype, kind)
    y, argmax = run(pool.max_pool2d_forward, x, kernel, stride, padding, dilation)
    y_ref, argmax_ref = ref_pool.max_pool2d_forward(x, kernel, stride, padding, dilation)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(argmax, argmax_ref)
    assert argmax.dtype == np.int64
    gy = data(seed, y.shape, dtype)
    close(run(pool.max_pool2d_backward, gy, argmax, x_shape), ref_pool.max_pool2d_backward(gy, argmax, x_shape))


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=pool_cases(), seed=seeds)
def test_avg_pool(case, dtype, seed):
    x_shape, kernel, stride, padding = case
    x = data(seed, x_shape, dtype)
    y = run(pool.avg_pool2d_forward, x, kernel, stride, padding)
    close(y, ref_pool.avg_pool2d_forward(x, kernel, stride, padding))
    gy = data(seed + 1, y.shape, dtype)
    close(run(pool.avg_pool2d_backward, gy, x_shape, kernel, stride, padding),
          ref_pool.avg_pool2d_backward(gy, x_shape, kernel, stride, padding))


@pytest.mark.parametrize("dtype", DTYPES)
@given(hw=st.tuples(st.integers(1, 13), st.integers(1, 13)), out=st.tuples(st.integers(1, 7), st.integers(1, 7)),
       seed=seeds)
def test_adaptive_avg_pool(hw, out, dtype, seed):
    x = data(seed, (2, 3) + hw, dtype)
    y = run(pool.adaptive_avg_pool2d_forward, x, out)
    close(y, ref_pool.adaptive_avg_pool2d_forward(x, out))
    gy = data(seed + 1, y.shape, dtype)
    close(run(pool.adaptive_avg_pool2d_backward, gy, x.shape, out),
          ref_pool.adaptive_avg_pool2d_backward(gy, x.shape, out))


# --- lrn --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@given(n=st.integers(0, 2), channels=st.integers(1, 12), hw=st.tuples(st.integers(1, 5), st.integers(1, 5)),
       size=st.integers(1, 9), beta=st.sampled_from([0.75, 0.5, 1.3]), seed=seeds)
def test_lrn(n, channels, hw, size, beta, dtype, seed):
    x = data(seed, (n, channels) + hw, dtype, scale=2.0)
    alpha, k = 0.3, 1.5  # alpha large enough that the window matters
    y, scale = run(lrn.lrn_forward, x, size, alpha, beta, k)
    y_ref, scale_ref = ref_lrn.lrn_forward(x, size, alpha, beta, k)
    close(y, y_ref)
    close(scale, scale_ref)
    gy = data(seed + 1, x.shape, dtype)
    close(run(lrn.lrn_backward, gy, x, y_ref, scale_ref, size, alpha, beta),
          ref_lrn.lrn_backward(gy, x, y_ref, scale_ref, size, alpha, beta))


# --- activation -------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@given(n=st.integers(0, 700), seed=seeds)
def test_activations(n, dtype, seed):
    x = data(seed, (n,), dtype, scale=3.0)
    x[:3] = [np.nan, np.inf, -np.inf][:min(3, n)]
    gy = data(seed + 1, x.shape, dtype)
    for name in ("relu", "tanh", "sigmoid"):
        y = getattr(ref_activation, f"{name}_forward")(x)
        close(run(getattr(activation, f"{name}_forward"), x), y)
        close(run(getattr(activation, f"{name}_backward"), gy, y), getattr(ref_activation, f"{name}_backward")(gy, y))
    close(run(activation.leaky_relu_forward, x, 0.07), ref_activation.leaky_relu_forward(x, 0.07))
    close(run(activation.leaky_relu_backward, gy, x, 0.07), ref_activation.leaky_relu_backward(gy, x, 0.07))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 5), (2, 5, 3, 4), (2, 5, 3), (1, 1)])
def test_bias_add_in_place(shape, dtype):
    y, b = data(1, shape, dtype), data(2, shape[1], dtype)
    expected = ref_activation.bias_add(y.copy(), b)
    out = activation.bias_add(y, b)
    assert out is y
    close(y, expected)


# --- dropout ----------------------------------------------------------------------------------------
@given(n=st.integers(0, 600), seed=st.integers(0, 2**64 - 1), offset=st.integers(0, 2**64 - 1))
def test_dropout_draws(n, seed, offset):
    np.testing.assert_array_equal(run(dropout.uniform, n, seed, offset), ref_dropout.uniform(n, seed, offset))


@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=st.lists(st.integers(0, 9), min_size=1, max_size=4), p=st.sampled_from([0.1, 0.5, 0.9]),
       seed=st.integers(0, 2**64 - 1), offset=st.integers(0, 2**40))
def test_dropout(shape, p, seed, offset, dtype):
    x = data(seed % 2**32, tuple(shape), dtype)
    y, mask = run(dropout.dropout_forward, x, p, seed, offset)
    y_ref, mask_ref = ref_dropout.dropout_forward(x, p, seed, offset)
    assert mask.dtype == np.uint8
    np.testing.assert_array_equal(mask, mask_ref)
    np.testing.assert_array_equal(y, y_ref)
    gy = data(seed % 2**32 + 1, x.shape, dtype)
    np.testing.assert_array_equal(run(dropout.dropout_backward, gy, mask, p), ref_dropout.dropout_backward(gy, mask_ref, p))


# --- softmax ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@given(n=st.integers(1, 5), c=st.integers(1, 700), seed=seeds)
def test_softmax_family(n, c, dtype, seed):
    x = data(seed, (n, c), dtype, scale=5.0)
    x[0] += 1e4 if dtype == np.float64 else 1e3  # huge logits stay finite
    gy = data(seed + 1, x.shape, dtype)
    for name in ("softmax", "log_softmax"):
        y = getattr(ref_softmax, f"{name}_forward")(x)
        close(run(getattr(softmax, f"{name}_forward"), x), y)
        close(run(getattr(softmax, f"{name}_backward"), gy, y), getattr(ref_softmax, f"{name}_backward")(gy, y))


@pytest.mark.parametrize("dtype", DTYPES)
@given(n=st.integers(1, 5), c=st.integers(1, 600), eps=st.sampled_from([0.0, 0.1]), seed=seeds)
def test_cross_entropy(n, c, eps, dtype, seed):
    logits = data(seed, (n, c), dtype, scale=4.0)
    target = np.random.default_rng(seed).integers(0, c, n)
    loss, logp = run(softmax.cross_entropy_forward, logits, target, eps)
    loss_ref, logp_ref = ref_softmax.cross_entropy_forward(logits, target, eps)
    close(loss, loss_ref)
    close(logp, logp_ref)
    gloss = data(seed + 1, n, dtype)
    close(run(softmax.cross_entropy_backward, gloss, logp_ref, target, eps),
          ref_softmax.cross_entropy_backward(gloss, logp_ref, target, eps))


def nonfinite_lrn_input(dtype, seed):
    """Channels holding NaN, +inf and -inf among finite ones, at different pixels and samples."""
    x = data(seed, (2, 11, 3, 4), dtype)
    x[0, 2, 0, 0] = np.nan
    x[0, 5, 1, 1] = np.inf
    x[1, 0, 2, 3] = -np.inf
    x[1, 9, 2, 3] = np.nan
    x[1, 4, 0, 2] = np.inf
    x[1, 7, 0, 2] = -np.inf
    return x


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # the reference's inf * 0, inf - inf
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_lrn_nonfinite_input_stays_in_its_windows(size, dtype):
    """Only the channels whose window holds a non-finite value become non-finite (a running sum
    that a NaN or inf has entered stays NaN after it leaves: every later channel would be)."""
    x = nonfinite_lrn_input(dtype, 11)
    alpha, beta, k = 0.2, 0.75, 2.0
    y, scale = run(lrn.lrn_forward, x, size, alpha, beta, k)
    y_ref, scale_ref = ref_lrn.lrn_forward(x, size, alpha, beta, k)
    assert np.isfinite(scale_ref).sum() > scale_ref.size // 2  # most channels stay finite
    close(scale, scale_ref)
    close(y, y_ref)
    gy = data(12, x.shape, dtype)
    gy[0, 8, 2, 2] = np.inf  # a non-finite upstream gradient, in a finite window
    gx_ref = ref_lrn.lrn_backward(gy, x, y_ref, scale_ref, size, alpha, beta)
    close(run(lrn.lrn_backward, gy, x, y_ref, scale_ref, size, alpha, beta), gx_ref)


@pytest.mark.parametrize("dtype", DTYPES)
def test_lrn_window_sum_does_not_drift(dtype):
    """Large channels, then small ones: a float running sum keeps the rounding error of the large
    squares after they leave the window; summed in double, the small channels come out right."""
    x = np.full((1, 40, 2, 2), 1e-2, dtype)
    x[0, :4] = 3e3
    alpha, beta, k = 1.0, 0.75, 1e-4
    y, scale = run(lrn.lrn_forward, x, 3, alpha, beta, k)
    y_ref, scale_ref = ref_lrn.lrn_forward(x, 3, alpha, beta, k)
    close(scale, scale_ref)
    close(y, y_ref)
    gy = np.ones_like(x)
    gy[0, :4] = 5e5
    close(run(lrn.lrn_backward, gy, x, y_ref, scale_ref, 3, alpha, beta),
          ref_lrn.lrn_backward(gy, x, y_ref, scale_ref, 3, alpha, beta))


# --- the tests above catch real kernel bugs: planted ones ---------------------------------------
def mutant(monkeypatch, module, old, new):
    """Make `module` (an emulated launcher) run a copy of its .cu with `old` replaced by `new`."""
    source = _cuda.read_source(module._kernels.family)
    assert source.count(old) >= 1, old
    text = source.replace(old, new, 1)
    lib = runtime.source_library(f"{module._kernels.family}_mutant", text, tuple(module._kernels.name_expressions))
    monkeypatch.setattr(module._kernels, "library", lambda: lib)


FORWARD_DIRECT_TAIL = """                acc += w_tile[ty][kk] * col_tile[kk][tx];
            __syncthreads();"""
REDUCE_TAIL = "    __syncthreads();  // buf may be reused right after"


@pytest.mark.skipif(runtime.sanitize_requested(), reason="tests the harness, not the kernels")
@pytest.mark.parametrize("planted", ["no barrier after the tile product", "no barrier before buf is reused",
                                     "padding left unwritten"])
def test_planted_bugs_are_caught(monkeypatch, planted):
    if planted == "no barrier after the tile product":  # a fast thread overwrites the tiles others still read
        mutant(monkeypatch, conv, FORWARD_DIRECT_TAIL, FORWARD_DIRECT_TAIL.replace("__syncthreads();", ""))
        with pytest.raises(AssertionError):
            check_conv(((1, 3, 9, 9), (5, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1), np.float64, 3)  # K = 27: 2 tiles
    elif planted == "no barrier before buf is reused":  # thread 0 reads buf[0] after the next reduction wrote it
        mutant(monkeypatch, softmax, REDUCE_TAIL, "")
        x = data(1, (3, 300), np.float64)
        with pytest.raises(AssertionError):
            close(run(softmax.softmax_forward, x), ref_softmax.softmax_forward(x))
    else:  # right on zeroed memory; device memory (and the emulator's cupy.empty) is not zeroed
        mutant(monkeypatch, conv, "out[(i * kw + j) * col_stride_r] = inside ? plane[h * W + w] : T(0);",
               "if (inside) out[(i * kw + j) * col_stride_r] = plane[h * W + w];")
        x = data(2, (1, 2, 5, 5), np.float32)
        with pytest.raises(AssertionError):
            np.testing.assert_array_equal(run(conv.im2col, x, (3, 3), (1, 1), (1, 1), (1, 1)),
                                          ref_conv.im2col(x, (3, 3), (1, 1), (1, 1), (1, 1)))
