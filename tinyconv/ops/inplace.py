"""In-place ops (add_, mul_, zero_, copy_, x[i] = v, x -= y, ...) with PyTorch's safety rules.

- A leaf that requires grad may only change under `no_grad()` (an optimizer step); otherwise
  its gradient would describe values it no longer holds.
- Every change bumps the tensor's version; backward() refuses a node whose saved input changed
  since (autograd._check_versions) instead of returning a wrong gradient.
- On a tensor in the graph the op is recorded like any other: the tensor takes the new node,
  and a stand-in object carries its old history into that node. Its array is then replaced, not
  overwritten, because earlier nodes may still hold the old values.
Outside the graph the array is written in place, so views and `from_numpy` arrays see it.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function, Tensor, is_grad_enabled
from .basic import _index, _lift, unbroadcast
from .cast import to


class SetItem(Function):
    @staticmethod
    def forward(ctx, a, v, index=None):
        ctx.index, ctx.value_shape = index, v.shape
        out = a.copy()
        out[index] = v
        return out

    @staticmethod
    def backward(ctx, g):
        ga = None
        if ctx.needs_input_grad[0]:
            ga = g.copy()
            ga[ctx.index] = 0
        gv = unbroadcast(g[ctx.index], ctx.value_shape) if ctx.needs_input_grad[1] else None
        return ga, gv


def _inplace(t, compute, op, raw=None):
    """Make t hold compute(t). raw(array), if given, does the same directly on the array when
    no graph has to be recorded."""
    grad_mode = is_grad_enabled()
    if grad_mode and t.requires_grad and t.is_leaf:
        raise RuntimeError(f"{op}: a leaf tensor that requires grad (shape {t.shape}) cannot be "
                           "modified in place outside `with tinyconv.no_grad():` (its gradient "
                           "would no longer match its values)")
    if raw is not None and not (grad_mode and t.requires_grad):
        raw(t.data)
        t._version += 1
        return t
    if not grad_mode:
        _write(t, compute(t), op)
        return t
    source = Tensor(t.data, requires_grad=t.requires_grad)
    source._node = t._node  # the old history under a new identity: no cycle through t
    out = compute(source)
    if not out.requires_grad:
        _write(t, out, op)
        return t
    if out.dtype != t.dtype:
        out = to(out, dtype=t.dtype)
    _check_shape(t, out, op)
    t.data, t._node, t.requires_grad = out.data, out._node, True
    t._version += 1
    return t


def _check_shape(t, out, op):
    if out.shape != t.shape:
        raise RuntimeError(f"{op}: the result has shape {out.shape}, which cannot be stored in "
                           f"a tensor of shape {t.shape} in place")


def _write(t, out, op):
    _check_shape(t, out, op)
    t.data[...] = out.data
    t._version += 1


def _operand(other, like):
    return _lift(other, like) if not isinstance(other, Tensor) else other


def add_(t, other, alpha=1):
    return _inplace(t, lambda s: s + (_operand(other, s) * alpha if alpha != 1 else _operand(other, s)), "add_")


def sub_(t, other, alpha=1):
    return _inplace(t, lambda s: s - (_operand(other, s) * alpha if alpha != 1 else _operand(other, s)), "sub_")


def mul_(t, other):
    return _inplace(t, lambda s: s * _operand(other, s), "mul_")


def div_(t, other):
    return _inplace(t, lambda s: s / _operand(other, s), "div_")


def pow_(t, exponent):
    return _inplace(t, lambda s: s ** _operand(exponent, s), "pow_")


def clamp_(t, min=None, max=None):
    from .select import clamp
    return _inplace(t, lambda s: clamp(s, min, max), "clamp_")


def setitem(t, index, value):
    """t[index] = value; value (a number or a tensor) broadcasts to the indexed part."""
    index = _index(index)

    def compute(s):
        v = _operand(value, s)
        v = to(v, s.device, s.dtype) if v.dtype != s.dtype or v.device != s.device else v
        return SetItem.apply(s, v, index=index)

    needs_graph = is_grad_enabled() and isinstance(value, Tensor) and value.requires_grad

    def raw(a):
        a[index] = to(_operand(value, t), t.device).data if isinstance(value, Tensor) else value
    return _inplace(t, compute, "__setitem__", None if needs_graph else raw)


def fill_(t, value):
    if isinstance(value, Tensor) and value.ndim != 0:
        raise ValueError(f"fill_: value must be a number or a 0-d tensor, got shape {value.shape}")
    return setitem(t, Ellipsis, value)


def zero_(t):
    return setitem(t, Ellipsis, 0)


def copy_(t, src):
    """Copy src's values (broadcast, cast to t's dtype, moved to t's device) into t."""
    if not isinstance(src, Tensor):
        src = Tensor(src)
    try:
        fits = np.broadcast_shapes(src.shape, t.shape) == t.shape
    except ValueError:
        fits = False
    if not fits:
        raise RuntimeError(f"copy_: source of shape {src.shape} does not broadcast to the "
                           f"destination's shape {t.shape}")
    return setitem(t, Ellipsis, src)
