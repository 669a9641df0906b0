"""Gradient, freezing and pruning utilities (PyTorch's torch.nn.utils)."""
from __future__ import annotations

import math
import numbers

import numpy as np

from ... import backend
from ...autograd import Tensor

__all__ = ["clip_grad_norm_"]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale the gradients of `parameters` in place so their joint norm is at most `max_norm`.

    The norm is taken over all gradients together, as if concatenated into one vector
    (norm_type p >= 0, or inf for the largest magnitude). Gradients are multiplied by
    min(1, max_norm / (total_norm + 1e-6)), PyTorch's rule (the 1e-6 avoids dividing by zero).
    Returns the total norm before clipping as a 0-d float64 Tensor on the CPU.
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = [p.grad.data for p in parameters if p.grad is not None]
    for name, v in (("max_norm", max_norm), ("norm_type", norm_type)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or math.isnan(v):
            raise TypeError(f"clip_grad_norm_: {name} must be a number, got {v!r}")
    if max_norm < 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be non-negative, got {max_norm}")
    if norm_type < 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be non-negative or inf, got {norm_type}")
    if not grads:
        return Tensor(np.array(0.0))
    p = float(norm_type)
    # each gradient's norm in float64, then the norm of those norms: equal to the norm of the
    # concatenation, without building it
    per = []
    for g in grads:
        xp = backend.array_module(g)
        a = xp.abs(g.astype(np.float64, copy=False))
        if a.size == 0:
            per.append(0.0)
        elif math.isinf(p):
            per.append(float(a.max()))
        elif p == 0:
            per.append(float(xp.count_nonzero(a)))
        else:
            per.append(float((a ** p).sum()) ** (1 / p))
    per = np.array(per)
    if math.isinf(p):
        total = float(per.max())
    elif p == 0:
        total = float(per.sum())
    else:
        total = float((per ** p).sum() ** (1 / p))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} is {total}; "
                           "pass error_if_nonfinite=False to clip anyway")
    coef = min(1.0, float(max_norm) / (total + 1e-6))
    for g in grads:
        g *= g.dtype.type(coef)
    return Tensor(np.array(total))

from ..freeze import freeze, unfreeze  # noqa: E402,F401  (transfer learning)

__all__ += ["freeze", "unfreeze"]

from . import prune  # noqa: E402,F401  (magnitude pruning, torch.nn.utils.prune)
