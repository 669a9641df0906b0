"""sparse compiled with Numba: the same contract as kernels/reference/sparse.py.

One output row per work item (prange over rows, or over (sample, row) for a conv batch): the
row starts as the bias and every stored weight adds value * (one row of the activations), a
vectorised axpy over the N contiguous columns. The weight is read once per call, the
activations once per stored entry (from cache when they fit): the kernel moves
nnz * (value + index) bytes of weight, which is what the roofline in benchmarks/roofline.py
models. Conv builds im2col columns for a chunk of samples at a time (at most CHUNK_BYTES).
"""
import numpy as np
from numba import njit, prange

from . import _vec
from .conv import im2col

CHUNK_BYTES = 32 * 2**20


@njit(cache=True, inline="always")
def _row(indptr, indices, values, x, bias, has_bias, m, out):
    start = bias[m] if has_bias else out.dtype.type(0)
    for q in range(out.shape[0]):
        out[q] = start
    for j in range(indptr[m], indptr[m + 1]):
        _vec.axpy(out, values[j], x[indices[j]])


@njit(parallel=True, cache=True)
def _spmm(indptr, indices, values, x, bias, has_bias, y):
    """y (M, N) = W @ x (K, N) + bias."""
    for m in prange(y.shape[0]):
        _row(indptr, indices, values, x, bias, has_bias, m, y[m])
    return y


@njit(parallel=True, cache=True)
def _spmm_batch(indptr, indices, values, x, bias, has_bias, y):
    """y (B, M, N) = W @ x[b] (K, N) + bias for every b; work items are (b, m) pairs."""
    rows = y.shape[1]
    for item in prange(y.shape[0] * rows):
        b, m = item // rows, item % rows
        _row(indptr, indices, values, x[b], bias, has_bias, m, y[b, m])
    return y


def _bias(b, m, dtype):
    return (np.zeros(m, dtype=dtype), False) if b is None else (np.ascontiguousarray(b), True)


def csr_matmul(indptr, indices, values, x, b=None):
    m = indptr.shape[0] - 1
    bias, has_bias = _bias(b, m, x.dtype)
    x = np.ascontiguousarray(x)
    if x.ndim == 2:
        return _spmm(indptr, indices, values, x, bias, has_bias, np.empty((m, x.shape[1]), x.dtype))
    return _spmm_batch(indptr, indices, values, x, bias, has_bias,
                       np.empty((x.shape[0], m, x.shape[2]), x.dtype))


def sparse_linear_forward(x, indptr, indices, values, b):
    # (K, B): each stored weight then scales one contiguous row of B activations
    return np.ascontiguousarray(csr_matmul(indptr, indices, values, np.ascontiguousarray(x.T), b).T)


def sparse_conv2d_forward(x, indptr, indices, values, b, kernel_size, stride, padding, dilation):
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    n, c, h, w = x.shape
    oh, ow = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    m = indptr.shape[0] - 1
    bias, has_bias = _bias(b, m, x.dtype)
    y = np.empty((n, m, oh * ow), x.dtype)
    chunk = max(1, CHUNK_BYTES // (c * kh * kw * oh * ow * x.dtype.itemsize))
    for s in range(0, n, chunk):
        cols = im2col(x[s:s + chunk], kernel_size, stride, padding, dilation)
        _spmm_batch(indptr, indices, values, cols, bias, has_bias, y[s:s + chunk])
    return y.reshape(n, m, oh, ow)
