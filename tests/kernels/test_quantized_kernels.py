"""Integer kernels (int8 x int8 -> int32, requantize, int8 max-pool): the Numba flavour equals the
NumPy reference bit for bit, and the reference equals the definitions written out in Python ints
(arbitrary precision: no overflow, no rounding of its own)."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinyconv.kernels.cpu import quantized as cpu
from tinyconv.kernels.reference import quantized as ref

FLAVOURS = [pytest.param(ref, id="reference"), pytest.param(cpu, id="cpu")]
seeds = st.integers(0, 2**32 - 1)


def _int8(rng, shape):
    return rng.integers(-128, 128, shape).astype(np.int8)


@st.composite
def conv_case(draw):
    n, c, o = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, kh - 2 * ph), 9))
    w = draw(st.integers(max(1, kw - 2 * pw), 9))
    rng = np.random.default_rng(draw(seeds))
    bias = rng.integers(-2**20, 2**20, o).astype(np.int32) if draw(st.booleans()) else None
    return (_int8(rng, (n, c, h, w)), int(rng.integers(-128, 128)), _int8(rng, (o, c, kh, kw)), bias,
            (sh, sw), (ph, pw))


def _conv_by_definition(x, zx, w, bias, stride, padding):
    """Python ints, loops: acc[n,o,i,j] = bias[o] + sum (xpad - zx) * w, padding = real 0."""
    (sh, sw), (ph, pw) = stride, padding
    n_, c_, h, wd = x.shape
    o_, _, kh, kw = w.shape
    oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    out = np.zeros((n_, o_, oh, ow), np.int64)
    xl, wl = x.astype(int).tolist(), w.astype(int).tolist()
    for n in range(n_):
        for o in range(o_):
            for i in range(oh):
                for j in range(ow):
                    acc = 0 if bias is None else int(bias[o])
                    for c in range(c_):
                        for u in range(kh):
                            for v in range(kw):
                                r, s = i * sh + u - ph, j * sw + v - pw
                                if 0 <= r < h and 0 <= s < wd:
                                    acc += (xl[n][c][r][s] - zx) * wl[o][c][u][v]
                    out[n, o, i, j] = acc
    return out


@pytest.mark.parametrize("k", FLAVOURS)
@given(case=conv_case())
def test_conv2d_int8_equals_the_definition(k, case):
    x, zx, w, bias, stride, padding = case
    acc = k.conv2d_int8(x, zx, w, bias, stride, padding)
    assert acc.dtype == np.int32
    np.testing.assert_array_equal(acc, _conv_by_definition(x, zx, w, bias, stride, padding))


@given(n=st.integers(1, 5), k_=st.integers(1, 40), m=st.integers(1, 6), seed=seeds, with_bias=st.booleans())
def test_linear_int8_cpu_equals_reference_equals_definition(n, k_, m, seed, with_bias):
    rng = np.random.default_rng(seed)
    x, w, zx = _int8(rng, (n, k_)), _int8(rng, (m, k_)), int(rng.integers(-128, 128))
    bias = rng.integers(-2**24, 2**24, m).astype(np.int32) if with_bias else None
    want = [[(0 if bias is None else int(bias[j])) + sum((int(a) - zx) * int(b) for a, b in zip(x[i], w[j]))
             for j in range(m)] for i in range(n)]
    for kern in (ref, cpu):
        got = kern.linear_int8(x, zx, w, bias)
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, np.array(want))


def _requant_by_definition(acc, m, s, zp, qmin, qmax):
    out = np.empty(acc.shape, np.int64)
    for idx in np.ndindex(*acc.shape):
        c = idx[1]
        v = (int(acc[idx]) * int(m[c]) + (1 << (int(s[c]) - 1))) >> int(s[c])  # Python: exact, floor
        out[idx] = min(max(v + zp, qmin), qmax)
    return out


@given(shape=st.lists(st.integers(1, 4), min_size=2, max_size=4).map(tuple), seed=seeds,
       relu=st.booleans())
def test_requantize_equals_exact_integer_rounding(shape, seed, relu):
    rng = np.random.default_rng(seed)
    acc = rng.integers(-2**31, 2**31, shape, dtype=np.int64).astype(np.int32)
    acc.flat[0] = -2**31
    scale_down = rng.integers(0, 31, shape[1])  # small accumulators too, so results land in range
    acc = (acc.astype(np.int64) >> scale_down.reshape((1, -1) + (1,) * (len(shape) - 2))).astype(np.int32)
    m = rng.integers(2**30, 2**31, shape[1])
    s = rng.integers(1, 63, shape[1])
    zp = int(rng.integers(-128, 128))
    qmin = zp if relu else -128
    want = _requant_by_definition(acc, m, s, zp, qmin, 127)
    for kern in (ref, cpu):
        got = kern.requantize(acc, m, s, zp, qmin, 127)
        assert got.dtype == np.int8 and got.shape == shape
        np.testing.assert_array_equal(got, want)


def test_requantize_rounds_half_up():
    # acc * M0 / 2**s = acc / 4 with M0 = 2**30, s = 32: -2.5 -> -2, -1.5 -> -1, 0.5 -> 1, 1.5 -> 2
    acc = np.array([[-10, -6, -2, 2, 6, 7]], np.int32).reshape(1, 1, 6)
    for kern in (ref, cpu):
        got = kern.requantize(acc, np.array([2**30]), np.array([32]), 0, -128, 127)
        assert got.ravel().tolist() == [-2, -1, 0, 1, 2, 2]


@pytest.mark.parametrize("k", FLAVOURS)
@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(3, 9), st.integers(3, 9)),
       kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)), stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       seed=seeds)
def test_max_pool2d_int8(k, shape, kernel, stride, seed):
    x = _int8(np.random.default_rng(seed), shape)
    y = k.max_pool2d_int8(x, kernel, stride)
    (kh, kw), (sh, sw) = kernel, stride
    oh, ow = (shape[2] - kh) // sh + 1, (shape[3] - kw) // sw + 1
    want = np.array([[[[x[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw].max() for j in range(ow)]
                       for i in range(oh)] for c in range(shape[1])] for n in range(shape[0])])
    assert y.dtype == np.int8
    np.testing.assert_array_equal(y, want)
