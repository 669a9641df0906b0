"""linear compiled with Numba: the same contract as kernels/reference/linear.py.

Each of the T Numba threads takes a block of columns and calls a single-threaded BLAS GEMM on
it (see _blas.py: BLAS never starts its own threads, so it never spins against Numba's):
  forward      y[:, n0:n1]  = x @ W[n0:n1]^T (+ b[n0:n1])
  grad weight  gW[n0:n1]    = g[:, n0:n1]^T @ x   (rows added in _tree.py's order: sgemm_tree)
  grad input   gx[:, k0:k1] = g @ W[:, k0:k1]
"""
import functools

import numpy as np
from numba import njit, prange

from . import _blas, _vec
from ._alloc import empty
from ._blas import NO_TRANS, TRANS, gemm
from ._sgemm import sgemm_tree
from ._tree import fold_vector, leaf_stride
from ._workspace import threads, workspace

ALIGN = 16  # block edges on multiples of 16 columns: whole vector registers and cache lines


def _blocks(n):
    return _edges(n, threads())


@functools.lru_cache(maxsize=512)
def _edges(n, threads):
    t = max(1, min(threads, n // ALIGN))
    step = -(-n // t)
    step = -(-step // ALIGN) * ALIGN
    edges = np.minimum(np.arange(t + 1) * step, n)
    edges.flags.writeable = False  # shared by every call with this n
    return edges


@njit(parallel=True, cache=True)
def _forward(x, w, bias, has_bias, nb, y):
    M, K = x.shape
    N = w.shape[0]
    for t in prange(nb.shape[0] - 1):
        n0, n1 = nb[t], nb[t + 1]
        if n1 == n0 or M == 0:
            continue
        if K == 0:
            y[:, n0:n1] = 0
        else:
            gemm(NO_TRANS, TRANS, M, n1 - n0, K, x.ctypes.data, K, w[n0:].ctypes.data, K, 0.0,
                 y[0, n0:].ctypes.data, N, y)
        if has_bias:
            for m in range(M):
                _vec.add(y[m, n0:n1], bias[n0:n1])
    return y


@njit(parallel=True, cache=True)
def _backward(g, x, w, need_gx, need_gw, nb, kb, L, gx, gw, gbp):
    """gW and the leaves' bias sums gbp (L, N) float64, each summed over the batch in the tree
    order of _tree.py (float32 gW: sgemm_tree; float64 gW is BLAS's, in its own order)."""
    M, K = x.shape
    N = w.shape[0]
    for t in prange(nb.shape[0] - 1):
        n0, n1 = nb[t], nb[t + 1]
        if n1 == n0:
            continue
        for leaf in range(L):
            gbp[leaf, n0:n1] = 0
            for m in range(leaf, M, L):
                for q in range(n0, n1):
                    gbp[leaf, q] += g[m, q]
        if not need_gw:
            continue
        if M == 0:
            gw[n0:n1] = 0
        elif K > 0 and x.itemsize == 4:  # A = g^T read in place: row stride 1, k stride N
            sgemm_tree(n1 - n0, K, M, L, g[0, n0:].ctypes.data, 1, N, x.ctypes.data, K,
                       gw[n0:].ctypes.data, K)
        elif K > 0:
            gemm(TRANS, NO_TRANS, n1 - n0, K, M, g[0, n0:].ctypes.data, N, x.ctypes.data, K, 0.0,
                 gw[n0:].ctypes.data, K, gw)
    if need_gx:
        for t in prange(kb.shape[0] - 1):
            k0, k1 = kb[t], kb[t + 1]
            if k1 == k0 or M == 0:
                continue
            if N == 0:
                gx[:, k0:k1] = 0
            else:
                gemm(NO_TRANS, NO_TRANS, M, k1 - k0, N, g.ctypes.data, N, w[0, k0:].ctypes.data, K,
                     0.0, gx[0, k0:].ctypes.data, K, gx)
    return gx, gw


def _bias(b, n, dtype):
    return (np.zeros(n, dtype=dtype), False) if b is None else (b, True)


def linear_forward(x, w, b):
    bias, has_bias = _bias(b, w.shape[0], x.dtype)
    with _blas.one_thread(x.dtype):
        return _forward(x, w, bias, has_bias, _blocks(w.shape[0]), empty((x.shape[0], w.shape[0]), x.dtype))


def linear_backward(g, x, w, need_input_grad=True, need_weight_grad=True):
    g = np.ascontiguousarray(g)
    L = leaf_stride(x.shape[0])
    gbp = workspace("linear.gb", (L, w.shape[0]), np.float64)
    with _blas.one_thread(x.dtype):
        gx, gw = _backward(g, x, w, need_input_grad, need_weight_grad, _blocks(w.shape[0]),
                           _blocks(w.shape[1]), L, empty(x.shape if need_input_grad else (0, 0), x.dtype),
                           empty(w.shape if need_weight_grad else (0, 0), x.dtype), gbp)
    return (gx if need_input_grad else None), (gw if need_weight_grad else None), fold_vector(gbp, x.dtype)
