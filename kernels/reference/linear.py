"""linear, the executable specification: y = x W^T + b with PyTorch's (out, in) weight layout.

x (M, K) — every leading axis of the op's input folded into M — w (N, K), b (N,) or None.
"""
import numpy as np


def linear_forward(x, w, b):
    y = x @ w.T
    if b is not None:
        y += b
    return y


def linear_backward(g, x, w, need_input_grad=True, need_weight_grad=True):
    """-> (gx (M, K) or None, gw (N, K) or None, gb (N,)); gb is summed in float64."""
    gx = g @ w if need_input_grad else None
    gw = g.T @ x if need_weight_grad else None
    return gx, gw, g.sum(axis=0, dtype=np.float64).astype(g.dtype)
