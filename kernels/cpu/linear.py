"""linear compiled with Numba: the same contract as kernels/reference/linear.py.

Each of the T Numba threads takes a block of columns and calls a single-threaded BLAS GEMM on
it (see _blas.py: BLAS never starts its own threads, so it never spins against Numba's):
  forward      y[:, n0:n1]  = x @ W[n0:n1]^T (+ b[n0:n1])
  grad weight  gW[n0:n1]    = g[:, n0:n1]^T @ x   (one GEMM per leaf of rows, folded: _tree.py)
  grad input   gx[:, k0:k1] = g @ W[:, k0:k1]
"""
import functools

import numpy as np
from numba import njit, prange

from . import _blas, _vec
from ._alloc import empty
from ._blas import NO_TRANS, TRANS, gemm
from ._tree import fold_vector, leaf_rows, leaf_stride
from ._workspace import threads, workspace

TILE_ROWS, TILE_COLS = 64, 512  # a tile of gW whose leaves' partial sums stay in cache
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
def _backward(g, x, w, need_gx, need_gw, nb, kb, L, ws, gx, gw, gbp):
    """gW and the leaves' bias sums gbp (L, N) float64, summed over the batch leaf by leaf
    (_tree.py): with L > 1 a thread's rows of gW go a tile at a time through its scratch ws[t]:
    one GEMM per leaf over that leaf's rows, then the fold."""
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
        elif K > 0 and L == 1:
            gemm(TRANS, NO_TRANS, n1 - n0, K, M, g[0, n0:].ctypes.data, N, x.ctypes.data, K, 0.0,
                 gw[n0:].ctypes.data, K, gw)
        elif K > 0:
            for r0 in range(n0, n1, TILE_ROWS):
                rows = min(TILE_ROWS, n1 - r0)
                for c0 in range(0, K, TILE_COLS):
                    cols = min(TILE_COLS, K - c0)
                    parts = ws[t, :L * rows * cols].reshape(L, rows, cols)
                    for leaf in range(L):
                        k = leaf_rows(M, L, leaf)
                        if k == 0:
                            parts[leaf] = 0
                        else:  # rows leaf, leaf+L, ... of g and x: strides L*N, L*K, in place
                            gemm(TRANS, NO_TRANS, rows, cols, k, g[leaf, r0:].ctypes.data, L * N,
                                 x[leaf, c0:].ctypes.data, L * K, 0.0, parts[leaf].ctypes.data,
                                 cols, gw)
                    h = L // 2
                    while h >= 1:
                        for leaf in range(h):
                            _vec.add(parts[leaf].ravel(), parts[leaf + h].ravel())
                        h //= 2
                    gw[r0:r0 + rows, c0:c0 + cols] = parts[0]
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
    nb = _blocks(w.shape[0])
    ws = workspace("linear.gw", (len(nb) - 1, L * TILE_ROWS * TILE_COLS if L > 1 else 1), x.dtype)
    gbp = workspace("linear.gb", (L, w.shape[0]), np.float64)
    with _blas.one_thread(x.dtype):
        gx, gw = _backward(g, x, w, need_input_grad, need_weight_grad, nb, _blocks(w.shape[1]), L, ws,
                           empty(x.shape if need_input_grad else (0, 0), x.dtype),
                           empty(w.shape if need_weight_grad else (0, 0), x.dtype), gbp)
    return (gx if need_input_grad else None), (gw if need_weight_grad else None), fold_vector(gbp, x.dtype)
