"""Layers with PyTorch's names, arguments, defaults and initialisation.

Each layer checks its hyper-parameters in the constructor, so a typo fails where it is made,
not at the first forward pass, and holds nothing but them and its Parameters: forward is one
call into `tinyconv.nn.functional`.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..ops import _checks as C
from ..ops.conv import ALGOS
from . import functional as F
from . import init
from .module import Module, Parameter

__all__ = ["Conv2d", "Linear", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "LocalResponseNorm",
           "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "Dropout", "Flatten"]


def _positive_int(value, name, layer):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{layer}: {name} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{layer}: {name} must be positive, got {value}")
    return int(value)


def _float_dtype(dtype, layer):
    dt = np.dtype(np.float32 if dtype is None else dtype)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"{layer}: dtype must be float32 or float64, got {dt}")
    return dt


def _number(value, name, layer):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise TypeError(f"{layer}: {name} must be a finite number, got {value!r}")
    return float(value)


def _reset_like_pytorch(weight, bias):
    """kaiming_uniform_(a=sqrt(5)) is U(-1/sqrt(fan_in), 1/sqrt(fan_in)); the bias gets the
    same bound. PyTorch kept this rule for compatibility; we keep it so weights look alike."""
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = init.calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        init.uniform_(bias, -bound, bound)


# --- layers with weights --------------------------------------------------------------------------
class Conv2d(Module):
    """2-D convolution over (N, C, H, W); weight (out, in/groups, kh, kw). `algo` picks the
    conv2d algorithm ("auto", "im2col", "direct"; see tinyconv.ops.conv.choose_algo)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, *, algo="auto", dtype=None):
        super().__init__()
        op = "Conv2d"
        self.in_channels = _positive_int(in_channels, "in_channels", op)
        self.out_channels = _positive_int(out_channels, "out_channels", op)
        self.groups = _positive_int(groups, "groups", op)
        if in_channels % groups:
            raise ValueError(f"Conv2d: in_channels ({in_channels}) must be divisible by groups ({groups})")
        if out_channels % groups:
            raise ValueError(f"Conv2d: out_channels ({out_channels}) must be divisible by groups ({groups})")
        self.kernel_size = C.pair(kernel_size, "kernel_size", op, 1)
        self.stride = C.pair(stride, "stride", op, 1)
        self.dilation = C.pair(dilation, "dilation", op, 1)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Conv2d: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(f"Conv2d: padding='same' needs stride 1, got stride {self.stride}")
            self.padding = padding
        else:
            self.padding = C.pair(padding, "padding", op, 0)
        if algo not in ALGOS:
            raise ValueError(f"Conv2d: algo must be one of {ALGOS}, got {algo!r}")
        self.algo = algo
        dt = _float_dtype(dtype, op)
        shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        self.weight = Parameter(np.empty(shape, dtype=dt))
        if bias:
            self.bias = Parameter(np.empty(self.out_channels, dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        _reset_like_pytorch(self.weight, self.bias)

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups, algo=self.algo)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding!r}" if isinstance(self.padding, str) else f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.algo != "auto":
            s += f", algo={self.algo!r}"
        return s


