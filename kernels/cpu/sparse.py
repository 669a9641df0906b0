"""sparse compiled with Numba: the same contract as kernels/reference/sparse.py.

One output row per work item (prange over rows, or over (sample, row) for a conv batch): the
row starts as the bias and every stored weight adds value * (one row of the activations), a
vectorised axpy over the N contiguous columns. The weight is read once per call, the
activations once per stored entry (from cache when they fit): the kernel moves
nnz * (value + index) bytes of weight, which is what the roofline in benchmarks/roofline.py
models. Conv is direct (no im2col columns): each stored weight (o; c, i, j) adds value x the
input plane c shifted by its tap into output plane o, one row segment (an axpy) at a time.
"""
import numpy as np
from numba import njit, prange

from . import _vec


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


@njit(parallel=True, cache=True)
def _direct_conv(xpad, indptr, indices, values, bias, has_bias, kh, kw, sh, sw, dh, dw, y):
    """y (N, M, OH, OW): for every stored weight (o; c, i, j), out[o] += value * the window of
    input plane c shifted by tap (i, j); one (sample, output channel) plane per work item."""
    rows, oh, ow = y.shape[1], y.shape[2], y.shape[3]
    for item in prange(y.shape[0] * rows):
        b, o = item // rows, item % rows
        out = y[b, o]
        start = bias[o] if has_bias else y.dtype.type(0)
        for r in range(oh):
            for q in range(ow):
                out[r, q] = start
        for e in range(indptr[o], indptr[o + 1]):
            k = indices[e]
            c, t = k // (kh * kw), k % (kh * kw)
            i, j = t // kw, t % kw
            v = values[e]
            for r in range(oh):
                src = xpad[b, c, r * sh + i * dh]
                if sw == 1:
                    _vec.axpy(out[r], v, src[j * dw:j * dw + ow])
                else:
                    _vec.axpy(out[r], v, src[j * dw:j * dw + sw * (ow - 1) + 1:sw])
    return y


def sparse_conv2d_forward(x, indptr, indices, values, b, kernel_size, stride, padding, dilation):
    # direct: no im2col columns, so the memory traffic is the CSR weight, the input and the
    # output, and the work scales with the stored weights alone
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    n, c, h, w = x.shape
    oh, ow = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    m = indptr.shape[0] - 1
    bias, has_bias = _bias(b, m, x.dtype)
    xpad = np.ascontiguousarray(x) if ph == pw == 0 else np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    return _direct_conv(xpad, indptr, indices, values, bias, has_bias, kh, kw, sh, sw, dh, dw,
                        np.empty((n, m, oh, ow), x.dtype))
