"""TensorDataset and DataLoader: batching, reproducible shuffles and augmentation, errors."""
import numpy as np
import pytest

import tinyconv
from tinyconv import Tensor
from tinyconv.data import DataLoader, RandomHorizontalFlip, TensorDataset


def ramp(n=10):
    """Images whose every pixel is the sample index, labels = index: easy to trace."""
    x = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None, None], (n, 1, 2, 3)).copy()
    return TensorDataset(x, np.arange(n, dtype=np.int64))


def order_of(loader):
    return np.concatenate([y.numpy() for _, y in loader])


# --- TensorDataset ----------------------------------------------------------------------------

def test_tensor_dataset_indexing():
    x = np.arange(12, dtype=np.float64).reshape(4, 3)
    ds = TensorDataset(tinyconv.tensor(x), [0, 1, 2, 3])
    assert len(ds) == 4
    a, b = ds[-1]
    np.testing.assert_array_equal(a, [9.0, 10.0, 11.0])
    assert b == 3
    a, b = ds[1:3]
    np.testing.assert_array_equal(a, x[1:3])
    assert a.dtype == np.float64  # dtypes are kept
    a, _ = ds[np.array([3, 0])]
    np.testing.assert_array_equal(a, x[[3, 0]])


def test_tensor_dataset_errors():
    with pytest.raises(ValueError, match=r"\(4, 3\), \(5,\)"):
        TensorDataset(np.zeros((4, 3)), np.zeros(5))
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()
    ds = TensorDataset(np.zeros((4, 3)))
    with pytest.raises(IndexError, match="out of range"):
        ds[4]
    with pytest.raises(IndexError, match="out of range"):
        ds.get_batch(np.array([0, 7]))
    with pytest.raises(TypeError, match="integer"):
        ds.get_batch(np.array([0.5]))


# --- DataLoader -------------------------------------------------------------------------------

@pytest.mark.parametrize("drop_last, sizes", [(False, [3, 3, 3, 1]), (True, [3, 3, 3])])
def test_batches_in_order(drop_last, sizes):
    loader = DataLoader(ramp(10), batch_size=3, drop_last=drop_last)
    batches = list(loader)
    assert len(loader) == len(batches) == len(sizes)
    assert [len(y) for _, y in batches] == sizes
    x, y = batches[1]
    assert isinstance(x, Tensor) and isinstance(y, Tensor)
    assert x.dtype == np.float32 and y.dtype == np.int64 and x.shape == (3, 1, 2, 3)
    np.testing.assert_array_equal(y.numpy(), [3, 4, 5])
    np.testing.assert_array_equal(x.numpy()[:, 0, 0, 0], [3, 4, 5])  # images travel with labels


def test_shuffle_is_a_permutation_reproducible_per_seed_and_epoch():
    a = DataLoader(ramp(50), batch_size=8, shuffle=True, seed=7)
    b = DataLoader(ramp(50), batch_size=8, shuffle=True, seed=7)
    first, second = order_of(a), order_of(a)
    np.testing.assert_array_equal(np.sort(first), np.arange(50))
    assert not np.array_equal(first, np.arange(50))
    assert not np.array_equal(first, second)  # a new order each epoch
    np.testing.assert_array_equal(order_of(b), first)  # the same run replays
    np.testing.assert_array_equal(order_of(b), second)
    a.set_epoch(0)  # resuming picks the epoch's order back up
    np.testing.assert_array_equal(order_of(a), first)
    assert not np.array_equal(order_of(DataLoader(ramp(50), batch_size=8, shuffle=True, seed=8)), first)


def test_seed_none_follows_manual_seed():
    tinyconv.manual_seed(3)
    first = order_of(DataLoader(ramp(30), batch_size=4, shuffle=True))
    tinyconv.manual_seed(3)
    np.testing.assert_array_equal(order_of(DataLoader(ramp(30), batch_size=4, shuffle=True)), first)


def test_augmentation_is_reproducible_and_leaves_the_order_alone():
    x = np.arange(20 * 1 * 1 * 4, dtype=np.float32).reshape(20, 1, 1, 4)
    ds = TensorDataset(x, np.arange(20))
    def run(transform):
        loader = DataLoader(ds, batch_size=5, shuffle=True, seed=11, transform=transform)
        return [(xb.numpy(), yb.numpy()) for xb, yb in loader]
    plain, flipped, again = run(None), run(RandomHorizontalFlip(0.5)), run(RandomHorizontalFlip(0.5))
    for (xp, yp), (xf, yf), (xa, ya) in zip(plain, flipped, again):
        np.testing.assert_array_equal(yp, yf)
        np.testing.assert_array_equal(xf, xa)
        was_flipped = (xf != xp).any(axis=(1, 2, 3))
        np.testing.assert_array_equal(xf[was_flipped], xp[was_flipped][..., ::-1])
    n_flipped = sum(int((xf != xp).any(axis=(1, 2, 3)).sum()) for (xp, _), (xf, _) in zip(plain, flipped))
    assert 0 < n_flipped < 20


def test_dataset_transform_gets_the_loader_generator():
    seen = []
    def record(x, rng=None):
        seen.append(rng.integers(1 << 30))
        return x
    ds = TensorDataset(np.zeros((4, 1, 1, 1), np.float32), np.zeros(4, np.int64), transform=record)
    list(DataLoader(ds, batch_size=2, seed=5))
    list(DataLoader(ds, batch_size=2, seed=5))
    assert seen[:2] == seen[2:] and seen[0] != seen[1]


def test_plain_indexable_datasets_are_stacked():
    class Pairs:
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return tinyconv.tensor(np.full((2, 2), i, dtype=np.float32)), i

    batches = list(DataLoader(Pairs(), batch_size=2))
    x, y = batches[-1]
    assert x.shape == (1, 2, 2) and y.dtype == np.int64
    np.testing.assert_array_equal(batches[1][1].numpy(), [2, 3])
    np.testing.assert_array_equal(batches[1][0].numpy()[:, 0, 0], [2.0, 3.0])


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(batch_size=2.0), TypeError, "batch_size"),
    (dict(batch_size=True), TypeError, "batch_size"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(transform="flip"), TypeError, "transform"),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        DataLoader(ramp(4), **kwargs)
    with pytest.raises(TypeError, match="dataset"):
        DataLoader(42)
