"""squeeze / unsqueeze / expand / repeat / clone, with PyTorch's rules: squeezing a dim whose
size is not 1 leaves it alone; expand only stretches size-1 dims (-1 keeps a size); repeat tiles
and its gradient sums the tiles back."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function
from .basic import reshape, unbroadcast


def _sizes(sizes, op):
    sizes = sizes[0] if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else sizes
    out = []
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            raise TypeError(f"{op}: sizes must be ints, got {tuple(sizes)}")
        out.append(int(s))
    return tuple(out)


def _check_dim(dim, n, op):
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    if not -n <= dim < n:
        raise IndexError(f"{op}: dim {dim} is out of range [{-n}, {n - 1}]")
    return int(dim) % n


def squeeze(input, dim=None):
    """Drop size-1 dims: all of them, or those listed in dim (an int or a tuple)."""
    if dim is None:
        dims = {i for i, n in enumerate(input.shape) if n == 1}
    else:
        listed = dim if isinstance(dim, (tuple, list)) else (dim,)
        dims = {_check_dim(d, max(input.ndim, 1), "squeeze") for d in listed}
        dims = {d for d in dims if input.ndim and input.shape[d] == 1}
    return reshape(input, tuple(n for i, n in enumerate(input.shape) if i not in dims))


def unsqueeze(input, dim):
    """Insert a size-1 dim at position dim (dim may be -ndim-1 .. ndim)."""
    d = _check_dim(dim, input.ndim + 1, "unsqueeze")
    return reshape(input, input.shape[:d] + (1,) + input.shape[d:])


class Expand(Function):
    @staticmethod
    def forward(ctx, a, shape=()):
        ctx.shape = a.shape
        return backend.array_module(a).broadcast_to(a, shape)

    @staticmethod
    def backward(ctx, g):
        return unbroadcast(g, ctx.shape)


def expand(input, *sizes):
    """A broadcast view of shape `sizes`; -1 keeps that dim, new dims go in front."""
    sizes = _sizes(sizes, "expand")
    if len(sizes) < input.ndim:
        raise ValueError(f"expand: {len(sizes)} sizes for a {input.ndim}-D tensor of shape {input.shape}")
    lead = len(sizes) - input.ndim
    shape = []
    for i, s in enumerate(sizes):
        own = input.shape[i - lead] if i >= lead else None
        if s == -1:
            if own is None:
                raise ValueError(f"expand: -1 is not allowed for the new leading dim {i} ({sizes})")
            s = own
        if s < 0 or (own is not None and own != 1 and own != s):
            raise ValueError(f"expand: cannot expand shape {input.shape} to {sizes} (dim {i})")
        shape.append(s)
    return Expand.apply(input, shape=tuple(shape))


class Repeat(Function):
    @staticmethod
    def forward(ctx, a, reps=()):
        ctx.original = a.shape
        a = a.reshape((1,) * (len(reps) - a.ndim) + a.shape)
        ctx.shape, ctx.reps = a.shape, reps
        return backend.array_module(a).tile(a, reps)

    @staticmethod
    def backward(ctx, g):
        interleaved = [n for pair in zip(ctx.reps, ctx.shape) for n in pair]
        g = g.reshape(interleaved).sum(axis=tuple(range(0, 2 * len(ctx.reps), 2)))
        return g.reshape(ctx.original)


def repeat(input, *sizes):
    """Tile the tensor sizes[i] times along dim i (PyTorch's repeat, NumPy's tile)."""
    reps = _sizes(sizes, "repeat")
    if len(reps) < input.ndim:
        raise ValueError(f"repeat: {len(reps)} repeat counts for a {input.ndim}-D tensor "
                         f"(need at least {input.ndim})")
    if any(r < 0 for r in reps):
        raise ValueError(f"repeat: repeat counts must be >= 0, got {reps}")
    return Repeat.apply(input, reps=reps)


class Clone(Function):
    @staticmethod
    def forward(ctx, a):
        return a.copy()

    @staticmethod
    def backward(ctx, g):
        return g


def clone(input):
    """A copy that stays in the graph (gradient passes straight through)."""
    return Clone.apply(input)


def contiguous(input):
    """Self when already C-contiguous, else a copy in the graph."""
    return input if input.data.flags.c_contiguous else Clone.apply(input)
