"""What every CUDA launcher shares: reading a family's .cu, compiling it (once, through CuPy at
run time; to PTX for the compile check), the launch-size helpers and the argument conversions.

Nothing here imports CuPy at module level: the compile check and the CPU-side tests of launch
geometry run on machines without it.

Every kernel is a template over the element type T, instantiated by name ("im2col<float>") through
NVRTC name expressions. Every integer kernel parameter is a C `long long` and gets numpy.int64;
a T parameter gets a scalar of the array's dtype; `double`, `unsigned long long` get numpy.float64,
numpy.uint64. (A kernel reads its arguments as raw bytes: a mismatch is silent garbage.)
"""
from __future__ import annotations

import functools
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OPTIONS = ("-std=c++17",)
CTYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
THREADS = 256          # threads per block of the flat (grid-stride) kernels
REDUCE_THREADS = 256   # must equal REDUCE_THREADS in common.cuh: block_reduce's buffer size
TILE = 16              # must equal TILE in conv.cu: the tiled kernels run (TILE, rows <= TILE) blocks
MAX_GRID = 65535       # blocks per grid axis the launchers ask for; grid-stride loops do the rest

_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]+"([A-Za-z0-9_]+\.cuh)"[ \t]*$', re.MULTILINE)


def cupy():
    """The cupy module, imported on first use (launchers call it inside their functions)."""
    import cupy
    return cupy


# --- sources and names ----------------------------------------------------------------------------
def read_source(family: str) -> str:
    """kernels/cuda/<family>.cu with each local `#include "x.cuh"` replaced by that header's text.

    One self-contained string: NVRTC needs no include path, and CuPy's compile cache (keyed on
    the source text) notices an edited header.
    """
    seen = set()

    def expand(text):
        def header(match):
            name = match.group(1)
            if name in seen:  # a header pasted once is not pasted again
                return ""
            seen.add(name)
            return expand((HERE / name).read_text())
        return _INCLUDE.sub(header, text)

    return expand((HERE / f"{family}.cu").read_text())


def ctype(dtype) -> str:
    """The C element type instantiating a kernel for arrays of `dtype`."""
    try:
        return CTYPES[np.dtype(dtype)]
    except KeyError:
        raise TypeError(f"CUDA kernels take float32 or float64 arrays, got {np.dtype(dtype)}") from None


def name_expressions(templates, plain=()) -> list:
    """Every instantiation a family needs: each template for float and double, then `plain`."""
    return [f"{t}<{c}>" for t in templates for c in CTYPES.values()] + list(plain)


