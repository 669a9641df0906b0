"""Integer inference kernels (int8 x int8 -> int32), the specification in NumPy.

An int8 activation q stands for (q - z) * s (z: its zero point); an int8 weight w for w * s_w
(symmetric, no zero point). A layer accumulates the exact integer sum

    acc = bias + sum (q - z) * w           (int32; padding holds the zero point, i.e. real 0)

and `requantize` maps acc to the next int8 activation with an integer multiplier and a shift
(see README.md, "quantized"). Accumulation is exact: the caller keeps every sum inside int32.
"""
import numpy as np


def _shifted(x, zero_point, padding):
    """x - zero_point in int64, zero-padded (real 0 outside the image)."""
    ph, pw = padding
    xs = x.astype(np.int64) - zero_point
    return np.pad(xs, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def conv2d_int8(x, x_zero_point, w, bias, stride, padding):
    """x int8 (N, C, H, W), w int8 (O, C, kh, kw), bias int32 (O,) or None -> int32 (N, O, OH, OW)."""
    sh, sw = stride
    kh, kw = w.shape[2:]
    xs = _shifted(x, x_zero_point, padding)
    win = np.lib.stride_tricks.sliding_window_view(xs, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    acc = np.einsum("nchwij,ocij->nohw", win, w.astype(np.int64))
    if bias is not None:
        acc += bias.astype(np.int64)[None, :, None, None]
    return acc.astype(np.int32)


def linear_int8(x, x_zero_point, w, bias):
    """x int8 (M, K), w int8 (N, K), bias int32 (N,) or None -> int32 (M, N)."""
    acc = (x.astype(np.int64) - x_zero_point) @ w.astype(np.int64).T
    if bias is not None:
        acc += bias.astype(np.int64)
    return acc.astype(np.int32)


def requantize(acc, multiplier, shift, zero_point, qmin, qmax):
    """int32 acc (N, C, ...) -> int8: clamp(zero_point + ((acc*M0[c] + 2**(s[c]-1)) >> s[c]), qmin, qmax).

    multiplier M0 (C,) and shift s (C,) int64 with 0 <= M0 < 2**31, 1 <= s <= 62: the product is
    exact in int64 and `>>` floors, so this is acc * M0 / 2**s rounded half up (towards +inf).
    """
    bshape = (1, -1) + (1,) * (acc.ndim - 2)
    m = multiplier.astype(np.int64).reshape(bshape)
    s = shift.astype(np.int64).reshape(bshape)
    v = (acc.astype(np.int64) * m + (np.int64(1) << (s - 1))) >> s
    return np.clip(v + zero_point, qmin, qmax).astype(np.int8)


def max_pool2d_int8(x, kernel_size, stride):
    """int8 (N, C, H, W) -> int8 max over windows (no padding; max commutes with the affine map)."""
    (kh, kw), (sh, sw) = kernel_size, stride
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    return win.max(axis=(4, 5))
