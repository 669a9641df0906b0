"""linear: y = x W^T + b, with PyTorch's (out_features, in_features) weight layout."""
from __future__ import annotations

from .. import backend
from ..autograd import Function
from . import _checks as C

__all__ = ["linear"]


class Linear(Function):
    @staticmethod
    def forward(ctx, x, w, b=None):
        xp = backend.array_module(x)
        x2 = x.reshape(-1, x.shape[-1])
        y = xp.matmul(x2, w.T)  # BLAS reads the transposed view directly
        if b is not None:
            y = backend.kernels("activation", y).bias_add(y, b)
        ctx.save_for_backward(x2, w)
        ctx.x_shape = x.shape
        ctx.has_bias = b is not None
        return y.reshape(x.shape[:-1] + (w.shape[0],))

    @staticmethod
    def backward(ctx, g):
        x2, w = ctx.saved
        xp = backend.array_module(g)
        g2 = g.reshape(-1, w.shape[0])
        gx = xp.matmul(g2, w).reshape(ctx.x_shape) if ctx.needs_input_grad[0] else None
        gw = xp.matmul(g2.T, x2)
        if not ctx.has_bias:
            return gx, gw
        return gx, gw, g2.sum(axis=0)


def linear(input, weight, bias=None):
    """input (*, in_features), weight (out_features, in_features), bias (out_features,)."""
    op = "linear"
    x = C.as_tensor(input, "input", op)
    w = C.as_tensor(weight, "weight", op)
    C.check_float(x, "input", op)
    C.check_float(w, "weight", op)
    C.check_ndim(w, 2, "weight", op, "(out_features, in_features)")
    if x.ndim < 1 or x.shape[-1] != w.shape[1]:
        raise ValueError(f"{op}: input's last dimension must equal weight's in_features "
                         f"{w.shape[1]}; input {x.shape}, weight {w.shape}")
    b = None
    if bias is not None:
        b = C.as_tensor(bias, "bias", op)
        C.check_float(b, "bias", op)
        if b.shape != (w.shape[0],):
            raise ValueError(f"{op}: bias must have shape ({w.shape[0]},) for weight {w.shape}, "
                             f"got {b.shape}")
    C.check_same_dtype(op, input=x, weight=w, bias=b)
    x = C.contiguous_tensor(x)
    return Linear.apply(x, w) if b is None else Linear.apply(x, w, b)
