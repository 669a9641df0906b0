"""Inverted dropout: kept units are scaled by 1/(1-p) in training, so eval is the identity.

The mask comes from the counter-based RNG in the dropout kernels, seeded from tinyconv's
global (seed, offset) stream: `tinyconv.manual_seed(n)` makes it repeatable, on every backend.
"""
from __future__ import annotations

from .. import backend, random
from ..autograd import Function
from . import _checks as C

__all__ = ["dropout"]


class Dropout(Function):
    @staticmethod
    def forward(ctx, x, p=0.5, seed=0, offset=0):
        y, mask = backend.kernels("dropout", x).dropout_forward(x, p, seed, offset)
        ctx.save_for_backward(mask)
        ctx.p = p
        return y

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved
        g = backend.array_module(g).ascontiguousarray(g)
        return backend.kernels("dropout", g).dropout_backward(g, mask, ctx.p)


def dropout(input, p=0.5, training=True):
    """Zero each element with probability p (training only), scaling the rest by 1/(1-p)."""
    x = C.as_tensor(input, "input", "dropout")
    C.check_float(x, "input", "dropout")
    p = C.check_probability(p, "p", "dropout")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0  # everything dropped; the gradient is zero too
    seed, offset = random.next_counter(x.numel())
    return Dropout.apply(C.contiguous_tensor(x), p=p, seed=seed, offset=offset)
