"""Differentiable functions: each a `Function` calling the kernels picked by `backend`."""
from . import basic  # noqa: F401
from . import methods  # noqa: F401  (gives Tensor its operators and methods)
