"""Comparisons, arg-reductions and selection: eq/lt/... (bool tensors), argmax/argmin,
max/min(dim) -> (values, indices) with the gradient routed to the returned index, where, clamp,
masked_fill. PyTorch's rules throughout, including its tie-breaking (first index) and its
clamp gradient (passed through where min <= x <= max)."""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from .. import backend
from ..autograd import Function, Tensor
from .basic import Max, _lift, unbroadcast

ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


def _data(x):
    return x.data if isinstance(x, Tensor) else x


def _dim(dim, ndim, op):
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an int, got {dim!r} (amax/amin reduce several dims)")
    n = ndim if ndim else 1  # (max and min are redefined below)
    if not -n <= dim < n:
        raise IndexError(f"{op}: dim {dim} is out of range for a {ndim}-D tensor")
    return int(dim) % n


# --- comparisons and logic (no gradient) ------------------------------------------------------
def _compare(op):
    def compare(a, b):
        b = _lift(b, a) if not isinstance(b, Tensor) else b
        return Tensor(op(a.data, b.data))
    return compare


eq, ne = _compare(lambda a, b: a == b), _compare(lambda a, b: a != b)
lt, le = _compare(lambda a, b: a < b), _compare(lambda a, b: a <= b)
gt, ge = _compare(lambda a, b: a > b), _compare(lambda a, b: a >= b)
logical_and, logical_or = _compare(lambda a, b: a & b), _compare(lambda a, b: a | b)
logical_xor = _compare(lambda a, b: a ^ b)


def logical_not(a):
    return Tensor(~a.data if a.dtype == np.bool_ else a.data == 0)


def isnan(a):
    return Tensor(backend.array_module(a.data).isnan(a.data))


def isfinite(a):
    return Tensor(backend.array_module(a.data).isfinite(a.data))


def all_(a, dim=None, keepdim=False):
    return Tensor(a.data.astype(bool).all(axis=dim, keepdims=keepdim))


def any_(a, dim=None, keepdim=False):
    return Tensor(a.data.astype(bool).any(axis=dim, keepdims=keepdim))


def equal(a, b):
    """True when both have the same shape and elements (PyTorch's torch.equal)."""
    return a.shape == b.shape and bool((a.data == b.data).all())


# --- arg-reductions ---------------------------------------------------------------------------
def _arg(a, dim, keepdim, op, largest):
    xp = backend.array_module(a.data)
    pick = xp.argmax if largest else xp.argmin
    if dim is None:
        idx = pick(a.data.reshape(-1))
        return Tensor(xp.asarray(idx, dtype=np.int64).reshape((1,) * a.ndim if keepdim else ()))
    d = _dim(dim, a.ndim, op)
    data = a.data.reshape(1) if a.ndim == 0 else a.data
    idx = pick(data, axis=d, keepdims=keepdim).astype(np.int64)
    return Tensor(idx.reshape(()) if a.ndim == 0 else idx)


def argmax(input, dim=None, keepdim=False):
    """Index of the first maximum (over the flattened tensor when dim is None)."""
    return _arg(input, dim, keepdim, "argmax", True)


def argmin(input, dim=None, keepdim=False):
    return _arg(input, dim, keepdim, "argmin", False)


class SelectDim(Function):
    """Max or min along one dim; backward puts the whole gradient on the chosen index."""

    @staticmethod
    def forward(ctx, a, dim=0, keepdim=False, largest=True):
        xp = backend.array_module(a)
        idx = (xp.argmax if largest else xp.argmin)(a, axis=dim, keepdims=True)
        ctx.index, ctx.shape, ctx.dim, ctx.keepdim = idx, a.shape, dim, keepdim
        values = xp.take_along_axis(a, idx, axis=dim)
        return values if keepdim else xp.squeeze(values, axis=dim)

    @staticmethod
    def backward(ctx, g):
        xp = backend.array_module(g)
        if not ctx.keepdim:
            g = xp.expand_dims(g, ctx.dim)
        positions = xp.arange(ctx.shape[ctx.dim]).reshape(
            [-1 if i == ctx.dim else 1 for i in range(len(ctx.shape))])
        return xp.where(positions == ctx.index, g, xp.zeros((), dtype=g.dtype))


def _select(a, dim, keepdim, op, largest):
    if a.ndim == 0:
        _dim(dim, 0, op)
        values = SelectDim.apply(a.reshape(1), dim=0, keepdim=False, largest=largest).reshape(())
        return ValuesIndices(values, Tensor(np.zeros((), dtype=np.int64)))
    d = _dim(dim, a.ndim, op)
    values = SelectDim.apply(a, dim=d, keepdim=keepdim, largest=largest)
    return ValuesIndices(values, _arg(a, d, keepdim, op, largest))


def amax(input, dim=None, keepdim=False):
    """Maximum over one or several dims; ties share the gradient equally (PyTorch's amax)."""
    return Max.apply(input, axis=dim, keepdims=keepdim)


