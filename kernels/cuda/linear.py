"""linear on CuPy arrays: the GEMMs go to cuBLAS (cupy.matmul), as DESIGN.md says of every GEMM;
the same contract as kernels/reference/linear.py."""
from __future__ import annotations

from . import _cuda


def linear_forward(x, w, b):
    y = x @ w.T
    if b is not None:
        y += b
    return y


def linear_backward(g, x, w, need_input_grad=True, need_weight_grad=True):
    cp = _cuda.cupy()
    gx = g @ w if need_input_grad else None
    gw = g.T @ x if need_weight_grad else None
    return gx, gw, g.sum(axis=0, dtype=cp.float64).astype(g.dtype)
