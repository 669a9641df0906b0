"""log_softmax, softmax, cross_entropy (fused with log-softmax) and nll_loss."""
from __future__ import annotations

import numbers

import numpy as np

from .. import backend
from ..autograd import Function, Tensor
from . import _checks as C

__all__ = ["log_softmax", "softmax", "cross_entropy", "nll_loss"]

REDUCTIONS = ("mean", "sum", "none")


def _implicit_dim(ndim):
    return 0 if ndim in (0, 1, 3) else 1  # PyTorch's legacy rule for dim=None


class _RowFunction(Function):
    """Applies a row-wise kernel pair after moving `dim` last and flattening to 2-D."""
    kernel = ""

    @classmethod
    def _rows(cls, a, dim):
        xp = backend.array_module(a)
        moved = xp.moveaxis(a, dim, -1)
        return xp.ascontiguousarray(moved.reshape(-1, a.shape[dim])), moved.shape

    @classmethod
    def forward(cls, ctx, x, dim=1):
        xp = backend.array_module(x)
        rows, moved_shape = cls._rows(x, dim)
        y = getattr(backend.kernels("softmax", x), f"{cls.kernel}_forward")(rows)
        ctx.save_for_backward(y)
        ctx.dim, ctx.moved_shape = dim, moved_shape
        return xp.moveaxis(y.reshape(moved_shape), -1, dim)

    @classmethod
    def backward(cls, ctx, g):
        xp = backend.array_module(g)
        (y,) = ctx.saved
        rows, _ = cls._rows(g, ctx.dim)
        gx = getattr(backend.kernels("softmax", g), f"{cls.kernel}_backward")(rows, y)
        return xp.moveaxis(gx.reshape(ctx.moved_shape), -1, ctx.dim)


class LogSoftmax(_RowFunction):
    kernel = "log_softmax"


class Softmax(_RowFunction):
    kernel = "softmax"


def _dim(x, dim, op):
    if dim is None:
        dim = _implicit_dim(x.ndim)
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or not -max(x.ndim, 1) <= dim < max(x.ndim, 1):
        raise ValueError(f"{op}: dim {dim!r} is out of range for input of shape {x.shape}")
    return int(dim) % max(x.ndim, 1)


def log_softmax(input, dim=None):
    x = C.as_tensor(input, "input", "log_softmax")
    C.check_float(x, "input", "log_softmax")
    if x.ndim == 0:
        raise ValueError("log_softmax: input must have at least 1 dimension")
    return LogSoftmax.apply(x, dim=_dim(x, dim, "log_softmax"))


def softmax(input, dim=None):
    x = C.as_tensor(input, "input", "softmax")
    C.check_float(x, "input", "softmax")
    if x.ndim == 0:
        raise ValueError("softmax: input must have at least 1 dimension")
    return Softmax.apply(x, dim=_dim(x, dim, "softmax"))


class CrossEntropy(Function):
    """Per-sample losses (N,) from logits (N, C); the reduction happens outside."""

    @staticmethod
    def forward(ctx, logits, target, label_smoothing=0.0):
        k = backend.kernels("softmax", logits)
        loss, logp = k.cross_entropy_forward(logits, target, label_smoothing)
        ctx.save_for_backward(logp, target)
        ctx.eps = label_smoothing
        return loss

    @staticmethod
    def backward(ctx, g):
        logp, target = ctx.saved
        k = backend.kernels("softmax", g)
        return k.cross_entropy_backward(g, logp, target, ctx.eps), None


def _target(target, n_expected_shape, num_classes, op):
    if isinstance(target, Tensor):
        t = target.data
    elif hasattr(target, "dtype") and hasattr(target, "shape"):
        t = target
    else:
        raise TypeError(f"{op}: target must be an integer Tensor of class indices, got "
                        f"{type(target).__name__}")
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices, got dtype {t.dtype}")
    if tuple(t.shape) != n_expected_shape:
        raise ValueError(f"{op}: target shape {tuple(t.shape)} does not match the input: expected "
                         f"{n_expected_shape} class indices for logits of that batch")
    xp = backend.array_module(t)
    if t.size:
        lo, hi = int(t.min()), int(t.max())
        if lo < 0 or hi >= num_classes:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{op}: target value {bad} is outside [0, {num_classes}) classes")
    return xp.ascontiguousarray(t.astype(np.int64, copy=False))


def _reduce(losses, reduction, op):
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


def cross_entropy(input, target, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy from raw logits, fused and stable (logits of 1e4 are fine).

    input (N, C) or (N, C, d1, ...); target (N,) or (N, d1, ...) integer class indices.
    label_smoothing eps mixes the one-hot target with the uniform distribution:
    loss = -(1-eps) log p[t] - eps/C sum_j log p[j].
    """
    op = "cross_entropy"
    x = C.as_tensor(input, "input", op)
    C.check_float(x, "input", op)
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    eps = C.check_probability(label_smoothing, "label_smoothing", op)
    if x.ndim < 2:
        raise ValueError(f"{op}: input must be (N, C) logits (or (N, C, d1, ...)), got shape {x.shape}")
    n, c = x.shape[0], x.shape[1]
    expected = (n,) + x.shape[2:]
    t = _target(target, expected, c, op)
    if x.ndim > 2:  # move classes last: (N, d1, ..., C) rows
        x = x.permute((0,) + tuple(range(2, x.ndim)) + (1,)).reshape(-1, c)
        t = t.reshape(-1)
    losses = CrossEntropy.apply(C.contiguous_tensor(x), Tensor(t), label_smoothing=eps)
    if reduction == "none" and len(expected) > 1:
        losses = losses.reshape(expected)
    return _reduce(losses, reduction, op)


class NLL(Function):
    @staticmethod
    def forward(ctx, logp, target):
        xp = backend.array_module(logp)
        ctx.shape = logp.shape
        ctx.save_for_backward(target)
        return -logp[xp.arange(logp.shape[0]), target]

    @staticmethod
    def backward(ctx, g):
        (target,) = ctx.saved
        xp = backend.array_module(g)
        out = xp.zeros(ctx.shape, dtype=g.dtype)
        out[xp.arange(ctx.shape[0]), target] = -g
        return out, None


def nll_loss(input, target, reduction="mean"):
    """Negative log-likelihood of log-probabilities input (N, C) at integer targets (N,)."""
    op = "nll_loss"
    x = C.as_tensor(input, "input", op)
    C.check_float(x, "input", op)
    C.check_ndim(x, 2, "input", op, "(N, C) log-probabilities")
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    t = _target(target, (x.shape[0],), x.shape[1], op)
    return _reduce(NLL.apply(x, Tensor(t)), reduction, op)
