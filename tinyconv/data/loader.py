"""DataLoader: batches of Tensors from a dataset, shuffled and augmented reproducibly.

Each pass (epoch) draws from a generator seeded by (seed, epoch), so the same seed replays the
same sequence of epochs, while consecutive epochs differ. The shuffle order and the random
transforms use two independent child streams, so adding an augmentation never changes the order.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import random as _random
from ..autograd import Tensor


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"DataLoader: {name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"DataLoader: {name} must be >= {minimum}, got {value}")
    return int(value)


def _as_numpy(item) -> np.ndarray:
    if isinstance(item, Tensor):
        return item.numpy()
    return np.asarray(item)


class DataLoader:
    """Iterate over `dataset` in batches: each batch is a tuple of Tensors, e.g. (images, labels).

    dataset: anything with `__len__` and `__getitem__(int)`; datasets with
        `get_batch(indices, rng)` (TensorDataset, MNIST) are gathered a whole batch at once.
    batch_size, shuffle, drop_last: as in PyTorch.
    seed: seeds the shuffle and the random transforms; None draws one from tinyconv's global
        generator (so `tinyconv.manual_seed` makes the run repeatable).
    transform: a batch transform `f(batch, rng)` applied to the first field (the inputs), after
        the dataset's own transform.

    Fields keep the dtypes the dataset gives (MNIST: float32 images, int64 labels).
    `len(loader)` is the number of batches. `set_epoch(e)` picks the epoch of the next pass
    (to resume a run); otherwise each pass advances it by one.
    sampler: an iterable of indices with `len()` (e.g. `distributed.DistributedSampler`) that
        replaces the loader's own order; mutually exclusive with shuffle, as in PyTorch. A sampler
        with `set_epoch` is told the loader's epoch at the start of every pass.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, seed=None, drop_last=False, transform=None,
                 sampler=None):
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(f"DataLoader: dataset must support len() and indexing, got {type(dataset).__name__}")
        if transform is not None and not callable(transform):
            raise TypeError(f"DataLoader: transform must be callable, got {type(transform).__name__}")
        self.dataset = dataset
        self.batch_size = _check_int(batch_size, "batch_size", 1)
        self.shuffle, self.drop_last, self.transform = bool(shuffle), bool(drop_last), transform
        if seed is None:
            seed = int(_random.generator().integers(0, 2 ** 63))
        self.seed = _check_int(seed, "seed", 0)
        self.epoch = 0
        if sampler is not None and self.shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if sampler is not None and not (hasattr(sampler, "__iter__") and hasattr(sampler, "__len__")):
            raise TypeError(f"DataLoader: sampler must be iterable with len(), got {type(sampler).__name__}")
        self.sampler = sampler

    def __len__(self) -> int:
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = _check_int(epoch, "epoch", 0)

    def _gather(self, indices, rng) -> tuple:
        if hasattr(self.dataset, "get_batch"):
            fields = self.dataset.get_batch(indices, rng=rng)
        else:
            samples = [self.dataset[int(i)] for i in indices]
            samples = [s if isinstance(s, (tuple, list)) else (s,) for s in samples]
            if len({len(s) for s in samples}) != 1:
                raise ValueError("DataLoader: samples of the dataset have different numbers of fields")
            fields = tuple(np.stack([_as_numpy(s[k]) for s in samples]) for k in range(len(samples[0])))
        return tuple(fields)

    def __iter__(self):
        order_seed, augment_seed = np.random.SeedSequence([self.seed, self.epoch]).spawn(2)
        self.epoch += 1
        n = len(self.dataset)
        if self.sampler is not None:
            if hasattr(self.sampler, "set_epoch"):
                self.sampler.set_epoch(self.epoch - 1)
            order = np.fromiter(iter(self.sampler), dtype=np.int64, count=len(self.sampler))
        else:
            order = np.random.default_rng(order_seed).permutation(n) if self.shuffle else np.arange(n)
        rng = np.random.default_rng(augment_seed)
        for b in range(len(self)):
            indices = order[b * self.batch_size:(b + 1) * self.batch_size]
            first, *rest = self._gather(indices, rng)
            if self.transform is not None:
                first = self.transform(first, rng=rng)
            yield tuple(Tensor(np.ascontiguousarray(f)) for f in (first, *rest))

    def __repr__(self):
        return (f"DataLoader(batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, batches={len(self)})")
