"""Batch normalisation in NumPy: the specification (kernels/README.md, "batchnorm").

x is viewed as (N, C, L): channel c is normalised over its M = N*L values.

    mean[c] = sum x / M,  var[c] = sum (x - mean)^2 / M      (biased: the one used to normalise)
    xhat    = (x - mean) * invstd,  invstd = 1 / sqrt(var + eps)
    y       = xhat * w[c] + b[c]

Backward with batch statistics (training), gb = sum gy, gw = sum gy * xhat:

    gx = w * invstd / M * (M * gy - gb - xhat * gw)

and with fixed statistics (eval): gx = gy * w * invstd. Sums accumulate in float64.
Written with the array's own methods so CuPy arrays work too.
"""
import numpy as np


def batch_norm_stats(x):
    """(mean, biased var) per channel, float64, for x (N, C, L)."""
    mean = x.mean(axis=(0, 2), dtype=np.float64)
    centred = x.astype(np.float64) - mean[None, :, None]
    var = (centred * centred).mean(axis=(0, 2))
    return mean, var


def batch_norm_forward(x, mean, invstd, weight, bias):
    """y (N, C, L) in x's dtype; mean, invstd, weight, bias (C,)."""
    scale = (invstd * weight).astype(x.dtype)
    shift = (bias - mean * invstd * weight).astype(x.dtype)
    return x * scale[None, :, None] + shift[None, :, None]


def batch_norm_backward(gy, x, mean, invstd, weight, training):
    """(gx, gw, gb): gx (N, C, L) in x's dtype, gw and gb (C,) float64."""
    xhat = (x - mean[None, :, None]) * invstd[None, :, None]
    gb = gy.sum(axis=(0, 2), dtype=np.float64)
    gw = (gy * xhat).sum(axis=(0, 2), dtype=np.float64)
    k = (weight * invstd)[None, :, None]
    if not training:
        return (gy * k).astype(x.dtype), gw, gb
    m = x.shape[0] * x.shape[2]
    gx = k / m * (m * gy - gb[None, :, None] - xhat * gw[None, :, None])
    return gx.astype(x.dtype), gw, gb