# --- launch sizes ---------------------------------------------------------------------------------
def blocks(total: int, threads: int = THREADS) -> int:
    """Blocks for `total` work items at `threads` per block, capped (grid-stride loops cover the rest)."""
    return int(max(1, min(-(-int(total) // threads), MAX_GRID)))


def tiles(n: int) -> int:
    """Number of TILE-wide tiles covering n."""
    return -(-int(n) // TILE)


def i64(*values) -> tuple:
    return tuple(np.int64(v) for v in values)


def u64(value) -> np.uint64:
    """A Python int in [0, 2**64) (or any int, wrapped) as the kernel's unsigned long long."""
    return np.uint64(int(value) % 2**64)


# --- run time: compile once, launch ---------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _module(family: str, expressions: tuple, device: int):
    # One RawModule per (family, device); CuPy compiles it on first use and caches the binary
    # on disk across processes.
    return cupy().RawModule(code=read_source(family), options=OPTIONS, name_expressions=list(expressions))


class Kernels:
    """The kernels of one family: `Kernels("conv", ("im2col", ...)).launch("im2col", dtype, ...)`."""

    def __init__(self, family: str, templates, plain=()):
        self.family = family
        self.templates = tuple(templates)
        self.plain = tuple(plain)
        self.name_expressions = name_expressions(self.templates, self.plain)

    def expression(self, name: str, dtype=None) -> str:
        """The name expression of kernel `name`: `name<float>` / `name<double>`, or `name` itself."""
        expr = name if dtype is None else f"{name}<{ctype(dtype)}>"
        if expr not in self.name_expressions:
            raise KeyError(f"{self.family}.cu has no kernel {expr!r}")
        return expr

    def launch(self, name: str, dtype, grid: tuple, block: tuple, args: tuple) -> None:
        """Run kernel `name` (instantiated for `dtype`; None for a non-template) on the current device."""
        cp = cupy()
        module = _module(self.family, tuple(self.name_expressions), cp.cuda.Device().id)
        module.get_function(self.expression(name, dtype))(grid, block, args)


# --- compile check (no GPU needed) ----------------------------------------------------------------
class CompileError(RuntimeError):
    """A CUDA source failed to compile; the message holds the compiler's log."""


def _nvrtc():
    try:
        from cupy.cuda import nvrtc
        nvrtc.getVersion()  # fails when the NVRTC library itself is missing
    except Exception:
        return None
    return nvrtc


def compilers() -> list:
    """The compile routes usable here: "nvcc" (on PATH) and/or "nvrtc" (CuPy's binding + library)."""
    found = []
    if shutil.which("nvcc"):
        found.append("nvcc")
    if _nvrtc() is not None:
        found.append("nvrtc")
    return found


def compile_ptx(source: str, expressions=(), compiler: str = "nvcc", arch: int = 80) -> str:
    """Compile `source` to PTX, instantiating every name expression; raise CompileError on failure.

    nvcc: the source plus a host-side table taking each kernel's address, which makes nvcc
    instantiate it. nvrtc: the route CuPy takes at run time, with the same name expressions.
    """
    if compiler == "nvcc":
        return _nvcc_ptx(source, expressions, arch)
    if compiler == "nvrtc":
        return _nvrtc_ptx(source, expressions, arch)
    raise ValueError(f"compiler must be 'nvcc' or 'nvrtc', got {compiler!r}")


def _nvcc_ptx(source, expressions, arch):
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        raise CompileError("nvcc is not on PATH")
    if expressions:
        table = ",\n".join(f"    (const void*)&{e}" for e in expressions)
        source += ("\n// instantiate what the launcher asks for\n"
                   f"const void* tinyconv_kernels[] = {{\n{table}\n}};\n")
    with tempfile.TemporaryDirectory() as tmp:
        cu, ptx = Path(tmp) / "kernels.cu", Path(tmp) / "kernels.ptx"
        cu.write_text(source)
        # warnings are errors: an unused variable or a narrowing there is a bug here
        run = subprocess.run([nvcc, "-ptx", f"-arch=sm_{arch}", *OPTIONS, "-Werror", "all-warnings",
                              "-Wno-deprecated-gpu-targets", "-o", str(ptx), str(cu)],
                             capture_output=True, text=True)
        if run.returncode != 0:
            raise CompileError(f"nvcc failed (exit {run.returncode}):\n{run.stdout}{run.stderr}")
        return ptx.read_text()


def _nvrtc_ptx(source, expressions, arch):
    nvrtc = _nvrtc()
    if nvrtc is None:
        raise CompileError("CuPy's NVRTC binding or the NVRTC library is missing")
    program = nvrtc.createProgram(source, "kernels.cu", [], [])
    try:
        for e in expressions:
            nvrtc.addNameExpression(program, e)
        try:
            nvrtc.compileProgram(program, [f"-arch=compute_{arch}", *OPTIONS])
        except nvrtc.NVRTCError as err:
            raise CompileError(f"NVRTC failed ({err}):\n{nvrtc.getProgramLog(program)}") from None
        ptx = nvrtc.getPTX(program)
        ptx = ptx.decode() if isinstance(ptx, bytes) else ptx
        for e in expressions:  # each instantiation must exist as an entry point in the PTX
            lowered = nvrtc.getLoweredName(program, e)
            if f".entry {lowered}(" not in ptx:
                raise CompileError(f"NVRTC produced no entry point for {e!r} ({lowered})")
        return ptx
    finally:
        nvrtc.destroyProgram(program)
