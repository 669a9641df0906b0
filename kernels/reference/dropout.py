"""Inverted dropout with a counter-based RNG (splitmix64's finaliser), in NumPy.

Element i of a call seeded (seed, offset) draws from the counter offset + i alone, so any
backend, thread layout or chunking gives the same mask.
"""
import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_STEP = np.uint64(0xD1B54A32D192ED03)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def uniform(n, seed, offset):
    """n float64 draws in [0, 1) from counters offset+1 ... offset+n (uint64, wrapping)."""
    counters = np.arange(1, n + 1, dtype=np.uint64) + np.uint64(offset % 2**64)
    s = np.array([seed % 2**64], dtype=np.uint64)  # arrays wrap silently; scalars warn
    z = s * _GOLDEN + counters * _STEP
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def dropout_forward(x, p, seed, offset):
    mask = (uniform(x.size, seed, offset) >= p).astype(np.uint8).reshape(x.shape)
    y = x * mask * x.dtype.type(1 / (1 - p))
    return y.astype(x.dtype), mask


def dropout_backward(gy, mask, p):
    return (gy * mask * gy.dtype.type(1 / (1 - p))).astype(gy.dtype)