class Linear(Module):
    """y = x W^T + b; weight (out_features, in_features)."""

    def __init__(self, in_features, out_features, bias=True, *, dtype=None):
        super().__init__()
        self.in_features = _positive_int(in_features, "in_features", "Linear")
        self.out_features = _positive_int(out_features, "out_features", "Linear")
        dt = _float_dtype(dtype, "Linear")
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=dt))
        if bias:
            self.bias = Parameter(np.empty(self.out_features, dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        _reset_like_pytorch(self.weight, self.bias)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


# --- pooling and normalisation --------------------------------------------------------------------
class _Pool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        op = type(self).__name__
        kernel = C.pair(kernel_size, "kernel_size", op, 1)
        if stride is not None:
            C.pair(stride, "stride", op, 1)
        pad = C.pair(padding, "padding", op, 0)
        if any(2 * p > k for p, k in zip(pad, kernel)):
            raise ValueError(f"{op}: padding should be at most half of kernel_size, got padding "
                             f"{padding} for kernel_size {kernel_size}")
        # stored as given, like PyTorch (stride defaults to kernel_size)
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """Max over each window; ties send the gradient to the first maximum (PyTorch's rule)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__(kernel_size, stride, padding)
        C.pair(dilation, "dilation", "MaxPool2d", 1)
        self.dilation, self.ceil_mode = dilation, bool(ceil_mode)
        self.return_indices = bool(return_indices)

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)

    def extra_repr(self):
        dilated = C.pair(self.dilation, "dilation", "MaxPool2d", 1) != (1, 1)
        return (super().extra_repr() + (f", dilation={self.dilation}" if dilated else "")
                + (", ceil_mode=True" if self.ceil_mode else ""))


class AvgPool2d(_Pool2d):
    """Mean over each window; by default zero padding counts towards the divisor."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__(kernel_size, stride, padding)
        self.ceil_mode, self.count_include_pad = bool(ceil_mode), bool(count_include_pad)
        self.divisor_override = divisor_override

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)


class AdaptiveAvgPool2d(Module):
    """Average-pool to a fixed (H, W) whatever the input size; None keeps that axis."""

    def __init__(self, output_size):
        super().__init__()
        items = output_size if isinstance(output_size, (tuple, list)) else (output_size, output_size)
        if len(items) != 2:
            raise ValueError(f"AdaptiveAvgPool2d: output_size must be an int or a pair, got {output_size!r}")
        for v in items:
            if v is not None:
                _positive_int(v, "output_size", "AdaptiveAvgPool2d")
        self.output_size = tuple(output_size) if isinstance(output_size, list) else output_size

    def forward(self, x):
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class LocalResponseNorm(Module):
    """Normalise across `size` neighbouring channels. convention="torch" (default, PyTorch's and
    Caffe's) divides alpha by size; "paper" (AlexNet's) does not. See F.local_response_norm."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0, convention="torch"):
        super().__init__()
        op = "LocalResponseNorm"
        self.size = _positive_int(size, "size", op)
        self.alpha = _number(alpha, "alpha", op)
        self.beta = _number(beta, "beta", op)
        self.k = _number(k, "k", op)
        if self.alpha < 0:
            raise ValueError(f"{op}: alpha must be non-negative, got {alpha}")
        if self.k <= 0:
            raise ValueError(f"{op}: k must be positive (it keeps the base of the power positive), got {k}")
        if convention not in ("torch", "paper"):
            raise ValueError(f"{op}: convention must be 'torch' or 'paper', got {convention!r}")
        self.convention = convention

    def forward(self, x):
        return F.local_response_norm(x, self.size, self.alpha, self.beta, self.k,
                                     convention=self.convention)

    def extra_repr(self):
        s = f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
        return s + (", convention='paper'" if self.convention == "paper" else "")


# --- activations, dropout, reshaping --------------------------------------------------------------
class ReLU(Module):
    def forward(self, x):
        return F.relu(x)


class LeakyReLU(Module):
    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = _number(negative_slope, "negative_slope", "LeakyReLU")

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Tanh(Module):
    def forward(self, x):
        return F.tanh(x)


class Sigmoid(Module):
    def forward(self, x):
        return F.sigmoid(x)


class Dropout(Module):
    """Inverted dropout while training (kept units scaled by 1/(1-p)); identity in eval()."""

    def __init__(self, p=0.5):
        super().__init__()
        self.p = C.check_probability(p, "p", "Dropout")

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class Flatten(Module):
    """Merge dims start_dim..end_dim (default: everything but the batch axis)."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        for name, v in (("start_dim", start_dim), ("end_dim", end_dim)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise TypeError(f"Flatten: {name} must be an int, got {v!r}")
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward(self, x):
        return F.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
