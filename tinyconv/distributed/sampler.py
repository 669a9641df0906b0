"""DistributedSampler: each rank's share of a dataset, with PyTorch's semantics.

Every rank draws the same permutation for a (seed, epoch) and keeps positions rank, rank +
num_replicas, ... of it. When the dataset does not split evenly, drop_last=False pads the order
with its own first indices (some samples are seen twice per epoch) and drop_last=True drops the
tail, so that every rank gets `len(sampler)` samples and the ranks step in lockstep.

The permutation is the one `DataLoader(shuffle=True, seed=seed)` draws for the same epoch
(numpy's generator seeded by SeedSequence([seed, epoch])), so with one replica the sampler
reproduces the plain loader's order, and with per-rank batches of B/num_replicas the ranks'
k-th batches together are exactly the plain loader's k-th batch of B whenever num_replicas divides
the dataset (PyTorch's own sampler uses torch's generator, so its orders differ from these).
"""
from __future__ import annotations

import numbers

import numpy as np


def _int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"DistributedSampler: {name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"DistributedSampler: {name} must be >= {minimum}, got {value}")
    return int(value)


def epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled order of range(n) for (seed, epoch), shared with DataLoader."""
    order_seed, _ = np.random.SeedSequence([seed, epoch]).spawn(2)
    return np.random.default_rng(order_seed).permutation(n)


class DistributedSampler:
    """Indices of `dataset` for one rank; `set_epoch(e)` before each epoch reshuffles.

    num_replicas, rank: default to the world's size and this process's rank.
    shuffle, seed, drop_last: as in torch.utils.data.distributed.DistributedSampler.
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        if num_replicas is None or rank is None:
            from .world import get_world
            world = get_world()
            num_replicas = world.size if num_replicas is None else num_replicas
            rank = world.rank if rank is None else rank
        self.num_replicas = _int(num_replicas, "num_replicas", 1)
        self.rank = _int(rank, "rank", 0)
        if self.rank >= self.num_replicas:
            raise ValueError(f"DistributedSampler: rank {rank} must be < num_replicas {num_replicas}")
        self.dataset, self.shuffle, self.drop_last = dataset, bool(shuffle), bool(drop_last)
        self.seed, self.epoch = _int(seed, "seed", 0), 0
        n = len(dataset)
        if self.drop_last and n % self.num_replicas:
            self.num_samples = n // self.num_replicas
        else:
            self.num_samples = -(-n // self.num_replicas)
        if self.num_samples == 0:
            raise ValueError(f"DistributedSampler: a dataset of {n} samples leaves nothing for "
                             f"{self.num_replicas} replicas with drop_last=True")
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        self.epoch = _int(epoch, "epoch", 0)

    def indices(self) -> np.ndarray:
        """This rank's indices for the current epoch, as an int64 array."""
        n = len(self.dataset)
        order = epoch_permutation(n, self.seed, self.epoch) if self.shuffle else np.arange(n)
        if self.total_size > n:  # pad by repeating the start (the whole order if it is short)
            order = np.resize(order, self.total_size)
        else:
            order = order[:self.total_size]
        return order[self.rank:self.total_size:self.num_replicas].astype(np.int64)

    def __iter__(self):
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.num_samples

    def __repr__(self):
        return (f"DistributedSampler(rank={self.rank}, num_replicas={self.num_replicas}, "
                f"num_samples={self.num_samples}, shuffle={self.shuffle}, drop_last={self.drop_last})")
