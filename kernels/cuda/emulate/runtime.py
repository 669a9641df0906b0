"""Load an emulated kernel library through ctypes and launch its kernels on NumPy arrays.

A launch checks what a GPU launch cannot: every argument against the C parameter type the
kernel declares (arrays: dtype, C-contiguous, aligned, writable where the pointer is not const,
no output overlapping another argument; scalars: exactly the NumPy type of the C type), then
runs the grid with the threads of each block in the schedule set by `schedule(...)`.
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import threading
from collections import Counter
from pathlib import Path

import numpy as np

from . import build

ORDERS = ("forward", "reverse", "shuffle")  # thread (and block) orders; see cuda_emulate.h

_SCALARS = {  # C type -> (the NumPy scalar type a launcher must pass, its ctypes type)
    "long long": (np.int64, ctypes.c_longlong),
    "unsigned long long": (np.uint64, ctypes.c_ulonglong),
    "int": (np.int32, ctypes.c_int),
    "unsigned int": (np.uint32, ctypes.c_uint),
    "float": (np.float32, ctypes.c_float),
    "double": (np.float64, ctypes.c_double),
}
_POINTEES = {"float": np.float32, "double": np.float64, "long long": np.int64,
             "unsigned long long": np.uint64, "int": np.int32, "unsigned int": np.uint32,
             "unsigned char": np.uint8}

_settings = {"order": "forward", "seed": 0}
# ctypes lets go of the GIL during a call, but a launch uses process-wide state (the scheduler,
# __shared__ statics): one launch at a time.
_launch_lock = threading.Lock()
launched: Counter = Counter()  # (library name, name expression) -> launches, for coverage tests


class EmulationError(RuntimeError):
    """A kernel misbehaved in a way the emulator detects (divergent barrier, bad warp mask, ...)."""


def sanitize_requested() -> bool:
    """TINYCONV_EMULATE_SANITIZE=1: build and run with AddressSanitizer and UBSan."""
    return os.environ.get("TINYCONV_EMULATE_SANITIZE", "") not in ("", "0")


def asan_loaded() -> bool:
    """Whether the AddressSanitizer runtime is in this process (it must be preloaded)."""
    return hasattr(ctypes.CDLL(None), "__asan_init")


def sanitizer_environment(base=None) -> dict:
    """Environment for a child process that runs the sanitized libraries: ASan's runtime
    preloaded (it must come before everything else), leaks not reported (CPython keeps
    allocations to exit), every finding fatal."""
    env = dict(os.environ if base is None else base)
    cxx = build.compiler()
    if cxx is None:
        raise build.BuildError("no C++ compiler found")
    import subprocess
    libasan = subprocess.run([cxx, "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    if not Path(libasan).is_absolute() or not Path(libasan).exists():
        raise build.BuildError(f"{cxx} has no AddressSanitizer runtime (libasan.so)")
    env["LD_PRELOAD"] = " ".join(filter(None, [libasan, env.get("LD_PRELOAD")]))
    env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=1:halt_on_error=1"
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    env["TINYCONV_EMULATE_SANITIZE"] = "1"
    return env


@contextlib.contextmanager
def schedule(order: str, seed: int = 0):
    """Run the launches inside the block with the threads of every block in `order`
    ("forward", "reverse" or "shuffle", a fresh permutation each round, drawn from `seed`)."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    previous = dict(_settings)
    _settings.update(order=order, seed=int(seed))
    try:
        yield
    finally:
        _settings.update(previous)


