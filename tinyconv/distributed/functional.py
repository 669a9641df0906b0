"""Differentiable communication: how activations cross between ranks in a model split.

all_gather(x, dim) concatenates every rank's `x` along `dim` (rank order). Its backward depends
on who consumes the result:
  grad="sum"   (default) each rank feeds the gathered tensor into its *own* weights (conv3 and
               the FC layers of a split AlexNet), so the gradient of rank r's piece is the sum of
               every rank's gradient for that piece: a reduce-scatter.
  grad="local" every rank runs the *same* computation on it (the loss after the last layer), so
               each rank's gradient already is the whole gradient: keep rank r's slice.
halo_exchange(x, before, after) gives each rank the neighbouring ranks' edge slices along `dim`
(what a cross-channel window such as LRN needs at the split), with the same gradient rule.
"""
from __future__ import annotations

from ..autograd import Function, Tensor
from ..backend import array_module
from ..ops.basic import cat


def _pad_to(xp, a, dim, size):
    if a.shape[dim] == size:
        return a
    widths = [(0, 0)] * a.ndim
    widths[dim] = (0, size - a.shape[dim])
    return xp.pad(a, widths)


class _AllGather(Function):
    @staticmethod
    def forward(ctx, x, group=None, dim=0, sizes=None, grad="sum"):
        xp = array_module(x)
        ctx.group, ctx.dim, ctx.sizes, ctx.grad = group, dim, sizes, grad
        top = max(sizes)
        parts = group.allgather(xp.ascontiguousarray(_pad_to(xp, x, dim, top)))
        pieces = [xp.take(parts[r], xp.arange(sizes[r]), axis=dim) for r in range(group.size)]
        return xp.concatenate(pieces, axis=dim)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        group, dim, sizes = ctx.group, ctx.dim, ctx.sizes
        start = sum(sizes[:group.rank])
        own = xp.arange(start, start + sizes[group.rank])
        if ctx.grad == "local":
            return xp.ascontiguousarray(xp.take(g, own, axis=dim))
        bounds, acc = [], 0
        for s in sizes[:-1]:
            acc += s
            bounds.append(acc)
        top = max(sizes)
        stacked = xp.stack([_pad_to(xp, p, dim, top) for p in xp.split(g, bounds, axis=dim)])
        mine = group.reduce_scatter(xp.ascontiguousarray(stacked))
        return xp.ascontiguousarray(xp.take(mine, xp.arange(sizes[group.rank]), axis=dim))


def _group(group):
    if group is None:
        from .world import get_world
        return get_world()
    return group


def all_gather(x: Tensor, dim=0, group=None, sizes=None, grad="sum") -> Tensor:
    """Every rank's `x` concatenated along `dim` in rank order (a differentiable allgather).

    sizes: each rank's extent along `dim` when they differ (default: all equal to this rank's).
    grad: "sum" or "local", see the module docstring.
    """
    group = _group(group)
    if not isinstance(x, Tensor):
        raise TypeError(f"all_gather expects a Tensor, got {type(x).__name__}")
    dim = dim % x.ndim
    sizes = [x.shape[dim]] * group.size if sizes is None else [int(s) for s in sizes]
    if len(sizes) != group.size or sizes[group.rank] != x.shape[dim]:
        raise ValueError(f"all_gather: sizes {sizes} must list one extent per rank ({group.size}) and "
                         f"match this rank's x.shape[{dim}] = {x.shape[dim]}")
    if grad not in ("sum", "local"):
        raise ValueError(f"all_gather: grad must be 'sum' or 'local', got {grad!r}")
    return _AllGather.apply(x, group=group, dim=dim, sizes=tuple(sizes), grad=grad)


def halo_exchange(x: Tensor, before: int, after: int, dim=1, group=None) -> Tensor:
    """x with the previous rank's last `before` and the next rank's first `after` slices along
    `dim` attached (none at the ends of the rank order). Every rank's x must have the same shape."""
    group = _group(group)
    dim = dim % x.ndim
    n = x.shape[dim]
    if not 0 <= before <= n or not 0 <= after <= n:
        raise ValueError(f"halo_exchange: halos ({before}, {after}) must fit in the {n} slices along dim {dim}")
    if group.size == 1 or before + after == 0:
        return x
    index = [slice(None)] * x.ndim
    head, tail = list(index), list(index)
    head[dim], tail[dim] = slice(0, after), slice(n - before, n)
    edges = cat([x[tuple(head)], x[tuple(tail)]], dim=dim)  # what the neighbours need from us
    everyone = all_gather(edges, dim=dim, group=group)
    width, r, parts = after + before, group.rank, []
    if r > 0 and before:
        lo = [slice(None)] * x.ndim
        lo[dim] = slice((r - 1) * width + after, r * width)
        parts.append(everyone[tuple(lo)])
    parts.append(x)
    if r < group.size - 1 and after:
        hi = [slice(None)] * x.ndim
        hi[dim] = slice((r + 1) * width, (r + 1) * width + after)
        parts.append(everyone[tuple(hi)])
    return cat(parts, dim=dim) if len(parts) > 1 else x
