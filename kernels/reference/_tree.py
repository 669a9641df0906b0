"""The order every parameter gradient is summed over a batch in: the specification.

A weight's gradient adds one term per sample. Added left to right, its float rounding would
depend on how the batch was cut: two ranks each adding half a batch, or two threads each adding
a share, round differently from one loop, and over an epoch a max-pool or ReLU near-tie can turn
one rounding into another model. So every flavour adds a batch of n terms as a fixed tree:

- the leaf stride L is the smallest power of two with L * LEAF >= n (conv: CONV_LEAF samples);
- leaf l holds rows l, l+L, l+2L, ... (at most LEAF of them), added in that order, in float64
  for bias sums (then rounded to the data's dtype);
- the leaves are added pairwise: (leaves with even l) + (leaves with odd l), each the same tree
  one level down.

The top split is even rows against odd rows, the way DistributedSampler deals a batch to two
ranks, and each half's tree is the tree of its own rows. So sum(batch) == sum(rows 0::2) +
sum(rows 1::2), bitwise, in every flavour's own arithmetic; a thread count changes nothing.
"""
import numpy as np

LEAF = 16  # rows per leaf at most (kernels/cpu/_tree.py imports these)
# conv: a sample is a whole GEMM's work, so its leaves are shorter: on small batches more leaves
# keep more threads busy (their partial sums are small); a linear row is one multiply-add per
# weight, so its leaves are longer: fewer merges.
CONV_LEAF = 8


def leaf_stride(n, leaf=LEAF):
    """The smallest power of two L with L * leaf >= n (1 for n <= leaf)."""
    L = 1
    while L * leaf < n:
        L *= 2
    return L


def tree_sum(leaf, L):
    """leaf(0) + ... + leaf(L-1) in the tree's order; only log2(L) + 1 partial sums live at once."""
    def node(first, step):  # the leaves first, first + step, first + 2*step, ...
        if step == L:
            return leaf(first)
        return node(first, 2 * step) + node(first + step, 2 * step)
    return node(0, 1)


def batch_sum(terms, dtype=None, leaf=LEAF):
    """terms (n, ...) summed over the batch axis in the tree's order (leaves of at most `leaf`
    rows); dtype: accumulate each leaf in this (wider) type, then round it to the terms' dtype."""
    n = terms.shape[0]
    if n == 0:
        return np.zeros(terms.shape[1:], terms.dtype)
    L = leaf_stride(n, leaf)

    def leaf(l):
        rows = terms[l::L]
        total = rows[0].astype(dtype or terms.dtype)
        for row in rows[1:]:  # at most LEAF rows, in order
            total = total + row
        return total.astype(terms.dtype)
    return tree_sum(leaf, L)
