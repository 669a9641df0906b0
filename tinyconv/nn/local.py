"""LocallyConnected2d: a convolution layer without weight sharing (one filter per position)."""
from __future__ import annotations

import math

import numpy as np

from ..ops import _checks as C
from . import functional as F
from . import init
from .layers import _float_dtype, _positive_int
from .module import Module, Parameter

__all__ = ["LocallyConnected2d"]


class LocallyConnected2d(Module):
    """Unshared 2-D convolution over a fixed-size (N, C, H, W) input.

    input_size (H, W) fixes the number of output positions OH x OW, each with its own
    (out_channels, in_channels, kh, kw) filter: weight (OH, OW, out, in, kh, kw), bias
    (out, OH, OW). Initialised like a Conv2d of the same kernel: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    with fan_in = in_channels*kh*kw, so each position starts as a conv layer would.
    """

    def __init__(self, in_channels, out_channels, input_size, kernel_size, stride=1, padding=0,
                 bias=True, *, dtype=None):
        super().__init__()
        op = "LocallyConnected2d"
        self.in_channels = _positive_int(in_channels, "in_channels", op)
        self.out_channels = _positive_int(out_channels, "out_channels", op)
        self.input_size = C.pair(input_size, "input_size", op, 1)
        self.kernel_size = C.pair(kernel_size, "kernel_size", op, 1)
        self.stride = C.pair(stride, "stride", op, 1)
        self.padding = C.pair(padding, "padding", op, 0)
        self.output_size = C.check_window(op, self.input_size, self.kernel_size, self.stride,
                                          self.padding)
        dt = _float_dtype(dtype, op)
        shape = self.output_size + (self.out_channels, self.in_channels) + self.kernel_size
        self.weight = Parameter(np.empty(shape, dtype=dt))
        if bias:
            self.bias = Parameter(np.empty((self.out_channels,) + self.output_size, dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1 / math.sqrt(self.in_channels * self.kernel_size[0] * self.kernel_size[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        if x.shape[-2:] != self.input_size:
            raise ValueError(f"LocallyConnected2d: built for {self.input_size[0]}x{self.input_size[1]} "
                             f"inputs, got shape {x.shape}")
        return F.locally_connected2d(x, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, input_size={self.input_size}, "
             f"kernel_size={self.kernel_size}, stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        return s + ("" if self.bias is not None else ", bias=False")
