"""Weight initialisation with PyTorch's names and formulas, in place on `tensor.data`.

Values are drawn on the host from `tinyconv.random.generator()` (so `tinyconv.manual_seed`
makes a model reproducible on every backend), in float64, then cast to the tensor's dtype and
copied to its device. The array object is kept (views of it stay valid) and no graph is
recorded. Every function returns the tensor. Pass `generator=` (a NumPy Generator) to draw from
a private stream instead.

Which scheme is which:
- kaiming_*_ (He et al. 2015): std = gain / sqrt(fan), gain from `calculate_gain(nonlinearity, a)`.
  He-normal for ReLU nets is kaiming_normal_(t, nonlinearity="relu").
- LeCun (1998) is the same formula with gain 1: kaiming_normal_(t, nonlinearity="linear") is
  LeCun normal (std = 1/sqrt(fan_in)); kaiming_uniform_(t, nonlinearity="linear") is LeCun uniform.
- xavier_*_ (Glorot & Bengio 2010): std = gain * sqrt(2 / (fan_in + fan_out)).
- PyTorch's default for Conv2d and Linear weights is kaiming_uniform_(t, a=sqrt(5)), which is
  U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
"""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from .. import backend, random
from ..autograd import Tensor

__all__ = ["calculate_gain", "calculate_fan_in_and_fan_out", "uniform_", "normal_", "constant_",
           "zeros_", "ones_", "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_",
           "xavier_normal_"]

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity, param=None) -> float:
    """The factor that keeps activations' variance steady through `nonlinearity`.

    linear/conv/sigmoid 1, tanh 5/3, relu sqrt(2), leaky_relu sqrt(2/(1+slope^2)) with slope
    `param` (0.01 when None), selu 3/4 — PyTorch's table.
    """
    if nonlinearity in _LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, bool) or not isinstance(param, numbers.Real):
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        else:
            slope = float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; expected one of "
                     f"{_LINEAR + ('tanh', 'relu', 'leaky_relu', 'selu')}")


def calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out): inputs and outputs per unit. For a conv weight (O, I/groups, kh, kw)
    that is (I/groups * kh * kw, O * kh * kw); for a linear weight (O, I) it is (I, O)."""
    shape = tuple(tensor.shape)
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a tensor with at least 2 dimensions, got shape {shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _check(tensor, op):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{op}: expected a Tensor (or Parameter), got {type(tensor).__name__}")
    if tensor.dtype.kind != "f":
        raise TypeError(f"{op}: can only fill floating tensors, got {tensor.dtype}")


def _number(value, name, op):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{op}: {name} must be a finite number, got {value!r}")
    return float(value)


def _fill(tensor, values):
    """Write host values into tensor.data in place, on the tensor's device, in its dtype."""
    xp = backend.array_module(tensor.data)
    tensor.data[...] = xp.asarray(np.asarray(values).astype(tensor.dtype, copy=False))
    return tensor


def _gen(generator):
    return random.generator() if generator is None else generator


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill with U(a, b)."""
    _check(tensor, "uniform_")
    a, b = _number(a, "a", "uniform_"), _number(b, "b", "uniform_")
    if a > b:
        raise ValueError(f"uniform_: needs a <= b, got a={a}, b={b}")
    return _fill(tensor, _gen(generator).uniform(a, b, tensor.shape))


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill with N(mean, std^2)."""
    _check(tensor, "normal_")
    mean, std = _number(mean, "mean", "normal_"), _number(std, "std", "normal_")
    if std < 0:
        raise ValueError(f"normal_: std must be non-negative, got {std}")
    return _fill(tensor, _gen(generator).normal(mean, std, tensor.shape))


def constant_(tensor, val):
    _check(tensor, "constant_")
    if isinstance(val, bool) or not isinstance(val, numbers.Real):
        raise ValueError(f"constant_: val must be a number, got {val!r}")
    tensor.data[...] = val
    return tensor


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def _fan(tensor, mode, op):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{op}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _empty(tensor, op):
    if tensor.numel() == 0:
        warnings.warn(f"{op}: initializing a zero-element tensor is a no-op", stacklevel=3)
        return True
    return False


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """U(-bound, bound), bound = gain * sqrt(3 / fan) (He et al.); `a` is the leaky_relu slope."""
    _check(tensor, "kaiming_uniform_")
    if _empty(tensor, "kaiming_uniform_"):
        return tensor
    fan = _fan(tensor, mode, "kaiming_uniform_")
    bound = math.sqrt(3.0) * calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return _fill(tensor, _gen(generator).uniform(-bound, bound, tensor.shape))


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """N(0, std^2), std = gain / sqrt(fan) (He et al.); nonlinearity="linear" is LeCun normal."""
    _check(tensor, "kaiming_normal_")
    if _empty(tensor, "kaiming_normal_"):
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode, "kaiming_normal_"))
    return _fill(tensor, _gen(generator).normal(0.0, std, tensor.shape))


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """U(-bound, bound), bound = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio)."""
    _check(tensor, "xavier_uniform_")
    if _empty(tensor, "xavier_uniform_"):
        return tensor
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    bound = _number(gain, "gain", "xavier_uniform_") * math.sqrt(6.0 / (fan_in + fan_out))
    return _fill(tensor, _gen(generator).uniform(-bound, bound, tensor.shape))


def xavier_normal_(tensor, gain=1.0, generator=None):
    """N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)) (Glorot & Bengio)."""
    _check(tensor, "xavier_normal_")
    if _empty(tensor, "xavier_normal_"):
        return tensor
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    std = _number(gain, "gain", "xavier_normal_") * math.sqrt(2.0 / (fan_in + fan_out))
    return _fill(tensor, _gen(generator).normal(0.0, std, tensor.shape))
