"""The CUDA kernels of kernels/cuda/ built for the host and run on NumPy arrays (README.md here).

`tinyconv.set_backend("cuda-emulated")` sends every op through them; the modules activation,
conv, dropout, lrn, pool and softmax of this package answer the same calls as kernels/cuda/'s.
"""
from .build import BuildError, available  # noqa: F401
from .runtime import ORDERS, EmulationError, schedule  # noqa: F401

FAMILIES = ("activation", "conv", "dropout", "lrn", "pool", "softmax")
