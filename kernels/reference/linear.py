"""linear, the executable specification: y = x W^T + b with PyTorch's (out, in) weight layout.

x (M, K) — every leading axis of the op's input folded into M — w (N, K), b (N,) or None.
"""
import numpy as np

from ._tree import batch_sum, leaf_stride, tree_sum


def rowwise(a, b):
    """a @ b one row of a at a time (a stack of 1-row products). BLAS picks its kernels by
    matrix size, so a whole-batch product may round a row differently from the same row in a
    smaller batch; this way a row's result does not depend on the rows that come with it."""
    return np.matmul(a[:, None, :], b)[:, 0]


def linear_forward(x, w, b):
    y = rowwise(x, w.T)
    if b is not None:
        y += b
    return y


def linear_backward(g, x, w, need_input_grad=True, need_weight_grad=True):
    """-> (gx (M, K) or None, gw (N, K) or None, gb (N,)); the batch sums in the order of
    _tree.py: gW one GEMM per leaf of rows, the leaves added as a tree; gb's leaves in float64."""
    gx = rowwise(g, w) if need_input_grad else None
    gw = None
    if need_weight_grad:
        L = leaf_stride(len(x))
        rows = lambda a, l: np.ascontiguousarray(a[l::L])  # noqa: E731 (BLAS: same strides as a rank's)
        gw = tree_sum(lambda l: rows(g, l).T @ rows(x, l), L)
    return gx, gw, batch_sum(g, np.float64)