class Library:
    """One compiled source: its kernels by name expression, each with its parameter types."""

    def __init__(self, name: str, source: str, expressions, source_path: Path | None = None):
        self.name = name
        self.sanitized = sanitize_requested()
        if self.sanitized and not asan_loaded():
            raise EmulationError(
                "TINYCONV_EMULATE_SANITIZE is set but AddressSanitizer's runtime is not loaded: run "
                "the process with runtime.sanitizer_environment() (LD_PRELOAD=$(g++ "
                "-print-file-name=libasan.so))")
        self.path = build.library(name, source, expressions, self.sanitized, source_path)
        self._lib = ctypes.CDLL(str(self.path))
        self._lib.tce_name.restype = ctypes.c_char_p
        self._lib.tce_signature.restype = ctypes.c_char_p
        self._lib.tce_launch.argtypes = [
            ctypes.c_int, ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(ctypes.c_uint),
            ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_ulonglong, ctypes.c_char_p, ctypes.c_int]
        self.kernels = {}
        for i in range(self._lib.tce_count()):
            signature = self._lib.tce_signature(i).decode()
            self.kernels[self._lib.tce_name(i).decode()] = (i, tuple(signature.split(",")) if signature else ())

    def signature(self, expression: str) -> tuple:
        """The C parameter types of kernel `expression`, e.g. ("const float*", "long long", ...)."""
        return self.kernels[expression][1]

    def launch(self, expression: str, grid, block, args) -> None:
        if expression not in self.kernels:
            raise KeyError(f"{self.name} has no kernel {expression!r}")
        index, signature = self.kernels[expression]
        if len(args) != len(signature):
            raise TypeError(f"{expression} takes {len(signature)} arguments ({', '.join(signature)}), "
                            f"got {len(args)}")
        keep, pointers, copies = [], [], []
        for position, (ctype, arg) in enumerate(zip(signature, args)):
            where = f"{expression} argument {position} ({ctype})"
            if ctype.endswith("*"):
                array = _check_array(where, ctype, arg)
                if self.sanitized:  # a buffer of exactly its size, so ASan's redzones sit at its ends
                    copy = np.empty_like(array)
                    copy[...] = array
                    copies.append((array, copy, ctype.startswith("const ")))
                    array = copy
                storage = ctypes.c_void_p(array.ctypes.data)
            else:
                storage = _scalar(where, ctype, arg)
            keep.append(storage)
            pointers.append(ctypes.addressof(storage))
        _check_overlap(expression, signature, args)
        argv = (ctypes.c_void_p * max(len(pointers), 1))(*pointers)
        grid3 = (ctypes.c_uint * 3)(*_dims(grid, "grid"))
        block3 = (ctypes.c_uint * 3)(*_dims(block, "block"))
        message = ctypes.create_string_buffer(512)
        with _launch_lock:
            rc = self._lib.tce_launch(index, grid3, block3, argv, ORDERS.index(_settings["order"]),
                                      _settings["seed"], message, len(message))
        launched[(self.name, expression)] += 1
        for original, copy, const in copies:
            if const:
                if not np.array_equal(original, copy, equal_nan=original.dtype.kind == "f"):
                    raise EmulationError(f"{expression} wrote through a const pointer")
            else:
                original[...] = copy
        if rc != 0:
            raise EmulationError(f"{expression} <<<{tuple(grid3)}, {tuple(block3)}>>>: {message.value.decode()}")


def _dims(dims, what):
    dims = tuple(int(d) for d in dims)
    if not 1 <= len(dims) <= 3 or any(d < 1 or d >= 2**31 for d in dims):
        raise ValueError(f"{what} must be 1 to 3 positive sizes, got {dims}")
    return dims + (1,) * (3 - len(dims))


def _check_array(where, ctype, arg):
    if not isinstance(arg, np.ndarray):
        raise TypeError(f"{where}: expected a NumPy array, got {type(arg).__name__}")
    pointee = ctype.removeprefix("const ").removesuffix("*")
    expected = np.dtype(_POINTEES[pointee])
    if arg.dtype != expected:
        raise TypeError(f"{where}: expected a {expected} array, got {arg.dtype} (shape {arg.shape})")
    if not arg.flags.c_contiguous:
        raise ValueError(f"{where}: the array (shape {arg.shape}, strides {arg.strides}) is not "
                         "C-contiguous; a kernel reads raw memory")
    if not arg.flags.aligned:
        raise ValueError(f"{where}: the array is not aligned")
    if not ctype.startswith("const ") and not arg.flags.writeable:
        raise ValueError(f"{where}: the kernel writes to a read-only array")
    return arg


def _scalar(where, ctype, arg):
    numpy_type, c_type = _SCALARS[ctype]
    if type(arg) is not numpy_type:
        raise TypeError(f"{where}: expected numpy.{numpy_type.__name__}, got {type(arg).__name__} "
                        "(a kernel reads its arguments as raw bytes)")
    return c_type(arg.item())


def _check_overlap(expression, signature, args):
    """Every pointer parameter of these kernels is __restrict__: an output may share memory
    with no other argument."""
    arrays = [(i, a) for i, (t, a) in enumerate(zip(signature, args)) if t.endswith("*") and a.size]
    for i, a in arrays:
        if signature[i].startswith("const "):
            continue
        for j, b in arrays:
            if j != i and np.shares_memory(a, b):
                raise ValueError(f"{expression}: argument {i} ({signature[i]}) overlaps argument {j}")


@functools.lru_cache(maxsize=None)
def source_library(name: str, source: str, expressions: tuple, source_path: str | None = None) -> Library:
    """The library of a source text, compiled (or taken from the disk cache) once per process."""
    return Library(name, source, expressions, None if source_path is None else Path(source_path))
