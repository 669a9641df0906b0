"""sparse, the executable specification: a CSR weight times dense activations (inference only).

The weight is a matrix W (M, K) in compressed sparse row form:
  indptr  int64 (M + 1,)  row m's entries are positions indptr[m] .. indptr[m+1]-1
  indices int32 (nnz,)    their column numbers, increasing within a row
  values  (nnz,)          their values, in the activations' dtype
A linear layer's W is its (out, in) weight. A conv layer's W is its weight as
(O, C*kh*kw), im2col's row order; with groups the matrix is block diagonal (row o of group g
holds columns g*C/groups*kh*kw ...), so one product with the columns of all channels serves
every group.
"""
import numpy as np

from .conv import im2col


def csr_matmul(indptr, indices, values, x, b=None):
    """W @ x (+ b[:, None]) for x (K, N) or a batch (B, K, N) -> (M, N) or (B, M, N).

    Every entry of W scales one row of x; rows are summed per output row with reduceat."""
    m = indptr.shape[0] - 1
    xk = np.moveaxis(x, -2, 0)                                # (K, ...)
    out = np.zeros((m,) + xk.shape[1:], dtype=x.dtype)
    starts = indptr[:-1]
    rows = np.flatnonzero(indptr[1:] > starts)                # reduceat needs non-empty rows
    if rows.size:
        contrib = values.reshape((-1,) + (1,) * (xk.ndim - 1)) * xk[indices]
        out[rows] = np.add.reduceat(contrib, starts[rows], axis=0)
    if b is not None:
        out += b.reshape((m,) + (1,) * (xk.ndim - 1))
    return np.moveaxis(out, 0, -2)


def sparse_linear_forward(x, indptr, indices, values, b):
    """y (B, M) = x (B, K) W^T + b, W (M, K) in CSR; b (M,) or None."""
    return np.ascontiguousarray(csr_matmul(indptr, indices, values, x.T, b).T)


def sparse_conv2d_forward(x, indptr, indices, values, b, kernel_size, stride, padding, dilation):
    """y (N, O, OH, OW) = W (O, C*kh*kw, CSR) @ im2col(x) + b; groups are in W's block diagonal."""
    cols = im2col(x, kernel_size, stride, padding, dilation)  # (N, C*kh*kw, OH*OW)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh = (x.shape[2] + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (x.shape[3] + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    y = csr_matmul(indptr, indices, values, cols, b)
    return y.reshape(x.shape[0], indptr.shape[0] - 1, oh, ow)
