"""Every method and operator a Tensor offers beyond autograd itself, one line each, delegating
to the op that implements it. Read this file to see what `x.something(...)` does and where.

autograd.py knows no op (it only records and replays Functions); this module attaches the
methods below to Tensor when tinyconv.ops is imported.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Tensor
from . import activation, basic, cast, inplace, select, shape
from .basic import _index, _lift


class _TensorMethods:
    # --- arithmetic (ops/basic.py); Python scalars take the tensor's dtype -------------------
    def __add__(self, other): return basic.Add.apply(self, _lift(other, self))
    def __radd__(self, other): return basic.Add.apply(_lift(other, self), self)
    def __sub__(self, other): return basic.Sub.apply(self, _lift(other, self))
    def __rsub__(self, other): return basic.Sub.apply(_lift(other, self), self)
    def __mul__(self, other): return basic.Mul.apply(self, _lift(other, self))
    def __rmul__(self, other): return basic.Mul.apply(_lift(other, self), self)
    def __truediv__(self, other): return basic.Div.apply(self, _lift(other, self))
    def __rtruediv__(self, other): return basic.Div.apply(_lift(other, self), self)
    def __pow__(self, other): return basic.Pow.apply(self, _lift(other, self))
    def __rpow__(self, other): return basic.Pow.apply(_lift(other, self), self)
    def __matmul__(self, other): return basic.MatMul.apply(self, _lift(other, self))
    def __rmatmul__(self, other): return basic.MatMul.apply(_lift(other, self), self)
    def __neg__(self): return basic.Neg.apply(self)
    def __abs__(self): return basic.Abs.apply(self)
    add, sub, mul, div, pow, matmul, abs = __add__, __sub__, __mul__, __truediv__, __pow__, __matmul__, __abs__
    def exp(self): return basic.Exp.apply(self)
    def log(self): return basic.Log.apply(self)
    def sqrt(self): return basic.Sqrt.apply(self)

    # --- activations (ops/activation.py) ----------------------------------------------------
    def relu(self): return activation.relu(self)
    def tanh(self): return activation.tanh(self)
    def sigmoid(self): return activation.sigmoid(self)

    # --- reductions (ops/basic.py, ops/select.py) -------------------------------------------
    def sum(self, dim=None, keepdim=False): return basic.Sum.apply(self, axis=dim, keepdims=keepdim)
    def mean(self, dim=None, keepdim=False): return basic.Mean.apply(self, axis=dim, keepdims=keepdim)
    def max(self, dim=None, keepdim=False): return select.max(self, dim, keepdim)
    def min(self, dim=None, keepdim=False): return select.min(self, dim, keepdim)
    def amax(self, dim=None, keepdim=False): return select.amax(self, dim, keepdim)
    def amin(self, dim=None, keepdim=False): return select.amin(self, dim, keepdim)
    def argmax(self, dim=None, keepdim=False): return select.argmax(self, dim, keepdim)
    def argmin(self, dim=None, keepdim=False): return select.argmin(self, dim, keepdim)
    def all(self, dim=None, keepdim=False): return select.all_(self, dim, keepdim)
    def any(self, dim=None, keepdim=False): return select.any_(self, dim, keepdim)

    # --- comparisons and logic: bool tensors, no gradient (ops/select.py) -------------------
    def __eq__(self, other): return select.eq(self, other)
    def __ne__(self, other): return select.ne(self, other)
    def __lt__(self, other): return select.lt(self, other)
    def __le__(self, other): return select.le(self, other)
    def __gt__(self, other): return select.gt(self, other)
    def __ge__(self, other): return select.ge(self, other)
    def __and__(self, other): return select.logical_and(self, other)
    def __or__(self, other): return select.logical_or(self, other)
    def __xor__(self, other): return select.logical_xor(self, other)
    def __invert__(self): return select.logical_not(self)
    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__
    def equal(self, other): return select.equal(self, other)
    def isnan(self): return select.isnan(self)
    def isfinite(self): return select.isfinite(self)

    # --- selection (ops/select.py) ----------------------------------------------------------
    def clamp(self, min=None, max=None): return select.clamp(self, min, max)
    clip = clamp
    def masked_fill(self, mask, value): return select.masked_fill(self, mask, value)
    def where(self, condition, other): return select.where(condition, self, other)
    def maximum(self, other): return select.maximum(self, other)
    def minimum(self, other): return select.minimum(self, other)

    # --- shape (ops/basic.py, ops/shape.py) -------------------------------------------------
    def __getitem__(self, index): return basic.GetItem.apply(self, index=_index(index))
    def reshape(self, *shape): return basic.reshape(self, *shape)
    view = reshape
    def permute(self, *dims): return basic.permute(self, *dims)
    def transpose(self, dim0=-2, dim1=-1): return basic.transpose(self, dim0, dim1)
    T = property(lambda self: basic.permute(self, tuple(reversed(range(self.ndim)))))
    def flatten(self, start_dim=0, end_dim=-1): return basic.flatten(self, start_dim, end_dim)
    def squeeze(self, dim=None): return shape.squeeze(self, dim)
    def unsqueeze(self, dim): return shape.unsqueeze(self, dim)
    def expand(self, *sizes): return shape.expand(self, *sizes)
    def expand_as(self, other): return shape.expand(self, other.shape)
    def repeat(self, *sizes): return shape.repeat(self, *sizes)
    def clone(self): return shape.clone(self)
    def contiguous(self): return shape.contiguous(self)

    # --- device and dtype, differentiable (ops/cast.py) -------------------------------------
    def to(self, *args, **kwargs): return cast.to(self, *args, **kwargs)
    def type(self, dtype=None): return cast.type_(self, dtype)
    def float(self): return cast.to(self, dtype=np.float32)
    def double(self): return cast.to(self, dtype=np.float64)
    def long(self): return cast.to(self, dtype=np.int64)
    def int(self): return cast.to(self, dtype=np.int32)
    def bool(self): return cast.to(self, dtype=np.bool_)
    def cpu(self): return cast.to(self, "cpu")
    def cuda(self): return cast.to(self, "cuda")

    # --- in place, with PyTorch's safety rules (ops/inplace.py) -----------------------------
    def add_(self, other, alpha=1): return inplace.add_(self, other, alpha)
    def sub_(self, other, alpha=1): return inplace.sub_(self, other, alpha)
    def mul_(self, other): return inplace.mul_(self, other)
    def div_(self, other): return inplace.div_(self, other)
    def pow_(self, exponent): return inplace.pow_(self, exponent)
    def clamp_(self, min=None, max=None): return inplace.clamp_(self, min, max)
    def zero_(self): return inplace.zero_(self)
    def fill_(self, value): return inplace.fill_(self, value)
    def copy_(self, src): return inplace.copy_(self, src)
    def __setitem__(self, index, value): inplace.setitem(self, index, value)
    __iadd__, __isub__, __imul__, __itruediv__ = add_, sub_, mul_, div_

    # --- Python protocols: one element converts, arrays convert, sized and iterable --------
    def __array__(self, dtype=None, copy=None): return self.numpy() if dtype is None else self.numpy().astype(dtype)
    def __float__(self): return float(_one(self, "float()"))
    def __int__(self): return int(_one(self, "int()"))
    def __index__(self): return int(_one(self, "index"))
    def __bool__(self): return bool(_one(self, "bool()"))
    def __len__(self): return _length(self)
    def __iter__(self): return (self[i] for i in range(_length(self)))
    __hash__ = object.__hash__  # defining __eq__ must not make tensors unhashable


def _one(t, what):
    if t.numel() != 1:
        raise RuntimeError(f"{what} of a tensor with {t.numel()} elements (shape {t.shape}) is "
                           "ambiguous; use .any(), .all() or index one element")
    if what == "index" and t.dtype.kind not in "iub":
        raise TypeError(f"only integer tensors of a single element can be used as an index, got {t.dtype}")
    return t.numpy().reshape(()).item()


def _length(t):
    if t.ndim == 0:
        raise TypeError("len() of a 0-d tensor")
    return t.shape[0]


for _name, _value in vars(_TensorMethods).items():
    if _name not in ("__module__", "__qualname__", "__doc__", "__dict__", "__weakref__"):
        setattr(Tensor, _name, _value)
