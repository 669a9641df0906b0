"""Differentiable functions with PyTorch's names, argument order and defaults."""
from ..ops.basic import flatten  # noqa: F401
