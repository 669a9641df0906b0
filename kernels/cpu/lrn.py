"""Local response normalisation as Numba loops (same contract and formulas as
kernels/reference/lrn.py, whose docstring derives the backward).

Each sample is independent: `prange` over N. Within a sample the window sum over channels is
kept as a running sum per pixel: moving from channel c to c+1 adds the channel that enters the
window and subtracts the one that leaves: the same work per element whatever the size. In NCHW the
pixels of one channel are contiguous while channel neighbours are H*W apart, so channels are the
middle loop and pixels the innermost, contiguous, vectorisable one. The running sum lives in a
float64 buffer so the add/subtract drift stays far below float32 resolution.

Non-finite values never enter the running sum (a NaN or an infinity that had entered would stay
after leaving the window and poison every later channel): it holds the finite terms, and counts
of the NaN, +inf and -inf terms in the window decide when the window's sum is NaN or infinite,
as a fresh sum (the reference's) would be.
"""
import numpy as np
from numba import njit, prange

from ._alloc import empty_like


# s ** -beta is one scalar libm call per element, several times slower than the rest of the kernel.
# AlexNet's beta = 0.75 is s^-1/2 * s^-1/4: two square roots, which vectorise. The beta test
# sits outside the pixel loop (inside, or in a helper, it stops float32 loops from vectorising),
# so each kernel spells its pixel loop twice. Other betas raise the stored (input-dtype) scale to
# an exponent of the same dtype: powf for float32 is twice as fast as pow.
@njit(cache=True, parallel=True)
def _forward(x, size, alpha, beta, k, y, scale):
    n_samples, channels, pixels = x.shape
    before, after = size // 2, (size - 1) // 2
    neg_beta = x.dtype.type(-beta)
    for n in prange(n_samples):
        acc = np.zeros(pixels)  # sum of the finite x^2 over channel c's window, per pixel
        nans = np.zeros(pixels, np.int64)  # NaN squares in the window
        infs = np.zeros(pixels, np.int64)  # +inf squares (a square is never -inf)
        for c in range(min(after + 1, channels)):  # channel 0 reads [0, after]
            for p in range(pixels):
                sq = x[n, c, p] * x[n, c, p]
                acc[p] += sq if np.isfinite(sq) else 0.0
                nans[p] += np.isnan(sq)
                infs[p] += np.isinf(sq)
        for c in range(channels):
            if beta == 0.75:
                for p in range(pixels):
                    window = acc[p] + (np.nan if nans[p] else (np.inf if infs[p] else 0.0))
                    s = k + alpha * window
                    scale[n, c, p] = s
                    root = np.sqrt(s)
                    y[n, c, p] = x[n, c, p] / (root * np.sqrt(root))
            else:
                for p in range(pixels):
                    window = acc[p] + (np.nan if nans[p] else (np.inf if infs[p] else 0.0))
                    scale[n, c, p] = k + alpha * window
                    y[n, c, p] = x[n, c, p] * scale[n, c, p] ** neg_beta
            enter, leave = c + 1 + after, c - before  # window of c+1 = window of c, shifted
            if enter < channels:
                for p in range(pixels):
                    sq = x[n, enter, p] * x[n, enter, p]
                    acc[p] += sq if np.isfinite(sq) else 0.0
                    nans[p] += np.isnan(sq)
                    infs[p] += np.isinf(sq)
            if leave >= 0:
                for p in range(pixels):
                    sq = x[n, leave, p] * x[n, leave, p]
                    acc[p] -= sq if np.isfinite(sq) else 0.0
                    nans[p] -= np.isnan(sq)
                    infs[p] -= np.isinf(sq)


@njit(cache=True, parallel=True)
def _backward(gy, x, y, scale, size, alpha, beta, gx):
    n_samples, channels, pixels = x.shape
    before, after = size // 2, (size - 1) // 2
    coef = 2.0 * alpha * beta
    neg_beta = x.dtype.type(-beta)
    for n in prange(n_samples):
        # Channel j feeds the channels in [j - after, j + before] (the mirrored window); acc
        # holds the sum of t[c] = gy[c] * y[c] / scale[c] over it, recomputing t on the way in
        # and out rather than storing a (C, H*W) buffer per thread.
        acc = np.zeros(pixels)  # finite terms only; the non-finite ones are counted, as forward
        nans = np.zeros(pixels, np.int64)
        pinfs = np.zeros(pixels, np.int64)
        ninfs = np.zeros(pixels, np.int64)
        for c in range(min(before + 1, channels)):  # channel 0 is read by [0, before]
            for p in range(pixels):
                t = gy[n, c, p] * y[n, c, p] / scale[n, c, p]
                acc[p] += t if np.isfinite(t) else 0.0
                nans[p] += np.isnan(t)
                pinfs[p] += t == np.inf
                ninfs[p] += t == -np.inf
        for j in range(channels):
            if beta == 0.75:
                for p in range(pixels):
                    window = acc[p] + (np.nan if nans[p] or (pinfs[p] and ninfs[p]) else
                                       (np.inf if pinfs[p] else (-np.inf if ninfs[p] else 0.0)))
                    root = np.sqrt(scale[n, j, p])
                    gx[n, j, p] = gy[n, j, p] / (root * np.sqrt(root)) - coef * x[n, j, p] * window
            else:
                for p in range(pixels):
                    window = acc[p] + (np.nan if nans[p] or (pinfs[p] and ninfs[p]) else
                                       (np.inf if pinfs[p] else (-np.inf if ninfs[p] else 0.0)))
                    gx[n, j, p] = gy[n, j, p] * scale[n, j, p] ** neg_beta - coef * x[n, j, p] * window
            enter, leave = j + 1 + before, j - after
            if enter < channels:
                for p in range(pixels):
                    t = gy[n, enter, p] * y[n, enter, p] / scale[n, enter, p]
                    acc[p] += t if np.isfinite(t) else 0.0
                    nans[p] += np.isnan(t)
                    pinfs[p] += t == np.inf
                    ninfs[p] += t == -np.inf
            if leave >= 0:
                for p in range(pixels):
                    t = gy[n, leave, p] * y[n, leave, p] / scale[n, leave, p]
                    acc[p] -= t if np.isfinite(t) else 0.0
                    nans[p] -= np.isnan(t)
                    pinfs[p] -= t == np.inf
                    ninfs[p] -= t == -np.inf


def lrn_forward(x, size, alpha, beta, k):
    n, c, h, w = x.shape
    y = empty_like(x)
    scale = empty_like(x)
    _forward(x.reshape(n, c, h * w), size, float(alpha), float(beta), float(k),
             y.reshape(n, c, h * w), scale.reshape(n, c, h * w))
    return y, scale


def lrn_backward(gy, x, y, scale, size, alpha, beta):
    n, c, h, w = x.shape
    gx = empty_like(x)
    shape3 = (n, c, h * w)
    _backward(gy.reshape(shape3), x.reshape(shape3), y.reshape(shape3), scale.reshape(shape3),
              size, float(alpha), float(beta), gx.reshape(shape3))
    return gx
