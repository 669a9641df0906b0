"""Differentiable functions: each a `Function` calling the kernels picked by `backend`."""
from . import basic  # noqa: F401
