"""Stand-in for kernels/cuda/_cuda.py under the launchers when they run emulated.

The launcher modules of kernels/cuda/ are executed unchanged with this module as their `_cuda`:
`cupy()` returns NumPy (whose `empty` fills new buffers with NaN or a byte pattern, so an
element a kernel forgets to write shows up), and `Kernels.launch` runs the host build of the same
.cu source. Launch geometry, argument conversion and everything else come from the real module.
"""
from __future__ import annotations

import types

import numpy as np

from .. import _cuda as real
from . import runtime
from .._cuda import (CTYPES, HERE, MAX_GRID, OPTIONS, REDUCE_THREADS, THREADS, TILE,  # noqa: F401
                     blocks, ctype, i64, name_expressions, read_source, tiles, u64)

POISON_BYTE = 0xA5


def _poison(a):
    if a.dtype.kind == "f":
        a.fill(np.nan)
    else:
        a.view(np.uint8).fill(POISON_BYTE)
    return a


def _empty(shape, dtype=float, order="C"):
    return _poison(np.empty(shape, dtype=dtype, order=order))


def _empty_like(a, dtype=None, order="K", shape=None):
    return _poison(np.empty_like(a, dtype=dtype, order=order, shape=shape))


class _NumPyAsCuPy(types.SimpleNamespace):
    """numpy, except that fresh buffers are not zero by luck (device memory is not either)."""

    def __getattr__(self, name):
        return getattr(np, name)


xp = _NumPyAsCuPy(empty=_empty, empty_like=_empty_like, asnumpy=np.asarray)


def cupy():
    return xp


class Kernels(real.Kernels):
    """The kernels of one family, launched on the host build of the family's .cu."""

    def library(self) -> runtime.Library:
        return runtime.source_library(self.family, read_source(self.family), tuple(self.name_expressions),
                                      str(HERE / f"{self.family}.cu"))

    def launch(self, name: str, dtype, grid: tuple, block: tuple, args: tuple) -> None:
        self.library().launch(self.expression(name, dtype), grid, block, args)
