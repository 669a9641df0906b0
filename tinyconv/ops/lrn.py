"""Local response normalisation across channels (AlexNet, section 3.3)."""
from __future__ import annotations

import math
import numbers

from .. import backend
from ..autograd import Function
from ._checks import as_tensor, check_float, contiguous

__all__ = ["local_response_norm"]


class LocalResponseNorm(Function):
    """The kernels' form: alpha multiplies the plain sum of squares (the paper's convention)."""

    @staticmethod
    def forward(ctx, x, size, alpha, beta, k):
        xp = backend.array_module(x)
        x = contiguous(xp, x)
        y, scale = backend.kernels("lrn", x).lrn_forward(x, size, alpha, beta, k)
        ctx.params = size, alpha, beta
        ctx.save_for_backward(x, y, scale)
        return y

    @staticmethod
    def backward(ctx, g):
        x, y, scale = ctx.saved
        xp = backend.array_module(g)
        return backend.kernels("lrn", g).lrn_backward(contiguous(xp, g), x, y, scale, *ctx.params)


def _number(value, name, op):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise TypeError(f"{op}: {name} must be a finite number, got {value!r}")
    return float(value)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0, convention="torch"):
    """Normalise each value by the energy of its `size` neighbouring channels.

    For channel c of input (N, C, *) the window is [c - size//2, c + (size-1)//2], clipped to
    the channels that exist (for even sizes it reaches one channel further back than forward),
    and S_c is the sum of a_j^2 over it:

    - convention="torch" (default, PyTorch's and Caffe's formula): b_c = a_c / (k + alpha/size * S_c)^beta
    - convention="paper" (Krizhevsky et al. 2012):                 b_c = a_c / (k + alpha * S_c)^beta

    so alpha_torch = size * alpha_paper. AlexNet uses size=5, alpha=1e-4 (paper), beta=0.75, k=2,
    i.e. local_response_norm(x, 5, 1e-4, 0.75, 2.0, convention="paper"), which equals
    local_response_norm(x, 5, 5e-4, 0.75, 2.0) and torch.nn.functional.local_response_norm with
    the same arguments.

    Requirements: size an int >= 1, alpha >= 0, k > 0 (so the base is positive and no NaN can
    arise from finite input), input of 3 or more dims with at least one channel.
    """
    op = "local_response_norm"
    t = as_tensor(input, "input", op)
    check_float(t, "input", op)
    if t.ndim < 3:
        raise ValueError(f"{op}: input must be (N, C, *) with at least 3 dims, got shape {t.shape}")
    if t.shape[1] == 0:
        raise ValueError(f"{op}: input needs at least one channel, got shape {t.shape}")
    if isinstance(size, bool) or not isinstance(size, numbers.Integral):
        raise TypeError(f"{op}: size must be an int, got {size!r}")
    if size < 1:
        raise ValueError(f"{op}: size must be at least 1, got {size}")
    alpha, beta, k = _number(alpha, "alpha", op), _number(beta, "beta", op), _number(k, "k", op)
    if alpha < 0:
        raise ValueError(f"{op}: alpha must be non-negative, got {alpha}")
    if k <= 0:
        raise ValueError(f"{op}: k must be positive, got {k}")
    if convention not in ("torch", "paper"):
        raise ValueError(f"{op}: convention must be 'torch' or 'paper', got {convention!r}")
    if convention == "torch":
        alpha = alpha / size

    # the kernels take (N, C, H, W): fold any trailing axes into one
    shape = t.shape
    rows = 1
    for n in shape[2:]:
        rows *= n
    x = t if t.ndim == 4 else t.reshape(shape[0], shape[1], rows, 1)
    y = LocalResponseNorm.apply(x, size=int(size), alpha=alpha, beta=beta, k=k)
    return y if t.ndim == 4 else y.reshape(shape)
