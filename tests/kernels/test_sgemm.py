"""tinyconv's own float32 GEMM (kernels/cpu/_sgemm.py) against NumPy in float64."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyconv.kernels.cpu._sgemm import MR, NO_TRANS, NR, TRANS, sgemm, sgemm_tree
from tinyconv.kernels.cpu._tree import leaf_stride


def _run(ta, tb, m, n, k, beta, rng, c_fill=None, pad=(0, 0, 0)):
    """C = op(A) op(B) + beta C with leading dimensions `pad` wider than needed."""
    a = rng.standard_normal((m, k + pad[0]) if ta == NO_TRANS else (k, m + pad[0])).astype(np.float32)
    b = rng.standard_normal((k, n + pad[1]) if tb == NO_TRANS else (n, k + pad[1])).astype(np.float32)
    c = rng.standard_normal((m, n + pad[2])).astype(np.float32)
    if c_fill is not None:
        c[:] = c_fill
    aop = a[:, :k] if ta == NO_TRANS else a[:, :m].T
    bop = b[:, :n] if tb == NO_TRANS else b[:, :k].T
    want = aop.astype(np.float64) @ bop.astype(np.float64)
    if beta != 0:
        want += beta * c[:, :n].astype(np.float64)
    out = c.copy()
    sgemm(ta, tb, m, n, k, a.ctypes.data, a.shape[1], b.ctypes.data, b.shape[1], np.float32(beta),
          out.ctypes.data, out.shape[1])
    return out, want, c


@settings(max_examples=40, deadline=None)
@given(ta=st.sampled_from([NO_TRANS, TRANS]), tb=st.sampled_from([NO_TRANS, TRANS]),
       m=st.integers(1, 3 * MR + 1), n=st.integers(1, 3 * NR + 3), k=st.integers(0, 600),
       beta=st.sampled_from([0.0, 1.0, 0.5]), pad=st.tuples(*[st.integers(0, 3)] * 3),
       seed=st.integers(0, 2**16))
def test_matches_float64_matmul(ta, tb, m, n, k, beta, pad, seed):
    out, want, c = _run(ta, tb, m, n, k, beta, np.random.default_rng(seed), pad=pad)
    scale = np.sqrt(max(k, 1)) * 4 + 1
    np.testing.assert_allclose(out[:, :n], want, rtol=0, atol=1e-5 * scale)
    np.testing.assert_array_equal(out[:, n:], c[:, n:])  # columns past n belong to someone else


@pytest.mark.parametrize("ta,tb", [(NO_TRANS, NO_TRANS), (NO_TRANS, TRANS), (TRANS, NO_TRANS)])
def test_beta_zero_ignores_what_c_held(ta, tb):
    # A fresh output buffer may hold NaN: beta = 0 must overwrite it, never multiply it.
    out, want, _ = _run(ta, tb, 13, 70, 300, 0.0, np.random.default_rng(1), c_fill=np.nan)
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-3)


def test_nan_and_inf_in_the_operands_propagate():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((9, 40)).astype(np.float32)
    b = rng.standard_normal((40, 35)).astype(np.float32)
    a[3, 7], b[5, 34] = np.nan, np.inf
    c = np.zeros((9, 35), np.float32)
    sgemm(NO_TRANS, NO_TRANS, 9, 35, 40, a.ctypes.data, 40, b.ctypes.data, 35, np.float32(0),
          c.ctypes.data, 35)
    want = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_array_equal(np.isnan(c), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(c), np.isinf(want))


def _tree(m, n, k, L, g, x, pad=0):
    """sgemm_tree on g (k x m, read as A = g^T) and x (k x n): C (m x n), leading dim n + pad."""
    c = np.full((m, n + pad), 7.0, np.float32)
    sgemm_tree(m, n, k, L, g.ctypes.data, 1, g.shape[1], x.ctypes.data, x.shape[1], c.ctypes.data,
               c.shape[1])
    return c


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 3 * MR + 1), n=st.integers(1, 3 * NR + 3), k=st.integers(0, 300),
       pad=st.integers(0, 3), seed=st.integers(0, 2**16))
def test_tree_gemm_sums_rows_in_the_tree_order(m, n, k, pad, seed):
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((k, m + pad)).astype(np.float32)
    x = rng.standard_normal((k, n + pad)).astype(np.float32)
    L = leaf_stride(k)
    c = _tree(m, n, k, L, g, x, pad)
    want = g[:, :m].T.astype(np.float64) @ x[:, :n].astype(np.float64)
    np.testing.assert_allclose(c[:, :n], want, rtol=0, atol=1e-5 * (np.sqrt(max(k, 1)) * 4 + 1))
    np.testing.assert_array_equal(c[:, n:], 7.0)  # columns past n untouched
    if k % 2 == 0 and L > 1:  # the top of the tree: even rows + odd rows, bitwise
        half = [_tree(m, n, k // 2, L // 2, np.ascontiguousarray(g[q::2]), np.ascontiguousarray(x[q::2]))
                for q in (0, 1)]
        np.testing.assert_array_equal(half[0][:, :n] + half[1][:, :n], c[:, :n])


def test_tree_gemm_with_one_leaf_is_the_plain_gemm():
    rng = np.random.default_rng(3)
    g, x = rng.standard_normal((13, 40)).astype(np.float32), rng.standard_normal((13, 70)).astype(np.float32)
    c = np.empty((40, 70), np.float32)
    sgemm(TRANS, NO_TRANS, 40, 70, 13, g.ctypes.data, 40, x.ctypes.data, 70, np.float32(0), c.ctypes.data, 70)
    np.testing.assert_array_equal(_tree(40, 70, 13, 1, g, x), c)
