"""Integer inference kernels (int8 x int8 -> int32), compiled with Numba; same contract as
kernels/reference/quantized.py. Every kernel runs `prange` over the batch; the inner loops walk
contiguous int32 rows, which LLVM vectorises (integer sums are associative, no fastmath needed).
"""
import numpy as np
from numba import njit, prange


def _shifted(x, zero_point, padding):
    """x - zero_point as int32, zero-padded: padding holds real 0."""
    ph, pw = padding
    n, c, h, w = x.shape
    xs = np.zeros((n, c, h + 2 * ph, w + 2 * pw), np.int32)
    xs[:, :, ph:ph + h, pw:pw + w] = x
    xs[:, :, ph:ph + h, pw:pw + w] -= np.int32(zero_point)
    return xs


@njit(parallel=True, cache=True)
def _conv(xs, w, bias, kh, kw, sh, sw, out):
    """One sample per thread: its columns (C*kh*kw rows of OH*OW shifted inputs), then every
    output row as a sum of weight * column row: long contiguous int32 loops that vectorise."""
    n_batch, n_in = xs.shape[0], xs.shape[1]
    n_out, n_k = w.shape
    oh_n, ow_n = out.shape[2], out.shape[3]
    for n in prange(n_batch):
        cols = np.empty((n_k, oh_n * ow_n), np.int32)
        r = 0
        for c in range(n_in):
            for i in range(kh):
                for j in range(kw):
                    dst = cols[r]
                    for oh in range(oh_n):
                        src = xs[n, c, oh * sh + i]
                        for ow in range(ow_n):
                            dst[oh * ow_n + ow] = src[ow * sw + j]
                    r += 1
        acc = out[n].reshape(n_out, oh_n * ow_n)
        for o in range(n_out):
            row = acc[o]
            row[:] = bias[o]
            for r in range(n_k):
                wv = w[o, r]
                if wv != 0:  # pruned or tiny weights cost nothing
                    col = cols[r]
                    for k in range(row.size):
                        row[k] += wv * col[k]
    return out


def conv2d_int8(x, x_zero_point, w, bias, stride, padding):
    """x int8 (N, C, H, W), w int8 (O, C, kh, kw), bias int32 (O,) or None -> int32 (N, O, OH, OW)."""
    xs = _shifted(x, x_zero_point, padding)
    (sh, sw), (kh, kw) = stride, w.shape[2:]
    oh = (xs.shape[2] - kh) // sh + 1
    ow = (xs.shape[3] - kw) // sw + 1
    b = np.zeros(w.shape[0], np.int32) if bias is None else np.ascontiguousarray(bias, np.int32)
    out = np.empty((x.shape[0], w.shape[0], oh, ow), np.int32)
    w2 = np.ascontiguousarray(w.reshape(w.shape[0], -1), np.int32)  # rows ordered (c, i, j) like the columns
    return _conv(xs, w2, b, kh, kw, sh, sw, out)


@njit(parallel=True, cache=True)
def _linear(xs, w, bias, out):
    for m in prange(xs.shape[0]):
        row = xs[m]
        for n in range(w.shape[0]):
            wr = w[n]
            acc = np.int32(0)
            for k in range(row.size):
                acc += row[k] * wr[k]
            out[m, n] = acc + bias[n]
    return out


def linear_int8(x, x_zero_point, w, bias):
    """x int8 (M, K), w int8 (N, K), bias int32 (N,) or None -> int32 (M, N)."""
    xs = x.astype(np.int32) - np.int32(x_zero_point)
    b = np.zeros(w.shape[0], np.int32) if bias is None else np.ascontiguousarray(bias, np.int32)
    out = np.empty((x.shape[0], w.shape[0]), np.int32)
    return _linear(xs, np.ascontiguousarray(w, np.int32), b, out)


@njit(parallel=True, cache=True)
def _requantize(acc, m, s, zero_point, qmin, qmax, out):
    for n in prange(acc.shape[0]):
        for c in range(acc.shape[1]):
            mc, sc = m[c], s[c]
            half = np.int64(1) << (sc - 1)
            src, dst = acc[n, c], out[n, c]
            for k in range(src.size):
                v = ((np.int64(src[k]) * mc + half) >> sc) + zero_point
                dst[k] = qmin if v < qmin else (qmax if v > qmax else v)
    return out


def requantize(acc, multiplier, shift, zero_point, qmin, qmax):
    """int32 acc (N, C, ...) -> int8: clamp(zero_point + ((acc*M0[c] + 2**(s[c]-1)) >> s[c]), qmin, qmax)."""
    a = acc.reshape(acc.shape[0], acc.shape[1], -1)
    out = np.empty(a.shape, np.int8)
    _requantize(a, np.ascontiguousarray(multiplier, np.int64), np.ascontiguousarray(shift, np.int64),
                np.int64(zero_point), np.int64(qmin), np.int64(qmax), out)
    return out.reshape(acc.shape)


@njit(parallel=True, cache=True)
def _max_pool(x, kh, kw, sh, sw, out):
    for n in prange(x.shape[0]):
        for c in range(x.shape[1]):
            for oh in range(out.shape[2]):
                for ow in range(out.shape[3]):
                    m = x[n, c, oh * sh, ow * sw]
                    for i in range(kh):
                        for j in range(kw):
                            v = x[n, c, oh * sh + i, ow * sw + j]
                            if v > m:
                                m = v
                    out[n, c, oh, ow] = m
    return out


def max_pool2d_int8(x, kernel_size, stride):
    """int8 (N, C, H, W) -> int8 max over windows (no padding)."""
    (kh, kw), (sh, sw) = kernel_size, stride
    oh = (x.shape[2] - kh) // sh + 1
    ow = (x.shape[3] - kw) // sw + 1
    out = np.empty((x.shape[0], x.shape[1], oh, ow), np.int8)
    return _max_pool(x, kh, kw, sh, sw, out)
