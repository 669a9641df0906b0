"""log_softmax, softmax, cross_entropy (fused with log-softmax) and nll_loss.

The kernels work on the rows of a 2-D array; these functions bring any layout to that form by
moving the normalised axis (`dim`, or the class axis C) last and flattening the rest.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import backend
from ..autograd import Function, Tensor
from . import _checks as C

__all__ = ["log_softmax", "softmax", "cross_entropy", "nll_loss"]

REDUCTIONS = ("mean", "sum", "none")


def _as_rows(xp, a, dim):
    """a with `dim` moved last, as contiguous rows (M, a.shape[dim]); also the moved shape."""
    moved = xp.moveaxis(a, dim, -1)
    rows = moved.reshape(math.prod(moved.shape[:-1]), moved.shape[-1])  # no -1: C may be 0
    return xp.ascontiguousarray(rows), moved.shape


class _RowFunction(Function):
    """Applies the `<kernel>_forward/_backward` pair of the softmax kernels along `dim`."""
    kernel = ""

    @classmethod
    def forward(cls, ctx, x, dim=1):
        xp = backend.array_module(x)
        rows, moved_shape = _as_rows(xp, x, dim)
        y = getattr(backend.kernels("softmax", x), f"{cls.kernel}_forward")(rows)
        ctx.save_for_backward(y)
        ctx.dim, ctx.moved_shape = dim, moved_shape
        return xp.moveaxis(y.reshape(moved_shape), -1, dim)

    @classmethod
    def backward(cls, ctx, g):
        xp = backend.array_module(g)
        (y,) = ctx.saved
        rows, _ = _as_rows(xp, g, ctx.dim)
        gx = getattr(backend.kernels("softmax", g), f"{cls.kernel}_backward")(rows, y)
        return xp.moveaxis(gx.reshape(ctx.moved_shape), -1, ctx.dim)


class LogSoftmax(_RowFunction):
    kernel = "log_softmax"


class Softmax(_RowFunction):
    kernel = "softmax"


def _dim(x, dim, op):
    if dim is None:
        return 0 if x.ndim in (0, 1, 3) else 1  # PyTorch's implicit choice for dim=None
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    rank = max(x.ndim, 1)  # a 0-d tensor accepts dim 0 or -1, as in PyTorch
    if not -rank <= dim < rank:
        raise ValueError(f"{op}: dim {dim} is out of range [{-rank}, {rank - 1}] for input "
                         f"of shape {x.shape}")
    return int(dim) % rank


def _normalise(fn, input, dim, op):
    x = C.as_tensor(input, "input", op)
    C.check_float(x, "input", op)
    d = _dim(x, dim, op)
    if x.ndim == 0:  # a single element: treat it as a row of one class
        return fn.apply(x.reshape(1), dim=0).reshape(())
    return fn.apply(x, dim=d)


def log_softmax(input, dim=None):
    """log(softmax(input)) along `dim`, as x - logsumexp(x) with the max subtracted first."""
    return _normalise(LogSoftmax, input, dim, "log_softmax")


def softmax(input, dim=None):
    """exp(x) / sum(exp(x)) along `dim`, with the max subtracted first (finite for any x)."""
    return _normalise(Softmax, input, dim, "softmax")


# --- losses over class indices ---------------------------------------------------------------
def _target_array(target, sample_shape, num_classes, input_shape, op, ignore_index=None):
    """Validated int64 class indices of `sample_shape`, on the input's device."""
    if isinstance(target, Tensor):
        t = target.data
    elif hasattr(target, "dtype") and hasattr(target, "shape"):  # a NumPy or CuPy array
        t = target
    else:
        raise TypeError(f"{op}: target must be an integer Tensor of class indices, got "
                        f"{type(target).__name__}")
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices, got dtype {t.dtype} "
                        f"(probability targets are not supported)")
    if tuple(t.shape) != sample_shape:
        raise ValueError(f"{op}: target shape {tuple(t.shape)} does not match input shape "
                         f"{input_shape}: expected {sample_shape}")
    kept = t if ignore_index is None else t[t != ignore_index]
    if kept.size:
        lo, hi = int(kept.min()), int(kept.max())
        if lo < 0 or hi >= num_classes:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{op}: target value {bad} is out of range for {num_classes} "
                             f"classes: class indices must be in [0, {num_classes})")
    xp = backend.array_module(t)
    return xp.ascontiguousarray(t.astype(np.int64, copy=False))


def _class_rows(x, target, op, ignore_index=None):
    """PyTorch's layouts -> (rows (M, C), int64 targets (M,), per-sample shape):
    (C,) with a 0-d target, (N, C) with (N,), (N, C, d1, ...) with (N, d1, ...)."""
    if x.ndim == 0:
        raise ValueError(f"{op}: input must be (N, C), (C,) or (N, C, d1, ...), got a 0-d tensor")
    if x.ndim == 1:
        c, sample_shape = x.shape[0], ()
    else:
        c, sample_shape = x.shape[1], (x.shape[0],) + x.shape[2:]
    t = _target_array(target, sample_shape, c, x.shape, op, ignore_index)
    if x.ndim != 2:  # classes last, then one row per sample (and per position)
        if x.ndim > 2:
            x = x.permute((0,) + tuple(range(2, x.ndim)) + (1,))
        x = x.reshape(math.prod(sample_shape), c)
    return C.contiguous_tensor(x), Tensor(t.reshape(-1)), sample_shape


