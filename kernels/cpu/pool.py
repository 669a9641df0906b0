"""Pooling as Numba loops (same contract as kernels/reference/pool.py; see kernels/README.md).

Every (n, c) plane is independent, so each kernel runs `prange` over the N*C planes of a
(N*C, H, W) view and keeps one plane in cache at a time. Windows are clamped to the input instead
of padding it: max-pool padding is -inf and average-pool padding is 0, so a padded tap never
changes the result and can be skipped. Backward kernels scatter into their own plane only, which
is why they need no atomics.
"""
import numpy as np
from numba import njit, prange


def _out(n, k, s, p):
    return (n + 2 * p - k) // s + 1


# --- max ----------------------------------------------------------------------------------------
@njit(cache=True, parallel=True)
def _max_forward(x, kh, kw, sh, sw, ph, pw, y, argmax):
    planes, h, w = x.shape
    oh, ow = y.shape[1], y.shape[2]
    for p in prange(planes):
        for i in range(oh):
            hs = max(i * sh - ph, 0)
            he = min(i * sh - ph + kh, h)
            for j in range(ow):
                ws = max(j * sw - pw, 0)
                we = min(j * sw - pw + kw, w)
                best = x[p, hs, ws]
                idx = hs * w + ws
                for r in range(hs, he):
                    for q in range(ws, we):
                        v = x[p, r, q]
                        # strictly greater keeps the first maximum; the first NaN wins and stays
                        if v > best or (v != v and best == best):
                            best = v
                            idx = r * w + q
                y[p, i, j] = best
                argmax[p, i, j] = idx


@njit(cache=True, parallel=True)
def _max_backward(gy, argmax, gx):
    for p in prange(gx.shape[0]):
        gx[p, :] = 0
        for m in range(gy.shape[1]):
            gx[p, argmax[p, m]] += gy[p, m]


def max_pool2d_forward(x, kernel_size, stride, padding):
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    oh, ow = _out(h, kh, sh, ph), _out(w, kw, sw, pw)
    y = np.empty((n, c, oh, ow), dtype=x.dtype)
    argmax = np.empty((n, c, oh, ow), dtype=np.int64)
    _max_forward(x.reshape(n * c, h, w), kh, kw, sh, sw, ph, pw,
                 y.reshape(n * c, oh, ow), argmax.reshape(n * c, oh, ow))
    return y, argmax


def max_pool2d_backward(gy, argmax, x_shape):
    n, c, h, w = x_shape
    gx = np.empty(x_shape, dtype=gy.dtype)
    _max_backward(gy.reshape(n * c, -1), argmax.reshape(n * c, -1), gx.reshape(n * c, h * w))
    return gx


# --- average (count_include_pad=True) -----------------------------------------------------------
@njit(cache=True, parallel=True)
def _avg_forward(x, kh, kw, sh, sw, ph, pw, y):
    planes, h, w = x.shape
    oh, ow = y.shape[1], y.shape[2]
    area = kh * kw  # padded taps count: the divisor is the full window
    for p in prange(planes):
        for i in range(oh):
            hs = max(i * sh - ph, 0)
            he = min(i * sh - ph + kh, h)
            for j in range(ow):
                ws = max(j * sw - pw, 0)
                we = min(j * sw - pw + kw, w)
                total = 0.0
                for r in range(hs, he):
                    for q in range(ws, we):
                        total += x[p, r, q]
                y[p, i, j] = total / area


@njit(cache=True, parallel=True)
def _avg_backward(gy, kh, kw, sh, sw, ph, pw, gx):
    planes, h, w = gx.shape
    oh, ow = gy.shape[1], gy.shape[2]
    area = kh * kw
    for p in prange(planes):
        gx[p] = 0
        for i in range(oh):
            hs = max(i * sh - ph, 0)
            he = min(i * sh - ph + kh, h)
            for j in range(ow):
                ws = max(j * sw - pw, 0)
                we = min(j * sw - pw + kw, w)
                share = gy[p, i, j] / area
                for r in range(hs, he):
                    for q in range(ws, we):
                        gx[p, r, q] += share


def avg_pool2d_forward(x, kernel_size, stride, padding):
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    oh, ow = _out(h, kh, sh, ph), _out(w, kw, sw, pw)
    y = np.empty((n, c, oh, ow), dtype=x.dtype)
    _avg_forward(x.reshape(n * c, h, w), kh, kw, sh, sw, ph, pw, y.reshape(n * c, oh, ow))
    return y


def avg_pool2d_backward(gy, x_shape, kernel_size, stride, padding):
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    gx = np.empty(x_shape, dtype=gy.dtype)
    _avg_backward(gy.reshape(n * c, gy.shape[2], gy.shape[3]), kh, kw, sh, sw, ph, pw,
                  gx.reshape(n * c, h, w))
    return gx


# --- adaptive average ---------------------------------------------------------------------------
@njit(cache=True, inline="always")
def _bounds(i, n_in, n_out):
    """PyTorch's window for output i: [floor(i*n_in/n_out), ceil((i+1)*n_in/n_out))."""
    return (i * n_in) // n_out, ((i + 1) * n_in + n_out - 1) // n_out


@njit(cache=True, parallel=True)
def _adaptive_forward(x, y):
    planes, h, w = x.shape
    oh, ow = y.shape[1], y.shape[2]
    for p in prange(planes):
        for i in range(oh):
            hs, he = _bounds(i, h, oh)
            for j in range(ow):
                ws, we = _bounds(j, w, ow)
                total = 0.0
                for r in range(hs, he):
                    for q in range(ws, we):
                        total += x[p, r, q]
                y[p, i, j] = total / ((he - hs) * (we - ws))


@njit(cache=True, parallel=True)
def _adaptive_backward(gy, gx):
    planes, h, w = gx.shape
    oh, ow = gy.shape[1], gy.shape[2]
    for p in prange(planes):
        gx[p] = 0
        for i in range(oh):
            hs, he = _bounds(i, h, oh)
            for j in range(ow):
                ws, we = _bounds(j, w, ow)
                share = gy[p, i, j] / ((he - hs) * (we - ws))
                for r in range(hs, he):
                    for q in range(ws, we):
                        gx[p, r, q] += share


def adaptive_avg_pool2d_forward(x, output_size):
    n, c, h, w = x.shape
    oh, ow = output_size
    y = np.empty((n, c, oh, ow), dtype=x.dtype)
    _adaptive_forward(x.reshape(n * c, h, w), y.reshape(n * c, oh, ow))
    return y


def adaptive_avg_pool2d_backward(gy, x_shape, output_size):
    n, c, h, w = x_shape
    oh, ow = output_size
    gx = np.empty(x_shape, dtype=gy.dtype)
    _adaptive_backward(gy.reshape(n * c, oh, ow), gx.reshape(n * c, h, w))
    return gx
