"""BLAS GEMM callable from inside Numba kernels, and the one-thread-pool rule.

Why: on a small machine two thread pools must not take turns. OpenBLAS's own threads spin for
a long time after every multi-threaded GEMM (2**28 cycles by default), so a Numba kernel that
runs next finds its cores busy; measured, a LeNet-5 step went from 7 ms to 120 ms that way.
So tinyconv never lets BLAS start its own threads: Numba's `prange` splits the work (samples,
groups, column blocks) and every thread calls a *single-threaded* GEMM on its own block.

- `gemm(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc)` (njit-callable, alpha = 1):
  C = op(A) @ op(B) + beta * C on raw row-major pointers (`arr.ctypes.data`), float32 or float64
  by the `dtype` argument. float32 runs tinyconv's own GEMM (`_sgemm.py`: the CPU's widest
  vectors, whatever kernels NumPy's BLAS was told to use); float64 calls the
  CBLAS of the BLAS NumPy itself uses (found through threadpoolctl), through a symbol name
  registered with LLVM, so compiled kernels stay cacheable across processes. Without a usable
  64-bit CBLAS a Numba loop GEMM stands in for those.
- `one_thread(dtype)`: a context manager that limits that BLAS to one thread (threadpoolctl) while a
  kernel runs and restores the user's setting after; nothing is changed process-wide for longer.
"""
from __future__ import annotations

import contextlib
import ctypes
import threading
import warnings

import numpy as np
from llvmlite import binding as llvm
from numba import carray, cfunc, njit, types

from ._sgemm import sgemm

NO_TRANS, TRANS = 111, 112
_ROW_MAJOR = 101
# (order, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc): ILP64 CBLAS, pointers
# passed as 64-bit integers (the same registers as pointers on every 64-bit ABI Numba targets).
_ARGS = (types.int32, types.int32, types.int32, types.int64, types.int64, types.int64)
_SIG = types.void(*_ARGS, types.float64, types.int64, types.int64, types.int64, types.int64,
                  types.float64, types.int64, types.int64)
_SYMBOL = "tinyconv_cblas_dgemm"
# ILP64 names of cblas_dgemm: NumPy's wheels (scipy-openblas), OpenBLAS built with a 64_
# suffix, MKL's _64 API. LP64 libraries are not used: their int arguments differ.
_CANDIDATES = ("scipy_cblas_dgemm64_", "cblas_dgemm64_", "cblas_dgemm_64")

_dgemm = types.ExternalFunction(_SYMBOL, _SIG)


def _fallback():
    """A plain loop dgemm with the CBLAS calling convention: correct everywhere, slow."""
    dtype = types.float64
    sig = types.void(types.int32, types.int32, types.int32, types.int64, types.int64, types.int64,
                     dtype, types.voidptr, types.int64, types.voidptr, types.int64, dtype,
                     types.voidptr, types.int64)

    @cfunc(sig)
    def gemm(order, ta, tb, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc):
        a = carray(pa, (m * lda if ta == NO_TRANS else k * lda,), dtype)
        b = carray(pb, (k * ldb if tb == NO_TRANS else n * ldb,), dtype)
        c = carray(pc, (m * ldc,), dtype)
        for i in range(m):
            for j in range(n):
                acc = c[i * ldc + j] * beta if beta != 0 else 0.0
                for p in range(k):
                    av = a[i * lda + p] if ta == NO_TRANS else a[p * lda + i]
                    bv = b[p * ldb + j] if tb == NO_TRANS else b[j * ldb + p]
                    acc += alpha * av * bv
                c[i * ldc + j] = acc
    return gemm


def _find_blas():
    """(library controller, address of its cblas_dgemm) of NumPy's BLAS, or (None, None)."""
    try:
        from threadpoolctl import ThreadpoolController
        libs = ThreadpoolController().select(user_api="blas").lib_controllers
    except Exception:  # threadpoolctl missing or unable to inspect this process
        return None, None
    for lib in libs:
        try:
            handle = ctypes.CDLL(lib.filepath)
        except OSError:
            continue
        for name in _CANDIDATES:
            fn = getattr(handle, name, None)
            if fn is not None:
                return lib, ctypes.cast(fn, ctypes.c_void_p).value
    return None, None


def _thread_functions(lib):
    """(get, set) of the BLAS thread count. For OpenBLAS the C functions themselves:
    threadpoolctl looks the symbols up on every call (~20 us, paid twice per kernel call)."""
    try:
        if lib.internal_api == "openblas" and lib.threading_layer != "openmp":
            get = lib._get_symbol("openblas_get_num_threads")
            put = lib._get_symbol("openblas_set_num_threads")
            if get is not None and put is not None:
                return get, put
    except Exception:  # a threadpoolctl without that helper: its public, slower methods
        pass
    return lib.get_num_threads, lib.set_num_threads


_LIB, _ADDR = _find_blas()
_get_threads, _set_threads = _thread_functions(_LIB) if _LIB is not None else (None, None)
if _ADDR is None:
    warnings.warn("tinyconv: no 64-bit CBLAS found beside NumPy; the Numba kernels use a slow "
                  "loop GEMM in float64 instead", RuntimeWarning, stacklevel=2)
    _FALLBACK = _fallback()
    _ADDR = _FALLBACK.address
llvm.add_symbol(_SYMBOL, _ADDR)
HAVE_BLAS = _LIB is not None


@njit(cache=True, inline="always")
def gemm(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc, dtype):
    """C (m x n) = op(A) op(B) + beta C, row-major; a/b/c are addresses, dtype an array of the type."""
    if dtype.itemsize == 4:
        sgemm(ta, tb, m, n, k, a, lda, b, ldb, np.float32(beta), c, ldc)
    else:
        _dgemm(_ROW_MAJOR, ta, tb, m, n, k, 1.0, a, lda, b, ldb, np.float64(beta), c, ldc)


class _OneThread:
    """BLAS limited to one thread while a kernel that calls `gemm` from Numba threads runs, the
    user's setting restored after (nesting and several Python threads share one count). A plain
    class: a generator-based context manager costs more than the two C calls it wraps."""

    def __init__(self):
        self._lock = threading.Lock()
        self._depth = 0
        self._saved = None

    def __enter__(self):
        if _LIB is not None:
            with self._lock:
                if self._depth == 0:
                    self._saved = _get_threads()
                    if self._saved != 1:
                        _set_threads(1)
                self._depth += 1
        return self

    def __exit__(self, *exc):
        if _LIB is not None:
            with self._lock:
                self._depth -= 1
                if self._depth == 0 and self._saved != 1:
                    _set_threads(self._saved)
        return False


_ONE_THREAD = _OneThread()


_NO_BLAS = contextlib.nullcontext()


def one_thread(dtype):
    """`with one_thread(x.dtype):` around a kernel call that uses `gemm` (see _OneThread).
    float32 GEMMs are tinyconv's own and never reach BLAS, so there is nothing to limit."""
    return _NO_BLAS if np.dtype(dtype).itemsize == 4 else _ONE_THREAD
