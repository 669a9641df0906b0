"""Tensor arithmetic, reductions and shape ops: each a Function whose backward sits right below
its forward. Broadcasting follows NumPy; backward sums the gradient back to each input's shape.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function, Tensor


def unbroadcast(g, shape):
    """Sum g over the axes that broadcasting added or stretched, to get back `shape`."""
    if g.shape == tuple(shape):
        return g
    extra = g.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        i + extra for i, n in enumerate(shape) if n == 1 and g.shape[i + extra] != 1)
    g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def _lift(other, like: Tensor):
    """Python scalars take the tensor's dtype (as in PyTorch), so float32 stays float32."""
    if isinstance(other, Tensor):
        return other
    xp = backend.array_module(like.data)
    arr = xp.asarray(other)
    if arr.dtype.kind in "biuf" and like.dtype.kind == "f" and arr.ndim == 0:
        arr = arr.astype(like.dtype)
    return Tensor(arr)


# --- elementwise, binary ----------------------------------------------------------------------
class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        return a + b

    @staticmethod
    def backward(ctx, g):
        return unbroadcast(g, ctx.shapes[0]), unbroadcast(g, ctx.shapes[1])


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        return a - b

    @staticmethod
    def backward(ctx, g):
        return unbroadcast(g, ctx.shapes[0]), unbroadcast(-g, ctx.shapes[1])


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        ga = unbroadcast(g * b, a.shape) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(g * a, b.shape) if ctx.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        ga = unbroadcast(g / b, a.shape) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(-g * a / (b * b), b.shape) if ctx.needs_input_grad[1] else None
        return ga, gb


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        y = a ** b
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx, g):
        a, b, y = ctx.saved
        xp = backend.array_module(a)
        ga = unbroadcast(g * b * a ** (b - 1), a.shape) if ctx.needs_input_grad[0] else None
        gb = None
        if ctx.needs_input_grad[1]:
            # d/db a^b = a^b log a, taken as 0 where a == 0 (the limit for b > 0)
            safe = xp.where(a > 0, a, 1)
            gb = unbroadcast(g * y * xp.log(safe), b.shape)
        return ga, gb


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: both operands need at least 1 dimension, got {a.shape} @ {b.shape}")
        if a.shape[-1] != b.shape[0 if b.ndim == 1 else -2]:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not align")
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        xp = backend.array_module(a)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g
        if a.ndim == 1:
            g2 = xp.expand_dims(g2, -2)
        if b.ndim == 1:
            g2 = xp.expand_dims(g2, -1)
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = unbroadcast(g2 @ xp.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if ctx.needs_input_grad[1]:
            gb = unbroadcast(xp.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)
        return ga, gb


# --- elementwise, unary -----------------------------------------------------------------------
class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, g):
        return -g


