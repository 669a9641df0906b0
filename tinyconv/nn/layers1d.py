"""1-D layers over (N, C, L) signals with PyTorch's names and defaults: Conv1d, MaxPool1d,
AvgPool1d, AdaptiveAvgPool1d. Each runs the 2-D kernels on a height-1 view (tinyconv.ops.conv1d)."""
from __future__ import annotations

import numpy as np

from ..ops.conv import ALGOS
from ..ops.conv1d import single
from . import functional as F
from .layers import _float_dtype, _positive_int, _reset_like_pytorch
from .module import Module, Parameter

__all__ = ["Conv1d", "MaxPool1d", "AvgPool1d", "AdaptiveAvgPool1d"]


class Conv1d(Module):
    """1-D convolution; weight (out, in/groups, kernel_size), PyTorch's initialisation."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, *, algo="auto", dtype=None):
        super().__init__()
        op = "Conv1d"
        self.in_channels = _positive_int(in_channels, "in_channels", op)
        self.out_channels = _positive_int(out_channels, "out_channels", op)
        self.groups = _positive_int(groups, "groups", op)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{op}: in_channels ({in_channels}) and out_channels ({out_channels}) "
                             f"must be divisible by groups ({groups})")
        self.kernel_size = (single(kernel_size, "kernel_size", op, 1),)
        self.stride = (single(stride, "stride", op, 1),)
        self.dilation = (single(dilation, "dilation", op, 1),)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{op}: padding must be an int, 'same' or 'valid', got {padding!r}")
            if padding == "same" and self.stride != (1,):
                raise ValueError(f"{op}: padding='same' needs stride 1, got stride {self.stride}")
            self.padding = padding
        else:
            self.padding = (single(padding, "padding", op, 0),)
        if algo not in ALGOS:
            raise ValueError(f"{op}: algo must be one of {ALGOS}, got {algo!r}")
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
        padding = self.padding if isinstance(self.padding, str) else self.padding[0]
        return F.conv1d(x, self.weight, self.bias, self.stride[0], padding, self.dilation[0],
                        self.groups, algo=self.algo)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,):
            s += f", padding={self.padding!r}" if isinstance(self.padding, str) else f", padding={self.padding}"
        if self.dilation != (1,):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class _Pool1d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        op = type(self).__name__
        self.kernel_size = single(kernel_size, "kernel_size", op, 1)
        self.stride = self.kernel_size if stride is None else single(stride, "stride", op, 1)
        self.padding = single(padding, "padding", op, 0)
        if 2 * self.padding > self.kernel_size:
            raise ValueError(f"{op}: padding should be at most half of kernel_size, got padding "
                             f"{padding} for kernel_size {kernel_size}")

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool1d(_Pool1d):
    """Max over each window of the last axis; ties send the gradient to the first maximum."""

    def __init__(self, kernel_size, stride=None, padding=0, return_indices=False):
        super().__init__(kernel_size, stride, padding)
        self.return_indices = bool(return_indices)

    def forward(self, x):
        return F.max_pool1d(x, self.kernel_size, self.stride, self.padding,
                            return_indices=self.return_indices)


class AvgPool1d(_Pool1d):
    """Mean over each window of the last axis; zero padding counts towards the divisor."""

    def forward(self, x):
        return F.avg_pool1d(x, self.kernel_size, self.stride, self.padding)


class AdaptiveAvgPool1d(Module):
    """Average-pool the last axis to a fixed length whatever the input length."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = single(output_size, "output_size", "AdaptiveAvgPool1d", 1)

    def forward(self, x):
        return F.adaptive_avg_pool1d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"
