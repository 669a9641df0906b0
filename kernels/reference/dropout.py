"""Inverted dropout with a counter-based RNG (splitmix64's finaliser), in NumPy.

Element i of a call seeded (seed, offset) draws from the counter offset + i + 1 alone, so any
backend, thread layout or chunking gives the same mask, and a call of n elements at offset o
continues exactly where a call at offset o - k left off.
"""
import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_STEP = np.uint64(0xD1B54A32D192ED03)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def uniform(n, seed, offset):
    """n float64 draws in [0, 1) from counters offset+1 ... offset+n (uint64, wrapping)."""
    # uint64 *arrays* wrap silently on overflow (NumPy scalars would warn), so every value
    # below is an array; Python ints >= 2**63 go through np.uint64 without a detour via int64.
    counters = np.arange(1, int(n) + 1, dtype=np.uint64) + np.uint64(int(offset) % 2**64)
    seed = np.full(1, int(seed) % 2**64, dtype=np.uint64)
    z = seed * _GOLDEN + counters * _STEP
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53  # 53 bits: exact in float64


def dropout_forward(x, p, seed, offset):
    mask = (uniform(x.size, seed, offset) >= p).astype(np.uint8).reshape(x.shape)
    y = x * mask * x.dtype.type(1 / (1 - p))
    return y.astype(x.dtype, copy=False), mask


def dropout_backward(gy, mask, p):
    return (gy * mask * gy.dtype.type(1 / (1 - p))).astype(gy.dtype, copy=False)
