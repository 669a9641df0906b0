"""In-memory datasets that hand out whole batches at once.

Indexing one sample works as in PyTorch (`ds[i] -> (image, label)`), but the `DataLoader` asks
for a batch of indices through `get_batch(indices, rng)`: one fancy-indexing gather and one
vectorised transform per batch instead of a Python loop over samples.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..autograd import Tensor


def _to_numpy(a) -> np.ndarray:
    if isinstance(a, Tensor):
        return a.numpy()
    if type(a).__module__.startswith("cupy"):
        return a.get()
    return np.asarray(a)


class TensorDataset:
    """Samples are rows of the given arrays (or Tensors), which share their first dimension.

    `transform(batch, rng)`, if given, is applied to batches of the first array (the inputs);
    the other arrays (labels, ...) come back as stored. Arrays keep their dtypes.
    """

    def __init__(self, *arrays, transform=None):
        if not arrays:
            raise ValueError("TensorDataset needs at least one array")
        self.arrays = tuple(_to_numpy(a) for a in arrays)
        sizes = [a.shape[0] if a.ndim else None for a in self.arrays]
        if None in sizes or len(set(sizes)) != 1:
            shapes = ", ".join(str(a.shape) for a in self.arrays)
            raise ValueError(f"TensorDataset: arrays must share a non-empty first dimension, got shapes {shapes}")
        if transform is not None and not callable(transform):
            raise TypeError(f"TensorDataset: transform must be callable, got {type(transform).__name__}")
        self.transform = transform

    def __len__(self) -> int:
        return self.arrays[0].shape[0]

    def _fields(self, indices) -> tuple:
        """The stored rows for an integer index array, before any transform."""
        return tuple(a[indices] for a in self.arrays)

    def get_batch(self, indices, rng=None) -> tuple:
        """Rows `indices` of every array, the transform applied to the first: a tuple of arrays."""
        indices = np.asarray(indices)
        if indices.ndim != 1 or (indices.size and indices.dtype.kind not in "iu"):
            raise TypeError(f"get_batch: indices must be a 1-D integer array, got {indices.dtype} "
                            f"of shape {indices.shape}")
        n = len(self)
        if indices.size and (indices.min() < -n or indices.max() >= n):
            raise IndexError(f"get_batch: indices out of range for a dataset of {n} samples "
                             f"(min {indices.min()}, max {indices.max()})")
        first, *rest = self._fields(indices)
        if self.transform is not None:
            first = self.transform(first, rng=rng)
        return (first, *rest)

    def __getitem__(self, index):
        """One sample (a tuple of arrays) for an int; a batch for a slice or an index array."""
        if isinstance(index, numbers.Integral) and not isinstance(index, bool):
            n = len(self)
            if not -n <= index < n:
                raise IndexError(f"index {index} out of range for a dataset of {n} samples")
            return tuple(a[0] for a in self.get_batch(np.array([index])))
        if isinstance(index, slice):
            return self.get_batch(np.arange(len(self))[index])
        return self.get_batch(np.asarray(index))
