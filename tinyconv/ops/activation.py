"""relu, leaky_relu, tanh, sigmoid: Functions over the activation kernels.

No `inplace=` argument: tinyconv never overwrites an input, because backward may still need it.
`Tensor.relu()`, `.tanh()` and `.sigmoid()` are the same functions as methods.
"""
from __future__ import annotations

import numbers

from .. import backend
from ..autograd import Function
from . import _checks as C

__all__ = ["relu", "leaky_relu", "tanh", "sigmoid"]


def _contiguous(g):
    """C-contiguous, keeping the shape (ascontiguousarray turns a 0-d array into shape (1,))."""
    return backend.array_module(g).ascontiguousarray(g).reshape(g.shape)


def _kernels(a):
    return backend.kernels("activation", a)


class _OutputSaving(Function):
    """y = f(x) whose gradient needs only y: relu, tanh, sigmoid share this shape."""
    kernel = ""

    @classmethod
    def forward(cls, ctx, x):
        y = getattr(_kernels(x), f"{cls.kernel}_forward")(x)
        ctx.save_for_backward(y)
        return y

    @classmethod
    def backward(cls, ctx, g):
        (y,) = ctx.saved
        return getattr(_kernels(g), f"{cls.kernel}_backward")(_contiguous(g), y)


class ReLU(_OutputSaving):
    kernel = "relu"


class Tanh(_OutputSaving):
    kernel = "tanh"


class Sigmoid(_OutputSaving):
    kernel = "sigmoid"


class LeakyReLU(Function):
    @staticmethod
    def forward(ctx, x, negative_slope=0.01):
        ctx.save_for_backward(x)
        ctx.slope = negative_slope
        return _kernels(x).leaky_relu_forward(x, negative_slope)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        g = _contiguous(g)
        return _kernels(g).leaky_relu_backward(g, x, ctx.slope)


def _prepare(input, op):
    x = C.as_tensor(input, "input", op)
    C.check_float(x, "input", op)
    return C.contiguous_tensor(x)


def relu(input):
    """max(x, 0); the gradient at exactly 0 is 0 (PyTorch's choice)."""
    return ReLU.apply(_prepare(input, "relu"))


def leaky_relu(input, negative_slope=0.01):
    """x for x > 0, negative_slope * x otherwise."""
    if isinstance(negative_slope, bool) or not isinstance(negative_slope, numbers.Real):
        raise TypeError(f"leaky_relu: negative_slope must be a number, got {negative_slope!r}")
    return LeakyReLU.apply(_prepare(input, "leaky_relu"), negative_slope=float(negative_slope))


def tanh(input):
    return Tanh.apply(_prepare(input, "tanh"))


def sigmoid(input):
    """1 / (1 + exp(-x)), computed without overflow for large |x|."""
    return Sigmoid.apply(_prepare(input, "sigmoid"))
