"""Dropout kernels: the counter-based RNG is pinned to the formula in kernels/README.md by an
independent big-int implementation, and both flavours must give the same mask bit for bit."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinyconv.kernels.cpu import dropout as cpu
from tinyconv.kernels.reference import dropout as ref

FLAVOURS = [pytest.param(ref, id="reference"), pytest.param(cpu, id="cpu")]
MASK64 = (1 << 64) - 1


def splitmix64(seed, counter):
    """The contract's formula on Python ints (unbounded), reduced mod 2**64 by hand."""
    z = (seed * 0x9E3779B97F4A7C15 + counter * 0xD1B54A32D192ED03) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def python_uniform(n, seed, offset):
    return np.array([(splitmix64(seed, (offset + i + 1) & MASK64) >> 11) * 2.0 ** -53
                     for i in range(n)])


def test_big_int_formula_is_splitmix64():
    # counter 0 leaves seed * golden: splitmix64's published first outputs from state 0
    assert [splitmix64(s, 0) for s in (1, 2, 3)] == [
        0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]
    # and values of this formula, pinned once so that a change to it cannot go unnoticed
    assert [splitmix64(0, c) for c in (1, 2, 3)] == [
        0x8209B480FAED1B10, 0x6C23AACCA1387409, 0x608EF4CA05464192]
    assert splitmix64(42, 1) == 0x8DD955AB5664F4EC
    assert splitmix64(2**64 - 1, 2**64 - 1) == 0x3A391231209043FD


@pytest.mark.parametrize("k", FLAVOURS)
@pytest.mark.parametrize("seed,offset", [(0, 0), (42, 0), (0x7C0FFEE, 123456789),
                                         (2**63, 5), (2**64 - 1, 2**64 - 2), (1, 2**64 - 1)])
def test_uniform_matches_big_int_formula(k, seed, offset):
    # seeds >= 2**63 and offsets that wrap the counter past 2**64 included
    u = k.uniform(7, seed, offset)
    assert u.dtype == np.float64 and u.shape == (7,)
    np.testing.assert_array_equal(u, python_uniform(7, seed, offset))


@pytest.mark.parametrize("k", FLAVOURS)
def test_uniform_pinned_values(k):
    np.testing.assert_array_equal(k.uniform(3, 0, 0), np.array(
        [4575302229384611, 3804814246160142, 3397347472091336]) * 2.0 ** -53)
    # counter 0 (offset 2**64 - 1 wraps): splitmix64's first output
    assert k.uniform(1, 1, 2**64 - 1)[0] == (0xE220A8397B1DCDAF >> 11) * 2.0 ** -53


@given(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1), st.integers(1, 300))
def test_flavours_agree_on_uniform(seed, offset, n):
    np.testing.assert_array_equal(cpu.uniform(n, seed, offset), ref.uniform(n, seed, offset))


@pytest.mark.parametrize("k", FLAVOURS)
def test_uniform_offset_continuity(k):
    # one call of n draws == a call of k draws followed by a call of n - k at offset + k
    seed, offset, n = 2**63 + 11, 2**64 - 40, 100  # crosses the 2**64 wrap on purpose
    u = k.uniform(n, seed, offset)
    for skip in (1, 17, 40, 99):
        np.testing.assert_array_equal(u[skip:], k.uniform(n - skip, seed, (offset + skip) % 2**64))
    assert k.uniform(0, seed, offset).shape == (0,)


@pytest.mark.parametrize("k", FLAVOURS)
def test_uniform_statistics(k):
    u = k.uniform(200_000, 1234, 0)
    assert 0.0 <= u.min() and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / u.size)
    counts = np.bincount((u * 10).astype(int), minlength=10)
    expected = u.size / 10
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 40  # 9 degrees of freedom: P(chi2 > 40) ~ 1e-5
    # neighbouring counters are not correlated
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.01
    # a different seed gives a different stream
    assert (k.uniform(1000, 1235, 0) != u[:1000]).mean() > 0.99


