"""Batch normalisation as Numba loops (same contract and formulas as
kernels/reference/batchnorm.py). Channels are independent: `prange` over C; inside, the N*L
values of a channel are read in order with float64 accumulators. Two passes for the statistics
(mean, then centred squares) so the variance does not cancel catastrophically."""
import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def _stats(x, mean, var):
    n, c, l = x.shape
    for ch in prange(c):
        s = 0.0
        for i in range(n):
            for j in range(l):
                s += x[i, ch, j]
        mu = s / (n * l)
        q = 0.0
        for i in range(n):
            for j in range(l):
                d = x[i, ch, j] - mu
                q += d * d
        mean[ch] = mu
        var[ch] = q / (n * l)


def batch_norm_stats(x):
    mean = np.empty(x.shape[1])
    var = np.empty(x.shape[1])
    _stats(x, mean, var)
    return mean, var


@njit(cache=True, parallel=True)
def _forward(x, scale, shift, y):
    n, c, l = x.shape
    for ch in prange(c):
        a, b = scale[ch], shift[ch]
        for i in range(n):
            for j in range(l):
                y[i, ch, j] = x[i, ch, j] * a + b


def batch_norm_forward(x, mean, invstd, weight, bias):
    scale = (invstd * weight).astype(x.dtype)
    shift = (bias - mean * invstd * weight).astype(x.dtype)
    y = np.empty_like(x)
    _forward(x, scale, shift, y)
    return y


@njit(cache=True, parallel=True)
def _backward(gy, x, mean, invstd, weight, training, gx, gw, gb):
    n, c, l = x.shape
    m = n * l
    for ch in prange(c):
        mu, inv = mean[ch], invstd[ch]
        sb = 0.0
        sw = 0.0
        for i in range(n):
            for j in range(l):
                g = gy[i, ch, j]
                sb += g
                sw += g * (x[i, ch, j] - mu) * inv
        gb[ch], gw[ch] = sb, sw
        k = weight[ch] * inv
        for i in range(n):
            for j in range(l):
                if training:
                    xhat = (x[i, ch, j] - mu) * inv
                    gx[i, ch, j] = k / m * (m * gy[i, ch, j] - sb - xhat * sw)
                else:
                    gx[i, ch, j] = gy[i, ch, j] * k


def batch_norm_backward(gy, x, mean, invstd, weight, training):
    gx = np.empty_like(x)
    gw = np.empty(x.shape[1])
    gb = np.empty(x.shape[1])
    _backward(gy, x, mean, invstd, weight, bool(training), gx, gw, gb)
    return gx, gw, gb
