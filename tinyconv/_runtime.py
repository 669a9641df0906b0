"""Process settings that decide whether a 2-core machine runs our kernels fast or slowly.

Imported first by `tinyconv/__init__.py`, before NumPy where possible.

1. BLAS spin time. After a GEMM, OpenBLAS's worker threads busy-wait for more work; the
   Numba kernel that runs next (im2col, a transpose) then shares the cores with spinning
   threads. Measured: a 0.07 ms Numba reshuffle took 3-10 ms right after a GEMM, 0.09 ms with
   OPENBLAS_THREAD_TIMEOUT=4 (the shortest spin). Only effective if NumPy is not yet imported;
   an explicit setting in the environment wins.
2. Large temporaries. glibc serves big allocations with fresh mmap pages and unmaps them on
   free, so every training step pays the page faults again (a fresh 112 MB array: ~300 ms to
   fill, a reused one ~12 ms; im2col for AlexNet's conv2 went from 54 ms to 19 ms). Raising
   the mmap and trim thresholds makes glibc recycle the memory.

TINYCONV_RUNTIME_TUNING=0 leaves the process untouched.
"""
import ctypes
import os
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def tune() -> dict:
    done = {"blas_spin": False, "malloc": False}
    if os.environ.get("TINYCONV_RUNTIME_TUNING", "1") == "0":
        return done
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
        done["blas_spin"] = os.environ["OPENBLAS_THREAD_TIMEOUT"] == "4"
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6")
        except OSError:  # musl or another libc: leave it alone
            return done
        done["malloc"] = (libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30) == 1
                          and libc.mallopt(_M_TRIM_THRESHOLD, 1 << 31) == 1)
    return done


TUNED = tune()
