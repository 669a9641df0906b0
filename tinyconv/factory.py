"""Creating tensors with PyTorch's factory names and dtype rules: zeros/ones/full/empty,
arange/linspace/eye, rand/randn/randint (drawn from tinyconv's seeded generator), the *_like
forms, and from_numpy (which shares memory, where `tensor` copies)."""
from __future__ import annotations

import numbers

import numpy as np

from . import random as _random
from .autograd import Tensor
from .ops.cast import as_dtype

float16, float32, float64 = "float16", "float32", "float64"
half, double = float16, float64
int8, int16, int32, int64, uint8 = "int8", "int16", "int32", "int64", "uint8"
short, long = int16, int64
bool_ = "bool"


def _shape(size, op):
    size = size[0] if len(size) == 1 and isinstance(size[0], (tuple, list)) else size
    for n in size:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"{op}: size must be non-negative ints, got {tuple(size)}")
    return tuple(int(n) for n in size)


def _make(array, requires_grad, device):
    t = Tensor(array)
    if device is not None:
        t = t.to(device)
    return t.requires_grad_(requires_grad)


def _default(dtype, fallback="float32"):
    dt = as_dtype(dtype)  # (a np.dtype is falsy: no `or` here)
    return np.dtype(fallback) if dt is None else dt


def zeros(*size, dtype=None, requires_grad=False, device=None):
    return _make(np.zeros(_shape(size, "zeros"), _default(dtype)), requires_grad, device)


def ones(*size, dtype=None, requires_grad=False, device=None):
    return _make(np.ones(_shape(size, "ones"), _default(dtype)), requires_grad, device)


def empty(*size, dtype=None, requires_grad=False, device=None):
    """Like zeros: an uninitialised buffer would make results depend on memory contents."""
    return _make(np.zeros(_shape(size, "empty"), _default(dtype)), requires_grad, device)


def _scalar_dtype(value):
    if isinstance(value, (bool, np.bool_)):
        return np.dtype(bool)
    if isinstance(value, numbers.Integral):
        return np.dtype(np.int64)
    return np.dtype(np.float32)


def full(size, fill_value, dtype=None, requires_grad=False, device=None):
    """dtype follows fill_value as in PyTorch: bool, int64 or float32."""
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    dt = _default(dtype, _scalar_dtype(fill_value))
    return _make(np.full(_shape((size,), "full"), fill_value, dt), requires_grad, device)


def arange(start, end=None, step=1, dtype=None, requires_grad=False, device=None):
    """int64 when start, end and step are all ints, else float32 (PyTorch's rule)."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if (end - start) * step < 0:
        raise ValueError(f"arange: the range [{start}, {end}) cannot be walked with step {step}")
    ints = all(isinstance(v, numbers.Integral) for v in (start, end, step))
    dt = _default(dtype, np.int64 if ints else np.float32)
    n = int(np.ceil((end - start) / step))
    return _make((start + np.arange(n, dtype=np.float64) * step).astype(dt) if not ints else
                 np.arange(start, end, step).astype(dt), requires_grad, device)


def linspace(start, end, steps, dtype=None, requires_grad=False, device=None):
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"linspace: steps must be an int >= 0, got {steps!r}")
    return _make(np.linspace(start, end, int(steps)).astype(_default(dtype)), requires_grad, device)


def eye(n, m=None, dtype=None, requires_grad=False, device=None):
    return _make(np.eye(n, n if m is None else m, dtype=_default(dtype)), requires_grad, device)


def _float(dtype, op):
    dt = _default(dtype)
    if dt.kind != "f":
        raise TypeError(f"{op}: needs a floating dtype, got {dt}")
    return dt


def rand(*size, dtype=None, requires_grad=False, device=None):
    """Uniform on [0, 1), from the generator that manual_seed seeds."""
    dt = _float(dtype, "rand")
    data = _random.generator().random(_shape(size, "rand"), dtype=np.float64).astype(dt)
    return _make(data, requires_grad, device)


def randn(*size, dtype=None, requires_grad=False, device=None):
    """Standard normal, from the generator that manual_seed seeds."""
    dt = _float(dtype, "randn")
    data = _random.generator().standard_normal(_shape(size, "randn")).astype(dt)
    return _make(data, requires_grad, device)


def randint(low, high=None, size=None, dtype=None, device=None):
    """randint(high, size) or randint(low, high, size): ints in [low, high), int64 by default."""
    if size is None:
        low, high, size = 0, low, high
    if high is None or size is None:
        raise TypeError("randint: call as randint(high, size) or randint(low, high, size)")
    if high <= low:
        raise ValueError(f"randint: need low < high, got low={low}, high={high}")
    data = _random.generator().integers(low, high, _shape((size,), "randint"))
    return _make(data.astype(_default(dtype, np.int64)), False, device)


def zeros_like(input, dtype=None, requires_grad=False, device=None):
    return zeros(input.shape, dtype=input.dtype if dtype is None else dtype, requires_grad=requires_grad,
                 device=input.device if device is None else device)


def ones_like(input, dtype=None, requires_grad=False, device=None):
    return ones(input.shape, dtype=input.dtype if dtype is None else dtype, requires_grad=requires_grad,
                device=input.device if device is None else device)


def empty_like(input, dtype=None, requires_grad=False, device=None):
    return zeros_like(input, dtype, requires_grad, device)


def full_like(input, fill_value, dtype=None, requires_grad=False, device=None):
    return full(input.shape, fill_value, dtype=input.dtype if dtype is None else dtype, requires_grad=requires_grad,
                device=input.device if device is None else device)


def rand_like(input, dtype=None, requires_grad=False, device=None):
    return rand(input.shape, dtype=input.dtype if dtype is None else dtype, requires_grad=requires_grad,
                device=input.device if device is None else device)


def randn_like(input, dtype=None, requires_grad=False, device=None):
    return randn(input.shape, dtype=input.dtype if dtype is None else dtype, requires_grad=requires_grad,
                 device=input.device if device is None else device)


def from_numpy(array):
    """A tensor sharing memory with the NumPy array (changes show on both sides)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(array).__name__}")
    return Tensor(array)
