"""Inverted dropout on CuPy arrays through dropout.cu, drawing the same counter-based numbers
as the CPU flavours for the same (seed, offset) (see kernels/README.md, "dropout")."""
from __future__ import annotations

import numpy as np

from . import _cuda

_kernels = _cuda.Kernels("dropout", ("dropout_forward", "dropout_backward"), plain=("dropout_uniform",))
NAME_EXPRESSIONS = _kernels.name_expressions


def uniform(n, seed, offset):
    """n float64 draws in [0, 1) from counters offset+1 ... offset+n."""
    cp = _cuda.cupy()
    u = cp.empty((int(n),), dtype=cp.float64)
    if u.size:
        _kernels.launch("dropout_uniform", None, (_cuda.blocks(u.size),), (_cuda.THREADS,),
                        (u, *_cuda.i64(u.size), _cuda.u64(seed), _cuda.u64(offset)))
    return u


def dropout_forward(x, p, seed, offset):
    cp = _cuda.cupy()
    y = cp.empty_like(x)
    mask = cp.empty(x.shape, dtype=cp.uint8)
    if x.size:
        _kernels.launch("dropout_forward", x.dtype, (_cuda.blocks(x.size),), (_cuda.THREADS,),
                        (x, y, mask, *_cuda.i64(x.size), _cuda.u64(seed), _cuda.u64(offset),
                         np.float64(p), x.dtype.type(1 / (1 - p))))
    return y, mask


def dropout_backward(gy, mask, p):
    cp = _cuda.cupy()
    gx = cp.empty_like(gy)
    if gy.size:
        _kernels.launch("dropout_backward", gy.dtype, (_cuda.blocks(gy.size),), (_cuda.THREADS,),
                        (gy, mask, gx, *_cuda.i64(gy.size), gy.dtype.type(1 / (1 - p))))
    return gx