class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        y = backend.array_module(a).exp(a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        return g * ctx.saved[0]


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return backend.array_module(a).log(a)

    @staticmethod
    def backward(ctx, g):
        return g / ctx.saved[0]


class Sqrt(Function):
    @staticmethod
    def forward(ctx, a):
        y = backend.array_module(a).sqrt(a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        return g / (2 * ctx.saved[0])


class Abs(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return backend.array_module(a).abs(a)

    @staticmethod
    def backward(ctx, g):
        return g * backend.array_module(g).sign(ctx.saved[0])


# --- reductions -------------------------------------------------------------------------------
def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for ax in axes:
        if not -ndim <= ax < max(ndim, 1):
            raise ValueError(f"axis {ax} is out of range for a {ndim}-D tensor")
        out.append(ax % max(ndim, 1))
    return tuple(sorted(set(out)))


def _expand_back(g, shape, axes, keepdims):
    """Reshape a reduced gradient so it broadcasts against the input of `shape`."""
    if not keepdims:
        g = g.reshape([1 if i in axes else n for i, n in enumerate(shape)])
    return g


class Sum(Function):
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.axes, ctx.keepdims, ctx.shape = _axes(axis, a.ndim), keepdims, a.shape
        return a.sum(axis=ctx.axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        xp = backend.array_module(g)
        return xp.broadcast_to(_expand_back(g, ctx.shape, ctx.axes, ctx.keepdims), ctx.shape).copy()


class Mean(Function):
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.axes, ctx.keepdims, ctx.shape = _axes(axis, a.ndim), keepdims, a.shape
        ctx.count = int(np.prod([a.shape[i] for i in ctx.axes])) if a.ndim else 1
        return a.mean(axis=ctx.axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        xp = backend.array_module(g)
        g = _expand_back(g, ctx.shape, ctx.axes, ctx.keepdims) / ctx.count
        return xp.broadcast_to(g, ctx.shape).copy()


class Max(Function):
    """Gradient split evenly between tied maxima (PyTorch's rule for a full-tensor max)."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.axes, ctx.keepdims = _axes(axis, a.ndim), keepdims
        y = a.max(axis=ctx.axes, keepdims=True)
        ctx.save_for_backward(a, y)
        return y if keepdims else y.reshape([n for i, n in enumerate(a.shape) if i not in ctx.axes])

    @staticmethod
    def backward(ctx, g):
        a, y = ctx.saved
        mask = (a == y).astype(a.dtype)
        mask /= mask.sum(axis=ctx.axes, keepdims=True)
        return mask * _expand_back(g, a.shape, ctx.axes, ctx.keepdims)


# --- shape ------------------------------------------------------------------------------------
class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape=None):
        ctx.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot view shape {a.shape} as {tuple(shape)}") from None

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape)


class Permute(Function):
    @staticmethod
    def forward(ctx, a, axes=None):
        if sorted(a_ % max(a.ndim, 1) for a_ in axes) != list(range(a.ndim)):
            raise ValueError(f"permute: {tuple(axes)} is not a permutation of {a.ndim} axes")
        ctx.axes = tuple(ax % a.ndim for ax in axes)
        return a.transpose(ctx.axes)

    @staticmethod
    def backward(ctx, g):
        return g.transpose(np.argsort(ctx.axes))


class GetItem(Function):
    @staticmethod
    def forward(ctx, a, index=None):
        ctx.shape, ctx.index = a.shape, index
        return a[index]

    @staticmethod
    def backward(ctx, g):
        xp = backend.array_module(g)
        out = xp.zeros(ctx.shape, dtype=g.dtype)
        if xp is np:
            np.add.at(out, ctx.index, g)  # repeated advanced indices must add up
        else:
            import cupyx
            cupyx.scatter_add(out, ctx.index, g)
        return out


class Concatenate(Function):
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        xp = backend.array_module(*arrays)
        ctx.axis = axis % arrays[0].ndim
        ctx.bounds = np.cumsum([a.shape[ctx.axis] for a in arrays])[:-1]
        return xp.concatenate(arrays, axis=ctx.axis)

    @staticmethod
    def backward(ctx, g):
        xp = backend.array_module(g)
        return tuple(xp.split(g, ctx.bounds, axis=ctx.axis))


# --- public functions -------------------------------------------------------------------------
def _index(index):
    """Tensors used as indices are replaced by their (non-differentiable) data."""
    if isinstance(index, tuple):
        return tuple(it.data if isinstance(it, Tensor) else it for it in index)
    return index.data if isinstance(index, Tensor) else index


def reshape(t, *shape):
    shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    return Reshape.apply(t, shape=tuple(int(s) for s in shape))


def permute(t, *axes):
    axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
    if len(axes) != t.ndim:
        raise ValueError(f"permute: got {len(axes)} axes for a {t.ndim}-D tensor")
    return Permute.apply(t, axes=tuple(axes))


def transpose(t, dim0=-2, dim1=-1):
    if t.ndim < 2:
        return t
    axes = list(range(t.ndim))
    axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
    return Permute.apply(t, axes=tuple(axes))


def flatten(t, start_dim=0, end_dim=-1):
    if t.ndim == 0:
        return reshape(t, (1,))
    start, end = start_dim % t.ndim, end_dim % t.ndim
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {t.shape}")
    shape = t.shape[:start] + (int(np.prod(t.shape[start:end + 1])),) + t.shape[end + 1:]
    return reshape(t, shape)


def cat(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: needs at least one tensor")
    ref = tensors[0].shape
    for i, t in enumerate(tensors):
        if t.ndim != len(ref) or any(a != b for j, (a, b) in enumerate(zip(t.shape, ref))
                                     if j != dim % len(ref)):
            raise ValueError(f"cat: tensor {i} has shape {t.shape}, incompatible with {ref} along dim {dim}")
    return Concatenate.apply(*tensors, axis=dim)


def stack(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: needs at least one tensor")
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"stack: all tensors need the same shape, got {sorted(shapes)}")
    d = dim % (tensors[0].ndim + 1)
    return cat([reshape(t, t.shape[:d] + (1,) + t.shape[d:]) for t in tensors], dim=d)
