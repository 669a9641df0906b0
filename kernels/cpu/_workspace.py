"""Scratch buffers that live across kernel calls, so a training step does not pay for fresh pages.

A kernel's scratch (im2col columns, per-thread partial sums) is needed only during the call. A
fresh multi-megabyte `np.empty` on every call would be served by new mmap pages, whose first
touch costs more than the work done on them; instead each named buffer is kept and grown to the
largest size asked for, the way PyTorch's caching allocator keeps blocks. Buffers are per Python
thread, so two threads running tinyconv never share scratch. `release()` gives the memory back.
"""
import math
import threading

import numba
import numpy as np

_local = threading.local()


def workspace(name, shape, dtype):
    """A C-contiguous array of `shape` and `dtype` whose contents are undefined."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    pool = getattr(_local, "pool", None)
    if pool is None:
        pool = _local.pool = {}
    buf = pool.get(name)
    if buf is None or buf.nbytes < nbytes:
        buf = pool[name] = np.empty(max(nbytes, 64), dtype=np.uint8)
    return buf[:nbytes].view(dtype).reshape(shape)


def release():
    """Drop this thread's scratch buffers (they are re-created on the next call)."""
    _local.pool = {}


def threads():
    """How many per-thread slices to cut work and scratch into: Numba's pool size, fixed at
    start-up. `numba.get_num_threads()` takes two process locks per call (~15 us, a dozen calls
    per training step); with fewer active threads (`numba.set_num_threads`) a thread simply
    takes several slices, so results do not depend on it."""
    return numba.config.NUMBA_NUM_THREADS