def _reduce(losses, reduction, sample_shape):
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses.reshape(sample_shape)


def _check_reduction(reduction, op):
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


class CrossEntropy(Function):
    """Per-sample losses (M,) from logits (M, C); the reduction happens outside."""

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
        g = backend.array_module(g).ascontiguousarray(g)
        return backend.kernels("softmax", g).cross_entropy_backward(g, logp, target, ctx.eps), None


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """Softmax cross-entropy from raw logits, fused and stable (logits of 1e4 are fine).

    input (N, C), (C,) or (N, C, d1, ...) logits; target (N,), () or (N, d1, ...) integer class
    indices in [0, C) (not differentiable). label_smoothing eps mixes the one-hot target with
    the uniform distribution: loss = -(1-eps) log p[t] - eps/C sum_j log p[j].
    weight (C,) rescales each class; samples whose target is ignore_index count for nothing.
    reduction: "mean" over all samples (and positions) -- weighted by weight[target] when
    weights or ignored targets are present, as in PyTorch --, "sum", or "none" (target's shape).
    """
    op = "cross_entropy"
    x = C.as_tensor(input, "input", op)
    C.check_float(x, "input", op)
    _check_reduction(reduction, op)
    eps = C.check_probability(label_smoothing, "label_smoothing", op)
    if isinstance(target, Tensor) and target.dtype.kind == "f":
        return _soft_cross_entropy(x, target, weight, eps, reduction, op)
    rows, t, sample_shape = _class_rows(x, target, op, ignore_index)
    if weight is None and not bool((t.data == ignore_index).any()):
        return _reduce(CrossEntropy.apply(rows, t, label_smoothing=eps), reduction, sample_shape)
    return _weighted(log_softmax(rows, 1), t, weight, ignore_index, eps, reduction, sample_shape, op)


def _soft_cross_entropy(x, target, weight, eps, reduction, op):
    """Probability targets (PyTorch's floating target of the input's shape): the loss of a sample
    is -sum_c weight[c] * target[c] * log p[c], differentiable in the target too; "mean"
    divides by the number of samples (not by the weights, as PyTorch)."""
    if target.shape != x.shape:
        raise ValueError(f"{op}: probability targets must have the input's shape {x.shape}, "
                         f"got {target.shape}")
    C.check_same_dtype(op, input=x, target=target)
    dim = 0 if x.ndim == 1 else 1
    classes = x.shape[dim]
    t = target * (1 - eps) + eps / classes if eps else target
    terms = t * log_softmax(x, dim)
    if weight is not None:
        w = C.as_tensor(weight, "weight", op)
        if w.shape != (classes,):
            raise ValueError(f"{op}: weight must have shape ({classes},), got {w.shape}")
        terms = terms * w.reshape(tuple(classes if i == dim else 1 for i in range(x.ndim)))
    losses = -terms.sum(dim)
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.mean()


def _weighted(logp, t, weight, ignore_index, eps, reduction, sample_shape, op):
    """Class-weighted negative log-likelihood of log-probability rows, ignored targets masked."""
    xp = backend.array_module(logp.data)
    m, classes = logp.shape
    if weight is not None:
        if isinstance(weight, str):
            raise TypeError(f"{op}: weight must be a Tensor, got {weight!r}; pass reduction= as a "
                            "keyword (PyTorch's argument order: input, target, weight, ...)")
        C.as_tensor(weight, "weight", op)
        if weight.shape != (classes,):
            raise ValueError(f"{op}: weight must have shape ({classes},), got {weight.shape}")
    w = xp.ones(classes, logp.dtype) if weight is None else weight.data.astype(logp.dtype)
    valid = t.data != ignore_index
    safe = xp.where(valid, t.data, 0)
    wt = w[safe] * valid
    losses = -logp[xp.arange(m), safe] * Tensor(wt)
    if eps:
        smooth = -(logp * Tensor(w[None, :])).sum(1) * Tensor(valid.astype(logp.dtype))
        losses = losses * (1 - eps) + smooth * (eps / classes)
    if reduction == "mean":
        return losses.sum() / Tensor(wt.sum())
    return _reduce(losses, reduction, sample_shape)


class NLL(Function):
    """-logp[i, t_i] for log-probability rows (M, C)."""

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


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of log-probabilities (e.g. from log_softmax) at class indices.

    Same layouts, weight and ignore_index as cross_entropy:
    cross_entropy(x, t) == nll_loss(log_softmax(x, 1), t).
    """
    op = "nll_loss"
    x = C.as_tensor(input, "input", op)
    C.check_float(x, "input", op)
    _check_reduction(reduction, op)
    rows, t, sample_shape = _class_rows(x, target, op, ignore_index)
    if weight is None and not bool((t.data == ignore_index).any()):
        return _reduce(NLL.apply(rows, t), reduction, sample_shape)
    return _weighted(rows, t, weight, ignore_index, 0.0, reduction, sample_shape, op)