@given(st.sampled_from([(1,), (5, 3), (2, 3, 4, 5), (1, 1, 7, 1), (100_003,)]),
       st.sampled_from([np.float32, np.float64]), st.floats(0.0, 0.95),
       st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
def test_flavours_give_identical_mask_and_values(shape, dtype, p, seed, offset):
    rng = np.random.default_rng(seed % 2**32)
    x = rng.standard_normal(shape).astype(dtype)
    y, mask = cpu.dropout_forward(x, p, seed, offset)
    y_ref, mask_ref = ref.dropout_forward(x, p, seed, offset)
    assert mask.dtype == np.uint8 and mask.shape == shape and y.dtype == dtype and y.shape == shape
    np.testing.assert_array_equal(mask, mask_ref)
    np.testing.assert_array_equal(mask.ravel(), ref.uniform(x.size, seed, offset) >= p)
    np.testing.assert_array_equal(y, y_ref)
    scale = dtype(1 / (1 - p))
    np.testing.assert_array_equal(y, np.where(mask == 1, x * scale, 0))

    gy = rng.standard_normal(shape).astype(dtype)
    gx = cpu.dropout_backward(gy, mask, p)
    assert gx.dtype == dtype and gx.shape == shape
    np.testing.assert_array_equal(gx, ref.dropout_backward(gy, mask, p))
    np.testing.assert_array_equal(gx, np.where(mask == 1, gy * scale, 0))


@pytest.mark.parametrize("k", FLAVOURS)
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_keep_rate(k, p):
    n = 100_000
    _, mask = k.dropout_forward(np.ones(n, dtype=np.float32), p, 99, 0)
    kept = int(mask.sum())
    assert abs(kept - n * (1 - p)) < 5 * np.sqrt(n * p * (1 - p))  # 5 binomial sigmas


@pytest.mark.parametrize("k", FLAVOURS)
def test_p_zero_keeps_everything_and_nonfinite_values_propagate(k):
    x = np.array([1.5, -2.0, np.inf, np.nan, 0.0], dtype=np.float32)
    y, mask = k.dropout_forward(x, 0.0, 5, 0)
    np.testing.assert_array_equal(mask, 1)
    np.testing.assert_array_equal(y, x)
    # dropping multiplies by 0 (x * mask * scale): a dropped NaN or inf is NaN, as in PyTorch
    x = np.full(64, np.nan)
    y, mask = k.dropout_forward(x, 0.5, 5, 0)
    assert 0 < mask.sum() < 64 and np.isnan(y).all()


@pytest.mark.parametrize("k", FLAVOURS)
def test_same_counters_give_same_mask_within_a_flavour(k):
    x = np.ones((4, 6))
    a = k.dropout_forward(x, 0.5, 7, 100)[1]
    np.testing.assert_array_equal(a, k.dropout_forward(x, 0.5, 7, 100)[1])
    assert (a != k.dropout_forward(x, 0.5, 7, 124)[1]).any()
    # the mask follows x.ravel(): its flat order does not depend on the shape
    np.testing.assert_array_equal(a.ravel(), k.dropout_forward(np.ones(24), 0.5, 7, 100)[1])


def test_one_compiled_signature_per_dtype():
    # DESIGN.md: one compiled signature per dtype, whatever the rank of the input
    from numba import types
    for shape in [(5,), (2, 3), (2, 3, 4), (1, 2, 3, 4)]:
        for dtype in (np.float32, np.float64):
            x = np.ones(shape, dtype=dtype)
            y, mask = cpu.dropout_forward(x, 0.5, 3, 0)
            assert y.shape == mask.shape == shape
            assert cpu.dropout_backward(x, mask, 0.5).shape == shape
    for fn in (cpu._forward, cpu._backward):
        arrays = [a for sig in fn.signatures for a in sig if isinstance(a, types.Array)]
        assert {(a.ndim, a.layout) for a in arrays} == {(1, "C")}, fn.signatures
        assert len(fn.signatures) <= 2, fn.signatures
