"""linear: y = x W^T + b, with PyTorch's (out_features, in_features) weight layout.

The kernels (kernels/*/linear.py) hand the GEMMs to the vendor BLAS; the Numba flavour splits
them over its own threads so BLAS never runs a second thread pool.
"""
from __future__ import annotations

import math

from .. import backend
from ..autograd import Function
from . import _checks as C

__all__ = ["linear"]


class Linear(Function):
    @staticmethod
    def forward(ctx, x, w, b=None):
        x2 = x.reshape(math.prod(x.shape[:-1]), x.shape[-1])  # every leading axis is a sample
        y = backend.kernels("linear", x).linear_forward(x2, w, b)
        ctx.save_for_backward(x2, w)
        ctx.x_shape = x.shape
        return y.reshape(x.shape[:-1] + (w.shape[0],))

    @staticmethod
    def backward(ctx, g):
        x2, w = ctx.saved
        need = ctx.needs_input_grad
        g2 = g.reshape(x2.shape[0], w.shape[0])
        gx, gw, gb = backend.kernels("linear", g).linear_backward(g2, x2, w, need[0], need[1])
        gx = gx.reshape(ctx.x_shape) if gx is not None else None
        if len(need) == 2:
            return gx, gw
        return gx, gw, (gb if need[2] else None)


def linear(input, weight, bias=None):
    """input (*, in_features), weight (out_features, in_features), bias (out_features,) or None;
    returns (*, out_features)."""
    op = "linear"
    x = C.as_tensor(input, "input", op)
    w = C.as_tensor(weight, "weight", op)
    C.check_float(x, "input", op)
    C.check_float(w, "weight", op)
    C.check_ndim(w, 2, "weight", op, "(out_features, in_features)")
    if x.ndim < 1 or x.shape[-1] != w.shape[1]:
        raise ValueError(f"{op}: input's last dimension must equal weight's in_features "
                         f"{w.shape[1]}; got input {x.shape}, weight {w.shape}")
    b = None
    if bias is not None:
        b = C.as_tensor(bias, "bias", op)
        C.check_float(b, "bias", op)
        if b.shape != (w.shape[0],):
            raise ValueError(f"{op}: bias must have shape ({w.shape[0]},) for weight {w.shape}, "
                             f"got {b.shape}")
    C.check_same_dtype(op, input=x, weight=w, bias=b)
    x = C.contiguous_tensor(x)
    if b is None:
        return Linear.apply(x, w)
    return Linear.apply(x, w, C.contiguous_tensor(b))
