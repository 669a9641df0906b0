"""Argument checks shared by the ops: every problem is reported before any kernel runs."""
from __future__ import annotations

import numbers

import numpy as np

from ..autograd import Tensor

def as_tensor(x, name: str, op: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    raise TypeError(f"{op}: {name} must be a Tensor, got {type(x).__name__}")

def check_float(t: Tensor, name: str, op: str) -> None:
    if t.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: {name} must be float32 or float64, got {t.dtype} "
                        f"(shape {t.shape}); convert with .float() or .double()")

def check_ndim(t: Tensor, ndim: int, name: str, op: str, layout: str = "") -> None:
    if t.ndim != ndim:
        hint = f" {layout}" if layout else ""
        raise ValueError(f"{op}: {name} must be {ndim}-D{hint}, got shape {t.shape}")

def check_same_dtype(op: str, **tensors) -> None:
    present = {k: v for k, v in tensors.items() if v is not None}
    dtypes = {v.dtype for v in present.values()}
    if len(dtypes) > 1:
        desc = ", ".join(f"{k} {v.dtype}" for k, v in present.items())
        raise TypeError(f"{op}: inputs must share one dtype, got {desc}")

def pair(value, name: str, op: str, minimum: int) -> tuple:
    """Normalise an int, a one-element or a two-element sequence of ints (PyTorch accepts all
    three) to a pair, each >= minimum."""
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = (value[0], value[0])
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
        items = tuple(value)
    else:
        items = (value, value)
    for v in items:
        if isinstance(v, bool) or not isinstance(v, (numbers.Integral,)):
            raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    items = tuple(int(v) for v in items)
    if min(items) < minimum:
        what = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{op}: {name} must be {what}, got {value!r}")
    return items

def out_size(n: int, k: int, s: int, p: int, d: int) -> int:
    """floor((n + 2p - d(k-1) - 1)/s) + 1"""
    return (n + 2 * p - d * (k - 1) - 1) // s + 1

def check_window(op: str, spatial, kernel, stride, padding, dilation=(1, 1)) -> tuple:
    """The output size of a sliding window; raises if the window does not fit the padded input."""
    out = []
    for axis, n, k, s, p, d in zip("HW", spatial, kernel, stride, padding, dilation):
        span = d * (k - 1) + 1
        if span > n + 2 * p:
            raise ValueError(f"{op}: kernel extent {span} along {axis} is larger than the padded "
                             f"input ({n} + 2*{p}); kernel {kernel}, dilation {dilation}, input {spatial}")
        out.append(out_size(n, k, s, p, d))
    return tuple(out)

def check_probability(p, name: str, op: str, high_inclusive: bool = True) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"{op}: {name} must be a number, got {p!r}")
    ok = 0.0 <= p <= 1.0 if high_inclusive else 0.0 <= p < 1.0
    if not ok:
        bound = "[0, 1]" if high_inclusive else "[0, 1)"
        raise ValueError(f"{op}: {name} must be in {bound}, got {p}")
    return float(p)

def contiguous_tensor(t: Tensor) -> Tensor:
    """t itself when its data is C-contiguous; else a differentiable contiguous copy."""
    if t.data.flags.c_contiguous:
        return t
    from .basic import Reshape
    out = Reshape.apply(t, shape=t.shape)
    out.data = out.data.copy(order="C")
    return out


def contiguous(xp, a):
    return xp.ascontiguousarray(a)
