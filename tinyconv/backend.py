"""The one dispatch point: which array module and which kernel set serve an array.

NumPy arrays go to the CPU kernels of the selected backend ("numba" by default, "numpy" for the
reference kernels); CuPy arrays always go to the CUDA kernels. Selection, in order of precedence:
`use_backend(...)` / `set_backend(...)`, then the `TINYCONV_BACKEND` environment variable.
"""
from __future__ import annotations

import contextlib
import importlib
import os
import warnings

import numpy as np

CPU_BACKENDS = ("numpy", "numba")
# "cuda-emulated": NumPy arrays through the CUDA kernels built for the host (kernels/cuda/emulate/)
BACKENDS = CPU_BACKENDS + ("cupy", "cuda-emulated")
_FLAVOUR = {"numpy": "reference", "numba": "cpu", "cupy": "cuda", "cuda-emulated": "cuda.emulate"}

_state = {"backend": None}


def _numba_available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def _check_name(name):
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; expected one of {BACKENDS}")
    return name


def _default() -> str:
    env = os.environ.get("TINYCONV_BACKEND")
    if env:
        return _check_name(env.strip().lower())
    if _numba_available():
        return "numba"
    warnings.warn("numba is not importable; tinyconv falls back to the slow 'numpy' backend",
                  RuntimeWarning, stacklevel=3)
    return "numpy"


def get_backend() -> str:
    """The selected backend name: "numpy", "numba" or "cupy"."""
    if _state["backend"] is None:
        _state["backend"] = _default()
    return _state["backend"]


def set_backend(name: str) -> None:
    """Select the backend for every later op. "cupy" also makes new tensors default to the GPU."""
    name = _check_name(name)
    if name == "numba" and not _numba_available():
        raise RuntimeError("backend 'numba' requested but numba cannot be imported")
    if name == "cuda-emulated":
        from .kernels.cuda import emulate
        if not emulate.available():
            raise RuntimeError("backend 'cuda-emulated' requested but no C++ compiler (g++) is on PATH")
    if name == "cupy":
        from . import cuda
        if not cuda.is_available():
            raise RuntimeError("backend 'cupy' requested but no CUDA device is usable through CuPy")
    _state["backend"] = name


@contextlib.contextmanager
def use_backend(name: str):
    """Context manager: run the block on backend `name`, then restore the previous one."""
    previous = get_backend()
    set_backend(name)
    try:
        yield
    finally:
        _state["backend"] = previous


def is_cupy_array(a) -> bool:
    return type(a).__module__.startswith("cupy")


def array_module(*arrays):
    """numpy, or cupy when any argument is a CuPy array."""
    for a in arrays:
        if a is not None and is_cupy_array(a):
            import cupy
            return cupy
    return np


def kernels(family: str, *arrays):
    """The kernel module of `family` ("conv", "pool", ...) that serves these arrays."""
    if array_module(*arrays) is not np:
        flavour = "cuda"
    else:
        name = get_backend()
        flavour = _FLAVOUR[name] if name in ("numpy", "cuda-emulated") else "cpu"
    module = _MODULES.get((flavour, family))
    if module is None:  # import once: every op asks on every call
        module = _MODULES[flavour, family] = importlib.import_module(f"tinyconv.kernels.{flavour}.{family}")
    return module


_MODULES = {}