def amin(input, dim=None, keepdim=False):
    return -Max.apply(-input, axis=dim, keepdims=keepdim)


def max(input, dim=None, keepdim=False):
    """max() -> the largest element; max(dim) -> (values, indices); max(other) -> maximum."""
    if isinstance(dim, Tensor):
        return maximum(input, dim)
    if dim is None:
        return amax(input)
    return _select(input, dim, keepdim, "max", True)


def min(input, dim=None, keepdim=False):
    if isinstance(dim, Tensor):
        return minimum(input, dim)
    if dim is None:
        return amin(input)
    return _select(input, dim, keepdim, "min", False)


# --- selection --------------------------------------------------------------------------------
class Where(Function):
    @staticmethod
    def forward(ctx, a, b, condition=None):
        xp = backend.array_module(a, b)
        ctx.condition, ctx.shapes = condition, (a.shape, b.shape)
        return xp.where(condition, a, b)

    @staticmethod
    def backward(ctx, g):
        xp = backend.array_module(g)
        zero, c = xp.zeros((), dtype=g.dtype), ctx.condition
        ga = unbroadcast(xp.where(c, g, zero), ctx.shapes[0]) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(xp.where(c, zero, g), ctx.shapes[1]) if ctx.needs_input_grad[1] else None
        return ga, gb


def _condition(condition, op):
    c = _data(condition)
    if getattr(c, "dtype", None) is None or c.dtype != np.bool_:
        raise TypeError(f"{op}: the condition/mask must be a bool tensor, got "
                        f"{getattr(c, 'dtype', type(c).__name__)}")
    return c


def where(condition, input, other):
    """input where condition holds, other elsewhere (all three broadcast together)."""
    c = _condition(condition, "where")
    if not isinstance(input, Tensor) and isinstance(other, Tensor):
        input = _lift(input, other)
    elif not isinstance(input, Tensor):
        input = Tensor(input)
    other = _lift(other, input)
    try:
        shape = np.broadcast_shapes(c.shape, input.shape, other.shape)
    except ValueError:
        raise ValueError(f"where: shapes condition {c.shape}, input {input.shape}, other "
                         f"{other.shape} do not broadcast") from None
    xp = backend.array_module(input.data)
    return Where.apply(input, other, condition=xp.broadcast_to(c, shape))


def masked_fill(input, mask, value):
    """input with `value` written where mask is True; no gradient flows to the filled places."""
    c = _condition(mask, "masked_fill")
    try:
        np.broadcast_shapes(c.shape, input.shape)
    except ValueError:
        raise ValueError(f"masked_fill: mask of shape {c.shape} does not broadcast to the "
                         f"input's shape {input.shape}") from None
    if isinstance(value, Tensor) and value.ndim != 0:
        raise ValueError(f"masked_fill: value must be a number or a 0-d tensor, got shape {value.shape}")
    out = where(mask, _lift(value, input) if not isinstance(value, Tensor) else value, input)
    if out.shape != input.shape:
        raise ValueError(f"masked_fill: mask of shape {c.shape} would enlarge the input's shape {input.shape}")
    return out


class Clamp(Function):
    @staticmethod
    def forward(ctx, a, low=None, high=None):
        keep = True
        if low is not None:
            keep = keep & (a >= low)
        if high is not None:
            keep = keep & (a <= high)
        ctx.keep = keep
        return backend.array_module(a).clip(a, low, high).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        return g * ctx.keep


def clamp(input, min=None, max=None):
    """Elements limited to [min, max]; the gradient passes where min <= x <= max (PyTorch's rule).
    PyTorch also applies max last when min > max, so every element becomes max."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    for name, v in (("min", min), ("max", max)):
        if isinstance(v, Tensor):
            raise TypeError(f"clamp: {name} must be a number here, got a Tensor; use "
                            "torch-style where(x < lo, lo, x) for tensor bounds")
    if min is not None and max is not None and min > max:
        return Clamp.apply(Clamp.apply(input, low=min), high=max)
    return Clamp.apply(input, low=min, high=max)


class Maximum(Function):
    """Elementwise maximum; ties split the gradient in half, as PyTorch does."""

    @staticmethod
    def forward(ctx, a, b, sign=1):
        xp = backend.array_module(a, b)
        ctx.save_for_backward(a, b)
        ctx.sign = sign
        return xp.maximum(a, b) if sign > 0 else xp.minimum(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        wins = (a > b) if ctx.sign > 0 else (a < b)
        share = (wins + 0.5 * (a == b)).astype(g.dtype)
        ga = unbroadcast(g * share, a.shape) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(g * (1 - share), b.shape) if ctx.needs_input_grad[1] else None
        return ga, gb


def maximum(input, other):
    return Maximum.apply(input, _lift(other, input), sign=1)


def minimum(input, other):
    return Maximum.apply(input, _lift(other, input), sign=-1)
