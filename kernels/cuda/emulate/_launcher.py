"""Execute a launcher module of kernels/cuda/ (conv.py, pool.py, ...) as a module of this package.

Its `from . import _cuda` then finds emulate/_cuda.py, so the same Python launch code drives the
host build of the same .cu: nothing of the CuPy path is rewritten here.
"""
from __future__ import annotations

from pathlib import Path

CUDA_DIR = Path(__file__).resolve().parent.parent


def load(family: str, namespace: dict) -> None:
    path = CUDA_DIR / f"{family}.py"
    namespace["__file__"] = str(path)  # tracebacks point at the real launcher
    exec(compile(path.read_text(), str(path), "exec"), namespace)
