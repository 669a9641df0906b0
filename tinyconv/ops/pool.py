"""Pooling: max, average and adaptive average over the last two axes of NCHW input.

Each op is a Function calling the `pool` kernels of the array's backend; the public functions
validate their arguments first, and accept unbatched (C, H, W) input as PyTorch does.
Output size: floor((n + 2*padding - dilation*(kernel_size-1) - 1) / stride) + 1 (dilation is
max-pool only), or PyTorch's rounded-up size with ceil_mode.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import backend
from ..autograd import Function, Tensor
from ._checks import as_tensor, check_float, check_window, contiguous, pair

__all__ = ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d"]


class MaxPool2d(Function):
    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, dilation=(1, 1), indices_out=None):
        xp = backend.array_module(x)
        y, argmax = backend.kernels("pool", x).max_pool2d_forward(
            contiguous(xp, x), kernel_size, stride, padding, dilation)
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


class PadConstant(Function):
    """Pad H and W by (top, bottom, left, right) with a constant: -inf ahead of max pooling,
    0 ahead of average pooling (ceil_mode's overhanging windows), 0 for conv2d's odd "same"."""

    @staticmethod
    def forward(ctx, x, pads=(0, 0, 0, 0), value=0.0):
        top, bottom, left, right = ctx.pads = pads
        xp = backend.array_module(x)
        return xp.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)

    @staticmethod
    def backward(ctx, g):
        top, bottom, left, right = ctx.pads
        h, w = g.shape[2] - top - bottom, g.shape[3] - left - right
        return backend.array_module(g).ascontiguousarray(g[:, :, top:top + h, left:left + w])


def _ceil_overhang(n, k, s, p):
    """Extra right/bottom padding that ceil_mode needs for a window spanning k pixels: PyTorch's
    output size ceil((n + 2p - k) / s) + 1, less one when the last window would start in the right
    padding."""
    out = -(-(n + 2 * p - k) // s) + 1
    if (out - 1) * s >= n + p:
        out -= 1
    return max(0, (out - 1) * s + k - (n + 2 * p))


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


def _window(op, x, kernel_size, stride, padding, dilation=(1, 1)):
    """Validated (kernel_size, stride, padding) pairs for a fixed-window pool of 4-D x."""
    kernel = pair(kernel_size, "kernel_size", op, 1)
    empty = isinstance(stride, (tuple, list)) and len(stride) == 0  # PyTorch: [] means the window
    stride = kernel if stride is None or empty else pair(stride, "stride", op, 1)
    padding = pair(padding, "padding", op, 0)
    for axis, k, p in zip("HW", kernel, padding):
        if 2 * p > k:
            raise ValueError(f"{op}: padding should be at most half of kernel_size, got padding "
                             f"{padding} for kernel_size {kernel} (along {axis})")
    check_window(op, x.shape[2:], kernel, stride, padding, dilation)
    return kernel, stride, padding


def _unbatch(t, added):
    return t.reshape(t.shape[1:]) if added else t


# --- public functions -----------------------------------------------------------------------------
def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """2-D max pooling over (N, C, H, W) or (C, H, W) input; padding is implicit -inf.

    stride defaults to kernel_size; padding may be at most half of kernel_size. A window with
    dilation d reads every d-th pixel over d*(kernel_size-1)+1 of them. ceil_mode rounds the
    output size up (PyTorch's rule: a last window must start inside the input or the left
    padding). With return_indices=True also returns int64 indices of each maximum, flattened over
    its (H, W) input plane (PyTorch's convention, accepted by max_unpool2d). Ties go to the first
    maximum in row-major window order and gradients flow to it only; a window holding NaN yields
    NaN (its index is the last NaN's).
    """
    op = "max_pool2d"
    x, added = _batched(input, op)
    dilation = pair(dilation, "dilation", op, 1)
    kernel, stride, padding = _window(op, x, kernel_size, stride, padding, dilation)
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    extra = [_ceil_overhang(n, k, s, p) for n, k, s, p in zip(x.shape[2:], spans, stride, padding)] \
        if ceil_mode else [0, 0]
    holder = []
    pooled = x
    if any(extra):
        # ceil_mode's overhanging windows: explicit -inf below and to the right, the symmetric
        # padding stays the kernel's (so a window of -inf still points at its first real tap)
        pooled = PadConstant.apply(x, pads=(0, extra[0], 0, extra[1]), value=-np.inf)
    y = MaxPool2d.apply(pooled, kernel_size=kernel, stride=stride, padding=padding, dilation=dilation,
                        indices_out=holder if return_indices else None)
    if return_indices and any(extra):  # back to indices into the unpadded plane
        flat, width, w = holder[0], pooled.shape[3], x.shape[3]
        holder[0] = flat // width * w + flat % width
    y = _unbatch(y, added)
    if not return_indices:
        return y
    indices = Tensor(holder[0])
    return y, _unbatch(indices, added)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """2-D average pooling over (N, C, H, W) or (C, H, W) input, with PyTorch's options.

    By default zero padding counts towards the divisor, which is then kernel_h * kernel_w.
    count_include_pad=False divides by the number of input pixels in the window; ceil_mode rounds
    the output size up (an overhanging window is divided by its part inside the padded input);
    divisor_override replaces the divisor. stride defaults to kernel_size; padding may be at most
    half of kernel_size.
    """
    op = "avg_pool2d"
    x, added = _batched(input, op)
    kernel, stride, padding = _window(op, x, kernel_size, stride, padding)
    if divisor_override is not None and (isinstance(divisor_override, bool) or not isinstance(
            divisor_override, numbers.Integral) or divisor_override == 0):
        raise ValueError(f"{op}: divisor_override must be a non-zero int, got {divisor_override!r}")
    extra = [_ceil_overhang(n, k, s, p) for n, k, s, p in zip(x.shape[2:], kernel, stride, padding)] \
        if ceil_mode else [0, 0]
    if not any(extra) and count_include_pad and divisor_override is None:
        return _unbatch(AvgPool2d.apply(x, kernel_size=kernel, stride=stride, padding=padding), added)
    # window sums over an explicitly zero-padded plane, divided by each window's own count
    (ph, pw), (h, w) = padding, x.shape[2:]
    pads = (ph, ph + extra[0], pw, pw + extra[1])
    area = kernel[0] * kernel[1]
    sums = AvgPool2d.apply(PadConstant.apply(x, pads=pads, value=0.0), kernel_size=kernel,
                           stride=stride, padding=(0, 0)) * area
    if divisor_override is not None:
        return _unbatch(sums / float(divisor_override), added)
    xp = backend.array_module(x.data)
    counted = xp.zeros((1, 1, h + sum(pads[:2]), w + sum(pads[2:])), dtype=x.dtype)
    if count_include_pad:  # the padded input counts, ceil_mode's overhang does not
        counted[:, :, :h + 2 * ph, :w + 2 * pw] = 1
    else:
        counted[:, :, ph:ph + h, pw:pw + w] = 1
    k = backend.kernels("pool", counted)
    divisor = k.avg_pool2d_forward(counted, kernel, stride, (0, 0)) * area
    return _unbatch(sums / Tensor(divisor), added)


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
