"""Element-wise losses: mse_loss, l1_loss and binary_cross_entropy_with_logits, with PyTorch's
signatures, reductions and gradients (including the target's, when it requires grad)."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function, Tensor
from . import _checks as C
from .basic import unbroadcast
from .loss import _check_reduction

__all__ = ["mse_loss", "l1_loss", "binary_cross_entropy_with_logits"]


def _pair(input, target, op, reduction):
    x = C.as_tensor(input, "input", op)
    t = C.as_tensor(target, "target", op)
    C.check_float(x, "input", op)
    C.check_float(t, "target", op)
    _check_reduction(reduction, op)
    if x.shape != t.shape:
        raise ValueError(f"{op}: target shape {t.shape} must equal input shape {x.shape}")
    return x, t


def _reduce(losses, reduction):
    return losses.mean() if reduction == "mean" else losses.sum() if reduction == "sum" else losses


def mse_loss(input, target, reduction="mean"):
    """(input - target)^2, reduced."""
    x, t = _pair(input, target, "mse_loss", reduction)
    d = x - t
    return _reduce(d * d, reduction)


def l1_loss(input, target, reduction="mean"):
    """|input - target|, reduced; the gradient at a tie is 0 (sign(0), as in PyTorch)."""
    x, t = _pair(input, target, "l1_loss", reduction)
    return _reduce((x - t).abs(), reduction)


class BCEWithLogits(Function):
    """l = (1 - y) x + (1 + (pw - 1) y) softplus(-x), softplus(z) = max(z, 0) + log1p(exp(-|z|)):
    finite for any logit. dl/dx = (1 - y) - (1 + (pw - 1) y) sigmoid(-x),
    dl/dy = -x + (pw - 1) softplus(-x)."""

    @staticmethod
    def forward(ctx, x, y, pos_weight):
        xp = backend.array_module(x)
        sp = xp.maximum(-x, 0) + xp.log1p(xp.exp(-xp.abs(x)))
        lw = 1 + (pos_weight - 1) * y
        ctx.save_for_backward(x, y, pos_weight, sp, lw)
        return (1 - y) * x + lw * sp

    @staticmethod
    def backward(ctx, g):
        x, y, pw, sp, lw = ctx.saved
        xp = backend.array_module(x)
        sig_neg = xp.exp(-xp.logaddexp(0, x))  # sigmoid(-x) without overflow
        gx = g * ((1 - y) - lw * sig_neg) if ctx.needs_input_grad[0] else None
        gy = g * (-x + (pw - 1) * sp) if ctx.needs_input_grad[1] else None
        gp = unbroadcast(g * y * sp, pw.shape) if ctx.needs_input_grad[2] else None
        return gx, gy, gp


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",
                                     pos_weight=None):
    """Sigmoid + binary cross-entropy in one stable step. weight broadcasts to the input and
    scales each element; pos_weight (broadcast along the last dim) scales the positive term."""
    op = "binary_cross_entropy_with_logits"
    x, t = _pair(input, target, op, reduction)
    for name, v in (("weight", weight), ("pos_weight", pos_weight)):
        if v is not None:
            C.as_tensor(v, name, op)
            try:
                np.broadcast_shapes(v.shape, x.shape)
            except ValueError:
                raise ValueError(f"{op}: {name} of shape {v.shape} does not broadcast to the "
                                 f"input's shape {x.shape}") from None
    pw = pos_weight if pos_weight is not None else Tensor(backend.array_module(x.data).ones((), x.dtype))
    losses = BCEWithLogits.apply(x, t, pw)
    if weight is not None:
        losses = losses * weight
    return _reduce(losses, reduction)
