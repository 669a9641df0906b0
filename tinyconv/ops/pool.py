"""Pooling: max, average and adaptive average over the last two axes of NCHW input.

Each op is a Function calling the `pool` kernels of the array's backend; the public functions
validate their arguments first, and accept unbatched (C, H, W) input as PyTorch does.
Output size: floor((n + 2*padding - kernel_size) / stride) + 1 (no dilation, no ceil_mode).
"""
from __future__ import annotations

import numbers

from .. import backend
from ..autograd import Function, Tensor
from ._checks import as_tensor, check_float, check_window, contiguous, pair

__all__ = ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d"]


class MaxPool2d(Function):
    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, indices_out=None):
        xp = backend.array_module(x)
        y, argmax = backend.kernels("pool", x).max_pool2d_forward(
            contiguous(xp, x), kernel_size, stride, padding)
        ctx.x_shape = x.shape
        ctx.save_for_backward(argmax)
        if indices_out is not None:  # return_indices: the caller wants the argmax as well
            indices_out.append(argmax)
        return y

    @staticmethod
    def backward(ctx, g):
        (argmax,) = ctx.saved
        xp = backend.array_module(g)
        return backend.kernels("pool", g).max_pool2d_backward(contiguous(xp, g), argmax, ctx.x_shape)


class AvgPool2d(Function):
    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding):
        xp = backend.array_module(x)
        ctx.x_shape, ctx.window = x.shape, (kernel_size, stride, padding)
        return backend.kernels("pool", x).avg_pool2d_forward(contiguous(xp, x), kernel_size, stride, padding)

    @staticmethod
    def backward(ctx, g):
        xp = backend.array_module(g)
        return backend.kernels("pool", g).avg_pool2d_backward(contiguous(xp, g), ctx.x_shape, *ctx.window)


class AdaptiveAvgPool2d(Function):
    @staticmethod
    def forward(ctx, x, output_size):
        xp = backend.array_module(x)
        ctx.x_shape, ctx.output_size = x.shape, output_size
        return backend.kernels("pool", x).adaptive_avg_pool2d_forward(contiguous(xp, x), output_size)

    @staticmethod
    def backward(ctx, g):
        xp = backend.array_module(g)
        return backend.kernels("pool", g).adaptive_avg_pool2d_backward(
            contiguous(xp, g), ctx.x_shape, ctx.output_size)


# --- argument handling ----------------------------------------------------------------------------
def _batched(input, op):
    """(input as a 4-D tensor, whether a batch axis was added). Raises on bad input."""
    t = as_tensor(input, "input", op)
    check_float(t, "input", op)
    if t.ndim not in (3, 4):
        raise ValueError(f"{op}: input must be 3-D (C, H, W) or 4-D (N, C, H, W), got shape {t.shape}")
    if min(t.shape[-3:]) == 0:
        raise ValueError(f"{op}: input needs non-empty channel and spatial axes, got shape {t.shape}")
    return (t.reshape((1,) + t.shape), True) if t.ndim == 3 else (t, False)


def _window(op, x, kernel_size, stride, padding):
    """Validated (kernel_size, stride, padding) pairs for a fixed-window pool of 4-D x."""
    kernel = pair(kernel_size, "kernel_size", op, 1)
    stride = kernel if stride is None else pair(stride, "stride", op, 1)
    padding = pair(padding, "padding", op, 0)
    for axis, k, p in zip("HW", kernel, padding):
        if 2 * p > k:
            raise ValueError(f"{op}: padding should be at most half of kernel_size, got padding "
                             f"{padding} for kernel_size {kernel} (along {axis})")
    check_window(op, x.shape[2:], kernel, stride, padding)
    return kernel, stride, padding


def _unbatch(t, added):
    return t.reshape(t.shape[1:]) if added else t


# --- public functions -----------------------------------------------------------------------------
def max_pool2d(input, kernel_size, stride=None, padding=0, *, return_indices=False):
    """2-D max pooling over (N, C, H, W) or (C, H, W) input; padding is implicit -inf.

    stride defaults to kernel_size; padding may be at most half of kernel_size. With
    return_indices=True also returns int64 indices of each maximum, flattened over its (H, W)
    input plane (PyTorch's convention, accepted by max_unpool2d). Ties go to the first maximum in
    row-major window order and gradients flow to it only; a window holding NaN yields NaN.
    """
    op = "max_pool2d"
    x, added = _batched(input, op)
    kernel, stride, padding = _window(op, x, kernel_size, stride, padding)
    holder = []
    y = MaxPool2d.apply(x, kernel_size=kernel, stride=stride, padding=padding,
                        indices_out=holder if return_indices else None)
    y = _unbatch(y, added)
    if not return_indices:
        return y
    indices = Tensor(holder[0])
    return y, _unbatch(indices, added)


def avg_pool2d(input, kernel_size, stride=None, padding=0):
    """2-D average pooling over (N, C, H, W) or (C, H, W) input.

    Zero padding counts towards the divisor, which is always kernel_h * kernel_w (PyTorch's
    default count_include_pad=True). stride defaults to kernel_size; padding may be at most
    half of kernel_size.
    """
    op = "avg_pool2d"
    x, added = _batched(input, op)
    kernel, stride, padding = _window(op, x, kernel_size, stride, padding)
    return _unbatch(AvgPool2d.apply(x, kernel_size=kernel, stride=stride, padding=padding), added)


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output size (an int or an (H, W) pair; None keeps that axis).

    Output index i of n_out over n_in averages inputs [floor(i*n_in/n_out), ceil((i+1)*n_in/n_out)),
    PyTorch's windows: they tile the input exactly when n_out divides n_in, overlap otherwise.
    """
    op = "adaptive_avg_pool2d"
    x, added = _batched(input, op)
    items = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    if len(items) != 2:
        raise ValueError(f"{op}: output_size must be an int or a pair, got {output_size!r}")
    size = []
    for n_in, n_out in zip(x.shape[2:], items):
        if n_out is None:
            n_out = n_in
        if isinstance(n_out, bool) or not isinstance(n_out, numbers.Integral):
            raise TypeError(f"{op}: output_size must hold ints or None, got {output_size!r}")
        if n_out < 1:
            raise ValueError(f"{op}: output_size must be positive, got {output_size!r}")
        size.append(int(n_out))
    return _unbatch(AdaptiveAvgPool2d.apply(x, output_size=tuple(size)), added)
