"""Datasets, loaders and batch augmentation.

    MNIST(source="mnist5k")     real MNIST digits, offline (4,000 train / 1,000 test)
    MNIST(source="mnist")       the full 60,000 / 10,000 from the IDX files (download_mnist)
    TensorDataset(x, y)         any arrays as a dataset
    ImageFolder(root)           your images, one sub-folder per class (Pillow, AlexNet's 256 format)
    DataLoader(ds, batch_size, shuffle, seed)   reproducible batches of Tensors
    transforms                  Pad, Normalize, RandomCrop, CenterCrop, RandomHorizontalFlip,
                                PCAColorAugmentation (+ channel_pca), Compose
    corruptions                 14 common corruptions x 5 severities (CORRUPTIONS, frequency_split)
"""
from . import transforms
from .dataset import TensorDataset
from .folder import ImageFolder
from .download import MNIST_MIRROR, MNIST_SHA256, default_root, download_mnist
from .idx import read_idx, write_idx
from .loader import DataLoader
from .mnist import MNIST, MNIST_MEAN, MNIST_STD
from .ecg import Heartbeats
from .transforms import (CenterCrop, Compose, Normalize, Pad, PCAColorAugmentation, RandomCrop,
                         RandomHorizontalFlip, channel_pca)

__all__ = [
    "CenterCrop", "Heartbeats", "ImageFolder", "MNIST", "MNIST_MEAN", "MNIST_STD", "TensorDataset", "DataLoader", "download_mnist", "default_root", "MNIST_MIRROR",
    "MNIST_SHA256", "read_idx", "write_idx", "transforms", "Compose", "Normalize", "Pad",
    "PCAColorAugmentation", "RandomCrop", "RandomHorizontalFlip", "channel_pca",
]
from .colored import PALETTE as COLORED_MNIST_PALETTE, colored_mnist  # noqa: E402
from .transforms import Grayscale  # noqa: E402

__all__ += ["COLORED_MNIST_PALETTE", "Grayscale", "colored_mnist"]
from . import corruptions  # noqa: E402

__all__ += ["corruptions"]
