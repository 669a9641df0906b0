"""Moving and casting tensors: to / float / double / type / cpu / cuda, differentiable as in
PyTorch (the gradient goes back to the source's device and dtype)."""
from __future__ import annotations

import numpy as np

from ..autograd import Function, Tensor

_DTYPE_ALIASES = {"float": "float32", "double": "float64", "half": "float16", "long": "int64",
                  "int": "int32", "short": "int16", "bool": "bool"}


def as_dtype(dtype, name="dtype"):
    """np.dtype from any spelling a user may pass: np.float32, "float32", tc.float32, float,
    "torch.float64" (None stays None)."""
    if dtype is None:
        return None
    if dtype is float:
        return np.dtype(np.float64)
    if dtype is int:
        return np.dtype(np.int64)
    if isinstance(dtype, str):
        dtype = dtype.split(".")[-1]
        dtype = _DTYPE_ALIASES.get(dtype, dtype)
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name}: {dtype!r} is not a dtype (use e.g. tinyconv.float32)") from None


def _device_name(device):
    name = str(device.device if isinstance(device, Tensor) else device).split(":")[0]
    if name not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}; expected 'cpu' or 'cuda'")
    return name


def move(a, device=None, dtype=None):
    """The array `a` on `device` with `dtype` (itself when nothing changes)."""
    on_gpu = not isinstance(a, np.ndarray) and hasattr(a, "get")
    if device == "cuda" and not on_gpu:
        from .. import cuda
        a = cuda.to_device(a)
    elif device == "cpu" and on_gpu:
        a = a.get()
    if dtype is not None and a.dtype != dtype:
        a = a.astype(dtype)
    return a


class To(Function):
    @staticmethod
    def forward(ctx, a, device=None, dtype=None):
        ctx.device = "cpu" if isinstance(a, np.ndarray) else "cuda"
        ctx.dtype = a.dtype
        return move(a, device, dtype)

    @staticmethod
    def backward(ctx, g):
        return move(g, ctx.device, ctx.dtype)


def _parse_to(args, kwargs):
    """to(device), to(dtype), to(device, dtype), to(tensor), to(device=..., dtype=...)."""
    device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
    kwargs.pop("non_blocking", None)
    copy = kwargs.pop("copy", False)
    if kwargs:
        raise TypeError(f"to(): unexpected keyword argument(s) {sorted(kwargs)}")
    if len(args) > 2:
        raise TypeError(f"to(): expected at most 2 positional arguments, got {len(args)}")
    for arg in args:
        if isinstance(arg, Tensor):
            device, dtype = arg.device, arg.dtype
        elif str(arg).split(":")[0] in ("cpu", "cuda"):
            device = arg
        else:
            try:
                dtype = as_dtype(arg)
            except TypeError:
                raise ValueError(f"to(): {arg!r} is neither a device ('cpu', 'cuda') nor a "
                                 "dtype (unknown device or dtype)") from None
    return (None if device is None else _device_name(device)), as_dtype(dtype), copy


def to(t, *args, **kwargs):
    """PyTorch's Tensor.to: returns `t` itself when neither device nor dtype changes."""
    device, dtype, copy = _parse_to(args, dict(kwargs))
    same_device = device is None or device == t.device
    same_dtype = dtype is None or dtype == t.dtype
    if same_device and same_dtype and not copy:
        return t
    if dtype is not None and dtype.kind not in "fc" and t.requires_grad:
        return Tensor(move(t.data, device, dtype))  # integer results leave the graph
    out = To.apply(t, device=device, dtype=dtype)
    if out.data is t.data:  # copy=True with nothing to change
        out.data = out.data.copy()
    return out


def type_(t, dtype=None):
    """type() names the dtype as PyTorch would ("tinyconv.float32"); type(dtype) casts."""
    if dtype is None:
        return f"tinyconv.{t.dtype}"
    return to(t, dtype=dtype)
