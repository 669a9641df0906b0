"""sparse kernels (CSR weight x dense activations), both flavours, against the dense product
for drawn shapes and sparsities: float64 to 1e-12, float32 to 1e-5."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinyconv.kernels.cpu import sparse as cpu
from tinyconv.kernels.reference import conv as ref_conv
from tinyconv.kernels.reference import sparse as ref
from tinyconv.sparse import CSRMatrix

FLAVOURS = [ref, cpu]


def close(a, b, scale):
    assert a.dtype == b.dtype and a.shape == b.shape
    tol = 1e-12 if b.dtype == np.float64 else 1e-5
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(scale, 1.0))


def pruned(rng, shape, sparsity, dtype):
    w = rng.standard_normal(shape).astype(dtype)
    w[rng.random(shape) < sparsity] = 0
    if sparsity > 0 and shape[0] > 1:
        w[rng.integers(shape[0])] = 0          # an empty row, on purpose
    return w


sparsities = st.sampled_from([0.0, 0.5, 0.8, 0.9, 0.95, 0.98, 1.0])
dtypes = st.sampled_from([np.float32, np.float64])


@given(st.integers(1, 40), st.integers(1, 60), st.integers(1, 33), sparsities, st.booleans(),
       dtypes, st.integers(0, 2**32 - 1))
def test_linear_equals_dense(batch, k, m, sparsity, with_bias, dtype, seed):
    rng = np.random.default_rng(seed)
    w = pruned(rng, (m, k), sparsity, dtype)
    x = rng.standard_normal((batch, k)).astype(dtype)
    b = rng.standard_normal(m).astype(dtype) if with_bias else None
    csr = CSRMatrix.from_dense(w)
    dense = x @ w.T + (0 if b is None else b)
    for kern in FLAVOURS:
        close(kern.sparse_linear_forward(x, csr.indptr, csr.indices, csr.values, b), dense, k)


@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 4), st.integers(1, 3),
       st.tuples(st.integers(1, 3), st.integers(1, 3)), st.tuples(st.integers(1, 2), st.integers(1, 2)),
       st.tuples(st.integers(0, 2), st.integers(0, 2)), st.tuples(st.integers(1, 2), st.integers(1, 2)),
       sparsities, st.booleans(), dtypes, st.integers(0, 2**32 - 1))
def test_conv_equals_dense(n, groups, cg, og, kernel, stride, padding, dilation, sparsity,
                           with_bias, dtype, seed):
    rng = np.random.default_rng(seed)
    c, o = cg * groups, og * groups
    h = dilation[0] * (kernel[0] - 1) + 1 + int(rng.integers(0, 5))
    wd = dilation[1] * (kernel[1] - 1) + 1 + int(rng.integers(0, 5))
    x = rng.standard_normal((n, c, h, wd)).astype(dtype)
    w = pruned(rng, (o, cg) + kernel, sparsity, dtype)
    b = rng.standard_normal(o).astype(dtype) if with_bias else None
    dense = ref_conv.conv2d_forward(x, w, b, stride, padding, dilation, groups, "im2col")
    csr = CSRMatrix.from_dense(w.reshape(o, -1), groups=groups)
    for kern in FLAVOURS:
        got = kern.sparse_conv2d_forward(x, csr.indptr, csr.indices, csr.values, b, kernel,
                                         stride, padding, dilation)
        close(got, dense, cg * kernel[0] * kernel[1])


@pytest.mark.parametrize("kern", FLAVOURS, ids=["reference", "cpu"])
def test_csr_matmul_batched(kern, rng):
    w = pruned(rng, (7, 11), 0.7, np.float64)
    csr = CSRMatrix.from_dense(w)
    x = rng.standard_normal((3, 11, 5))
    b = rng.standard_normal(7)
    close(kern.csr_matmul(csr.indptr, csr.indices, csr.values, x, b), w @ x + b[:, None], 11)
    close(kern.csr_matmul(csr.indptr, csr.indices, csr.values, x[1]), w @ x[1], 11)
