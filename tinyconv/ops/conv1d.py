"""1-D convolution and pooling over (N, C, L) signals, as the 2-D ops on a height-1 image.

A length-L signal is an image of height 1: viewing (N, C, L) as (N, C, 1, L) and a (O, C/g, K)
filter as (O, C/g, 1, K) turns conv1d into conv2d with stride (1, s), padding (0, p) and
dilation (1, d). The views are free reshapes, the gradients flow back through them, and every
backend's conv and pool kernels serve 1-D signals without a second kernel per family.
"""
from __future__ import annotations

import numbers

from . import _checks as C
from .conv import conv2d
from .pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d

__all__ = ["conv1d", "max_pool1d", "avg_pool1d", "adaptive_avg_pool1d"]


def single(value, name: str, op: str, minimum: int) -> int:
    """An int, or a 1-tuple/list of one int (PyTorch accepts both), >= minimum."""
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise ValueError(f"{op}: {name} must be an int or a 1-tuple, got {value!r}")
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{op}: {name} must be an int or a 1-tuple, got {value!r}")
    if value < minimum:
        what = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{op}: {name} must be {what}, got {value!r}")
    return int(value)


def _signal(input, op):
    """(input as (N, C, L), whether a batch axis was added)."""
    x = C.as_tensor(input, "input", op)
    C.check_float(x, "input", op)
    if x.ndim not in (2, 3):
        raise ValueError(f"{op}: input must be 3-D (N, C, L) or 2-D (C, L), got shape {x.shape}")
    return (x.reshape((1,) + x.shape), True) if x.ndim == 2 else (x, False)


def _back(y, added):
    """(N, C, 1, L') -> (N, C, L'), or (C, L') for unbatched input."""
    y = y.reshape(y.shape[:2] + y.shape[3:])
    return y.reshape(y.shape[1:]) if added else y


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, algo="auto"):
    """1-D convolution (cross-correlation) over (N, C, L) or unbatched (C, L) input.

    weight (O, C/groups, K); bias (O,) or None; stride, dilation: int; padding: int, "valid" or
    "same" (stride 1; an odd total d*(K-1) pads the extra sample on the right, as PyTorch). Output length floor((L + 2p - d(K-1) - 1)/s) + 1.
    Runs the conv2d kernels on the (N, C, 1, L) view; `algo` as in conv2d.
    """
    op = "conv1d"
    x, added = _signal(input, op)
    w = C.as_tensor(weight, "weight", op)
    C.check_float(w, "weight", op)
    C.check_ndim(w, 3, "weight", op, "(out_channels, in_channels/groups, kernel_size)")
    s = single(stride, "stride", op, 1)
    d = single(dilation, "dilation", op, 1)
    if isinstance(padding, str):
        pad = padding  # conv2d validates "same"/"valid"; height 1 always satisfies it
    else:
        pad = (0, single(padding, "padding", op, 0))
    k = w.shape[2]
    n = x.shape[2]
    if isinstance(pad, tuple) and k >= 1 and d * (k - 1) + 1 > n + 2 * pad[1]:
        raise ValueError(f"{op}: kernel extent {d * (k - 1) + 1} (kernel_size {k}, dilation {d}) is "
                         f"larger than the padded input length {n} + 2*{pad[1]}; input {x.shape}")
    if isinstance(groups, bool) or not isinstance(groups, numbers.Integral) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    if w.shape[0] % groups:
        raise ValueError(f"{op}: out channels {w.shape[0]} are not divisible by groups={groups} "
                         f"(weight {w.shape})")
    if x.shape[1] != w.shape[1] * groups:
        raise ValueError(f"{op}: input has {x.shape[1]} channels but weight {w.shape} with "
                         f"groups={groups} expects {w.shape[1] * groups}")
    y = conv2d(x.reshape(x.shape[:2] + (1, n)), w.reshape(w.shape[:2] + (1, k)), bias,
               stride=(1, s), padding=pad, dilation=(1, d), groups=groups, algo=algo)
    return _back(y, added)


def _window(op, x, kernel_size, stride, padding):
    k = single(kernel_size, "kernel_size", op, 1)
    s = k if stride is None else single(stride, "stride", op, 1)
    p = single(padding, "padding", op, 0)
    if 2 * p > k:
        raise ValueError(f"{op}: padding should be at most half of kernel_size, got padding {p} "
                         f"for kernel_size {k}")
    if k > x.shape[2] + 2 * p:
        raise ValueError(f"{op}: kernel_size {k} is larger than the padded input length "
                         f"{x.shape[2]} + 2*{p}; input {x.shape}")
    return (1, k), (1, s), (0, p)


def _as_image(x):
    return x.reshape(x.shape[:2] + (1, x.shape[2]))


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """1-D max pooling over (N, C, L) or (C, L); padding is implicit -inf, stride defaults to
    kernel_size, a window with dilation d reads every d-th sample. Ties send the gradient to the first maximum. return_indices=True also returns
    int64 positions of each maximum along L (PyTorch's convention)."""
    op = "max_pool1d"
    x, added = _signal(input, op)
    kernel, stride, padding = _window(op, x, kernel_size, stride, padding)
    d = single(dilation, "dilation", op, 1)
    if d * (kernel[1] - 1) + 1 > x.shape[2] + 2 * padding[1]:
        raise ValueError(f"{op}: kernel extent {d * (kernel[1] - 1) + 1} (kernel_size {kernel[1]}, "
                         f"dilation {d}) is larger than the padded input length {x.shape[2]} + "
                         f"2*{padding[1]}; input {x.shape}")
    out = max_pool2d(_as_image(x), kernel, stride, padding, (1, d), ceil_mode,
                     return_indices=return_indices)
    if not return_indices:
        return _back(out, added)
    y, indices = out  # flat h*W + w over a height-1 plane: already the position along L
    return _back(y, added), _back(indices, added)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """1-D average pooling over (N, C, L) or (C, L); zero padding counts towards the divisor,
    which is kernel_size unless count_include_pad=False; ceil_mode as avg_pool2d."""
    op = "avg_pool1d"
    x, added = _signal(input, op)
    kernel, stride, padding = _window(op, x, kernel_size, stride, padding)
    return _back(avg_pool2d(_as_image(x), kernel, stride, padding, ceil_mode, count_include_pad), added)


def adaptive_avg_pool1d(input, output_size):
    """Average pooling to a fixed length (PyTorch's windows, see adaptive_avg_pool2d)."""
    op = "adaptive_avg_pool1d"
    x, added = _signal(input, op)
    size = single(output_size, "output_size", op, 1)
    return _back(adaptive_avg_pool2d(_as_image(x), (1, size)), added)
