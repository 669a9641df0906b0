"""Innermost loops over 1-D slices, written so LLVM vectorises them.

Numba wraps a possibly negative index (`a[i - p]`) with a sign test that stops vectorisation;
a counter that starts at 0 over a slice taken beforehand has no such test. Callers slice first
(`dst[x0:x1]`, `src[off:off + n]`) and hand the slices to these loops.
"""
from numba import njit


@njit(cache=True, inline="always")
def copy(dst, src):
    for q in range(dst.shape[0]):
        dst[q] = src[q]


@njit(cache=True, inline="always")
def copy_add(dst, src, c):
    for q in range(dst.shape[0]):
        dst[q] = src[q] + c


@njit(cache=True, inline="always")
def add_scalar(dst, c):
    for q in range(dst.shape[0]):
        dst[q] += c


@njit(cache=True, inline="always")
def add(dst, src):
    for q in range(dst.shape[0]):
        dst[q] += src[q]


@njit(cache=True, inline="always")
def axpy(dst, a, src):
    """dst += a * src"""
    for q in range(dst.shape[0]):
        dst[q] += a * src[q]


@njit(cache=True, fastmath={"reassoc", "contract"})
def dot(a, b):
    """sum(a * b) in the arrays' dtype; reassociation lets it run in vector lanes (NaN still
    propagates: only the order of the additions is free)."""
    acc = a.dtype.type(0)
    for q in range(a.shape[0]):
        acc += a[q] * b[q]
    return acc


@njit(cache=True, fastmath={"reassoc", "contract"})
def total(a):
    """sum(a) accumulated in float64."""
    acc = 0.0
    for q in range(a.shape[0]):
        acc += a[q]
    return acc
