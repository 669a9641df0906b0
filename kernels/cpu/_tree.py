"""The order every parameter gradient is summed over a batch in (kernels/reference/_tree.py).

L = leaf_stride(n) (the reference's); leaf l holds rows l, l+L, l+2L, ... and is summed in that
order; `fold` adds the L leaf sums pairwise, v[l] += v[l + h] for h = L/2, ..., 1. The last step
adds the sum of the even rows to the sum of the odd rows, each the same tree over its own rows:
a batch split the way DistributedSampler deals it (rank r: rows r, r+2, ...) gives, added,
bitwise the batch's sum; and no thread count changes a bit of it.
"""
from numba import njit, prange

from ..reference._tree import CONV_LEAF, LEAF, leaf_stride  # noqa: F401 (one definition)
from . import _vec


@njit(cache=True)
def leaf_rows(n, L, leaf):
    """How many of the n rows leaf `leaf` of stride L holds."""
    return (n - leaf + L - 1) // L if leaf < n else 0


@njit(parallel=True, cache=True)
def fold(parts):
    """parts (L, R, K): the leaves' sums -> parts[0] (the other slices are overwritten)."""
    L, R = parts.shape[0], parts.shape[1]
    for r in prange(R):
        h = L // 2
        while h >= 1:
            for leaf in range(h):
                _vec.add(parts[leaf, r], parts[leaf + h, r])
            h //= 2
    return parts[0]


def fold_vector(parts, dtype):
    """parts (L, O): the leaves' bias sums (float64) -> (O,) in `dtype`. Each leaf is rounded to
    `dtype` before the fold, as a rank's whole sum is before the ranks' sums are added."""
    leaves = parts.astype(dtype)
    return fold(leaves.reshape(leaves.shape[0], 1, leaves.shape[1]))[0].copy()
