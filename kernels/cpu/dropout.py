"""Inverted dropout with the counter-based RNG of kernels/reference/dropout.py, in Numba.

Element i draws from counter offset + i + 1 alone, so the parallel loop may split the array
any way it likes and still produce the reference's mask bit for bit.
"""
import numpy as np
from numba import njit, prange, uint64

from ._alloc import empty


@njit(cache=True, inline="always")
def _draw(seed, counter):
    # uint64 arithmetic wraps modulo 2**64, exactly as the formula asks
    z = seed * uint64(0x9E3779B97F4A7C15) + counter * uint64(0xD1B54A32D192ED03)
    z = (z ^ (z >> uint64(30))) * uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> uint64(27))) * uint64(0x94D049BB133111EB)
    z = z ^ (z >> uint64(31))
    return (z >> uint64(11)) * (2.0 ** -53)  # 53 bits: exact in float64


@njit(parallel=True, cache=True)
def _uniform(n, seed, offset):
    out = np.empty(n, dtype=np.float64)
    for i in prange(n):
        out[i] = _draw(seed, offset + uint64(i) + uint64(1))
    return out


@njit(parallel=True, cache=True)
def _forward(x, p, scale, seed, offset, y, mask):
    f = x.ravel()
    for i in prange(f.size):
        keep = _draw(seed, offset + uint64(i) + uint64(1)) >= p
        mask[i] = keep
        # multiply (not select) so a dropped NaN/inf stays NaN, as x * mask * scale gives
        y[i] = f[i] * mask[i] * scale
    return y, mask


@njit(parallel=True, cache=True)
def _backward(gy, mask, scale, out):
    g, m = gy.ravel(), mask.ravel()
    for i in prange(g.size):
        out[i] = g[i] * m[i] * scale
    return out


def _u64(v):
    return np.uint64(int(v) % 2**64)  # Python ints up to 2**64 - 1 (and numpy integers)


def uniform(n, seed, offset):
    """n float64 draws in [0, 1) from counters offset+1 ... offset+n."""
    return _uniform(int(n), _u64(seed), _u64(offset))


def dropout_forward(x, p, seed, offset):
    # 1-D views: one compiled signature per dtype, not one per (dtype, ndim)
    y, mask = _forward(x.reshape(-1), float(p), x.dtype.type(1 / (1 - p)), _u64(seed), _u64(offset),
                       empty(x.size, x.dtype), empty(x.size, np.uint8))
    return y.reshape(x.shape), mask.reshape(x.shape)


def dropout_backward(gy, mask, p):
    return _backward(gy.reshape(-1), mask.reshape(-1), gy.dtype.type(1 / (1 - p)),
                     empty(gy.size, gy.dtype)).reshape(gy.shape)
