"""Local response normalisation across channels in NumPy: the specification (kernels/README.md, "lrn").

The AlexNet paper's form, alpha not divided by size:

    scale[c] = k + alpha * sum_{c' in [c - size//2, c + (size-1)//2], 0 <= c' < C} x[c']^2
    y[c]     = x[c] * scale[c]^(-beta)

Backward. Let a = size//2 and b = (size-1)//2, so channel c reads [c - a, c + b]. Channel j is
then read by every c in [j - b, j + a]: the mirror image of the forward window (the two differ
when size is even). With d scale[c] / d x[j] = 2 alpha x[j] for those c,

    gx[j] = gy[j] * scale[j]^(-beta)
            - 2 alpha beta x[j] * sum_{c in [j - b, j + a]} gy[c] * x[c] * scale[c]^(-beta-1)

and x[c] * scale[c]^(-beta-1) = y[c] / scale[c].
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _channel_window_sum(a, before, after):
    """out[:, c] = sum of a[:, c'] for c' in [c - before, c + after] inside [0, C)."""
    padded = np.pad(a, ((0, 0), (before, after), (0, 0), (0, 0)))
    return sliding_window_view(padded, before + after + 1, axis=1).sum(axis=-1)


def lrn_forward(x, size, alpha, beta, k):
    half_before, half_after = size // 2, (size - 1) // 2
    scale = k + alpha * _channel_window_sum(x * x, half_before, half_after)
    return x * scale ** -beta, scale


def lrn_backward(gy, x, y, scale, size, alpha, beta):
    half_before, half_after = size // 2, (size - 1) // 2
    # the transposed window: what channel j feeds lies in [j - half_after, j + half_before]
    spread = _channel_window_sum(gy * y / scale, half_after, half_before)
    return gy * scale ** -beta - (2 * alpha * beta) * x * spread
