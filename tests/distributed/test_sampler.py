"""DistributedSampler: PyTorch's sharding, padding and drop_last; the DataLoader's shuffle order."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinyconv import data
from tinyconv.distributed import DistributedSampler


@given(n=st.integers(1, 40), replicas=st.integers(1, 6), drop_last=st.booleans(), shuffle=st.booleans(),
       seed=st.integers(0, 5), epoch=st.integers(0, 3))
def test_shards_cover_the_dataset_like_pytorch(n, replicas, drop_last, shuffle, seed, epoch):
    if drop_last and n < replicas:
        with pytest.raises(ValueError, match="drop_last"):
            DistributedSampler(range(n), replicas, 0, drop_last=True)
        return
    samplers = [DistributedSampler(range(n), replicas, r, shuffle=shuffle, seed=seed, drop_last=drop_last)
                for r in range(replicas)]
    for s in samplers:
        s.set_epoch(epoch)
    shards = [s.indices() for s in samplers]
    per_rank = n // replicas if drop_last else -(-n // replicas)
    assert all(len(s) == per_rank and len(sh) == per_rank for s, sh in zip(samplers, shards))
    # rank r's k-th index is position k*replicas + r of one shared (padded) order
    interleaved = np.stack(shards, axis=1).reshape(-1)
    order = (np.random.default_rng(np.random.SeedSequence([seed, epoch]).spawn(2)[0]).permutation(n)
             if shuffle else np.arange(n))
    expect = np.resize(order, replicas * per_rank)  # PyTorch pads by repeating the start
    np.testing.assert_array_equal(interleaved, expect)
    if not drop_last:
        assert set(interleaved.tolist()) == set(range(n))


@pytest.mark.torch
@pytest.mark.parametrize("n,replicas,drop_last", [(10, 3, False), (10, 3, True), (2, 5, False), (12, 4, False)])
def test_unshuffled_indices_equal_torch(n, replicas, drop_last):
    pytest.importorskip("torch")
    from torch.utils.data.distributed import DistributedSampler as TorchSampler
    for r in range(replicas):
        ours = list(DistributedSampler(range(n), replicas, r, shuffle=False, drop_last=drop_last))
        theirs = list(TorchSampler(range(n), replicas, r, shuffle=False, drop_last=drop_last))
        assert ours == theirs


def test_one_replica_replays_the_shuffled_loader():
    ds = data.TensorDataset(np.arange(23.0)[:, None], np.arange(23))
    plain = data.DataLoader(ds, batch_size=5, shuffle=True, seed=3)
    sampled = data.DataLoader(ds, batch_size=5, seed=3, sampler=DistributedSampler(ds, 1, 0, seed=3))
    for _ in range(2):  # two epochs: the loader passes its epoch on to the sampler
        for (a, _), (b, _) in zip(plain, sampled):
            np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_two_ranks_batches_union_is_the_global_batch():
    ds = data.TensorDataset(np.arange(20.0)[:, None], np.arange(20))
    plain = [y.numpy() for _, y in data.DataLoader(ds, batch_size=8, shuffle=True, seed=1)]
    ranks = [[y.numpy() for _, y in data.DataLoader(ds, batch_size=4, seed=1,
                                                   sampler=DistributedSampler(ds, 2, r, seed=1))]
             for r in range(2)]
    assert len(plain) == len(ranks[0]) == len(ranks[1]) == 3
    for k, batch in enumerate(plain):
        assert sorted(batch.tolist()) == sorted(ranks[0][k].tolist() + ranks[1][k].tolist())


def test_set_epoch_reshuffles_identically_on_every_rank():
    a, b = (DistributedSampler(range(50), 2, r, seed=9) for r in range(2))
    first = (a.indices(), b.indices())
    a.set_epoch(1)
    b.set_epoch(1)
    assert not np.array_equal(first[0], a.indices())
    assert set(a.indices()) | set(b.indices()) == set(range(50))
    assert not set(a.indices()) & set(b.indices())


@pytest.mark.parametrize("kwargs,match", [
    (dict(num_replicas=2, rank=2), "rank 2 must be < num_replicas 2"),
    (dict(num_replicas=0, rank=0), "num_replicas must be >= 1"),
    (dict(num_replicas=2, rank=-1), "rank must be >= 0"),
    (dict(num_replicas=2.0, rank=0), "num_replicas must be an int"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        DistributedSampler(range(4), **kwargs)


def test_loader_refuses_sampler_with_shuffle():
    with pytest.raises(ValueError, match="mutually exclusive"):
        data.DataLoader(range(4), shuffle=True, sampler=DistributedSampler(range(4), 1, 0))
    with pytest.raises(TypeError, match="sampler must be iterable"):
        data.DataLoader(range(4), sampler=3)
