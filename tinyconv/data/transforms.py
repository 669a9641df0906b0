"""Vectorised batch transforms: each maps a NumPy batch (N, C, H, W) to a new batch.

Every transform is called as `t(batch, rng=None)`. Random ones draw from `rng`, a
`numpy.random.Generator` (the DataLoader passes its per-epoch generator, so runs reproduce);
without one they use tinyconv's global generator (`tinyconv.manual_seed`). Each random draw is
one call for the whole batch, never a Python loop over images.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import random as _random
from ..ops._checks import check_probability, pair


def _check_batch(x, op: str) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{op}: expects a NumPy batch, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{op}: expects a batch (N, C, H, W), got shape {x.shape}")
    return x


def _check_float(x, op: str) -> None:
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expects a floating batch, got {x.dtype}; convert with .astype(np.float32)")


def _generator(rng):
    return _random.generator() if rng is None else rng


def _per_channel(values, name: str, op: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim > 1 or arr.size == 0:
        raise ValueError(f"{op}: {name} must be a number or a 1-D sequence, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{op}: {name} must be finite, got {values!r}")
    return arr.reshape(-1)


def _match_channels(values, channels: int, name: str, op: str, shape) -> np.ndarray:
    if values.size not in (1, channels):
        raise ValueError(f"{op}: {name} has {values.size} values but the batch {shape} has "
                         f"{channels} channels")
    return values.reshape(-1, 1, 1)


class Compose:
    """Apply transforms in order, passing the same generator to each."""

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for i, t in enumerate(self.transforms):
            if not callable(t):
                raise TypeError(f"Compose: transforms[{i}] is not callable ({type(t).__name__})")

    def __call__(self, x, rng=None):
        rng = _generator(rng)
        for t in self.transforms:
            x = t(x, rng=rng)
        return x

    def __repr__(self):
        return "Compose(" + ", ".join(map(repr, self.transforms)) + ")"


class Pad:
    """Pad the spatial border, as torchvision: an int (all sides), (left/right, top/bottom) or
    (left, top, right, bottom). padding_mode: "constant" (with `fill`), "edge" or "reflect"."""

    MODES = ("constant", "edge", "reflect")

    def __init__(self, padding, fill=0.0, padding_mode="constant"):
        if isinstance(padding, numbers.Integral) and not isinstance(padding, bool):
            padding = (padding,) * 4
        elif isinstance(padding, (tuple, list)) and len(padding) == 2:
            padding = (padding[0], padding[1], padding[0], padding[1])
        if not (isinstance(padding, (tuple, list)) and len(padding) == 4 and all(
                isinstance(p, numbers.Integral) and not isinstance(p, bool) for p in padding)):
            raise TypeError(f"Pad: padding must be an int or a tuple of 2 or 4 ints, got {padding!r}")
        if min(padding) < 0:
            raise ValueError(f"Pad: padding must be non-negative, got {padding!r}")
        if padding_mode not in self.MODES:
            raise ValueError(f"Pad: padding_mode must be one of {self.MODES}, got {padding_mode!r}")
        if not isinstance(fill, numbers.Real):
            raise TypeError(f"Pad: fill must be a number, got {fill!r}")
        self.padding = tuple(int(p) for p in padding)
        self.fill, self.padding_mode = fill, padding_mode

    def __call__(self, x, rng=None):
        x = _check_batch(x, "Pad")
        left, top, right, bottom = self.padding
        if self.padding_mode == "reflect" and (max(top, bottom) >= x.shape[2] or max(left, right) >= x.shape[3]):
            raise ValueError(f"Pad: reflect padding {self.padding} must be smaller than the image "
                             f"size {x.shape[2:]}")
        widths = ((0, 0), (0, 0), (top, bottom), (left, right))
        if self.padding_mode == "constant":
            return np.pad(x, widths, mode="constant", constant_values=self.fill)
        return np.pad(x, widths, mode=self.padding_mode)

    def __repr__(self):
        return f"Pad({self.padding}, fill={self.fill}, padding_mode={self.padding_mode!r})"


class Normalize:
    """(x - mean) / std per channel; mean and std are numbers or one value per channel."""

    def __init__(self, mean, std):
        self.mean = _per_channel(mean, "mean", "Normalize")
        self.std = _per_channel(std, "std", "Normalize")
        if np.any(self.std <= 0):
            raise ValueError(f"Normalize: std must be positive, got {std!r}")

    def __call__(self, x, rng=None):
        x = _check_batch(x, "Normalize")
        _check_float(x, "Normalize")
        c = x.shape[1]
        mean = _match_channels(self.mean, c, "mean", "Normalize", x.shape).astype(x.dtype)
        std = _match_channels(self.std, c, "std", "Normalize", x.shape).astype(x.dtype)
        return (x - mean) / std

    def __repr__(self):
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class RandomCrop:
    """Crop a random (h, w) window from each image, after zero-padding it by `padding`
    (any form `Pad` takes: an int, (left/right, top/bottom) or (left, top, right, bottom))."""

    def __init__(self, size, padding=0):
        self.size = pair(size, "size", "RandomCrop", minimum=1)
        self.pad = Pad(padding)
        self.padding = self.pad.padding

    def __call__(self, x, rng=None):
        x = _check_batch(x, "RandomCrop")
        if any(self.padding):
            x = self.pad(x)
        (h, w), (H, W) = self.size, x.shape[2:]
        if h > H or w > W:
            raise ValueError(f"RandomCrop: crop size {self.size} is larger than the padded image "
                             f"({H}, {W}) (padding {self.padding})")
        rng = _generator(rng)
        n = x.shape[0]
        top = rng.integers(0, H - h + 1, size=n)
        left = rng.integers(0, W - w + 1, size=n)
        # windows[n, c, i, j] is the (h, w) crop at (i, j); advanced indices on axes 0, 2, 3
        # pick one window per image and move the batch axis first: (N, C, h, w).
        windows = np.lib.stride_tricks.sliding_window_view(x, (h, w), axis=(2, 3))
        return windows[np.arange(n), :, top, left]

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror each image left-right with probability p."""

    def __init__(self, p=0.5):
        self.p = check_probability(p, "p", "RandomHorizontalFlip")

    def __call__(self, x, rng=None):
        x = _check_batch(x, "RandomHorizontalFlip")
        flip = _generator(rng).random(x.shape[0]) < self.p
        return np.where(flip[:, None, None, None], x[..., ::-1], x)

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


class PCAColorAugmentation:
    """AlexNet's "fancy PCA" lighting noise (Krizhevsky et al., 2012, section 4.1).

    Each image gets the same colour shift at every pixel: eigvecs @ (alpha * eigvals), with
    alpha ~ N(0, std^2) drawn per image and per component. eigvals (C,) and eigvecs (C, C,
    eigenvectors as columns) come from the pixel covariance of the training set:
    see `channel_pca`. The paper uses std=0.1 on RGB values in [0, 255]; the shift scales
    with the eigenvalues, so the same std works for data in [0, 1] when the PCA is computed on it.
    """

    def __init__(self, eigvals, eigvecs, std=0.1):
        eigvals = np.asarray(eigvals, dtype=np.float64)
        eigvecs = np.asarray(eigvecs, dtype=np.float64)
        if eigvals.ndim != 1 or eigvecs.shape != (eigvals.size, eigvals.size):
            raise ValueError(f"PCAColorAugmentation: eigvals must be (C,) and eigvecs (C, C), got "
                             f"{eigvals.shape} and {eigvecs.shape}")
        if not (np.all(np.isfinite(eigvals)) and np.all(np.isfinite(eigvecs))):
            raise ValueError("PCAColorAugmentation: eigvals and eigvecs must be finite")
        if np.any(eigvals < 0):
            raise ValueError(f"PCAColorAugmentation: eigvals of a covariance are non-negative, got {eigvals}")
        if isinstance(std, bool) or not isinstance(std, numbers.Real) or not std >= 0:
            raise ValueError(f"PCAColorAugmentation: std must be a non-negative number, got {std!r}")
        self.eigvals, self.eigvecs, self.std = eigvals, eigvecs, float(std)

    def __call__(self, x, rng=None):
        x = _check_batch(x, "PCAColorAugmentation")
        _check_float(x, "PCAColorAugmentation")
        if x.shape[1] != self.eigvals.size:
            raise ValueError(f"PCAColorAugmentation: the PCA has {self.eigvals.size} channels but "
                             f"the batch {x.shape} has {x.shape[1]}")
        alpha = _generator(rng).normal(0.0, self.std, size=(x.shape[0], self.eigvals.size))
        shift = (alpha * self.eigvals) @ self.eigvecs.T  # row n: eigvecs @ (alpha[n] * eigvals)
        return x + shift[:, :, None, None].astype(x.dtype)

    def __repr__(self):
        return f"PCAColorAugmentation(eigvals={self.eigvals.tolist()}, std={self.std})"


def channel_pca(images, chunk: int = 512):
    """(eigvals descending (C,), eigvecs (C, C) as columns) of the per-pixel channel covariance.

    `images` is an array (N, C, H, W) or a dataset whose `get_batch` returns one first; every
    pixel of every image is one sample of a C-vector. Sums are accumulated in float64, `chunk`
    images at a time, so a large dataset never needs a float64 copy of itself.
    """
    if hasattr(images, "get_batch"):
        n, fetch = len(images), lambda rows: images.get_batch(rows)[0]
    else:
        array = _check_batch(np.asarray(images), "channel_pca")
        n, fetch = array.shape[0], lambda rows: array[rows]
    if n == 0:
        raise ValueError("channel_pca: needs at least one image")
    if isinstance(chunk, bool) or not isinstance(chunk, numbers.Integral) or chunk < 1:
        raise ValueError(f"channel_pca: chunk must be a positive int, got {chunk!r}")
    total = outer = None
    count = 0
    for start in range(0, n, chunk):
        block = _check_batch(np.asarray(fetch(np.arange(start, min(start + chunk, n)))), "channel_pca")
        pixels = block.transpose(1, 0, 2, 3).reshape(block.shape[1], -1).astype(np.float64)
        total = pixels.sum(axis=1) if total is None else total + pixels.sum(axis=1)
        outer = pixels @ pixels.T if outer is None else outer + pixels @ pixels.T
        count += pixels.shape[1]
    if count < 2:
        raise ValueError("channel_pca: needs at least two pixels to estimate a covariance")
    mean = total / count
    cov = (outer - count * np.outer(mean, mean)) / (count - 1)
    eigvals, eigvecs = np.linalg.eigh(cov)
    order = np.argsort(eigvals)[::-1]
    return np.clip(eigvals[order], 0.0, None), eigvecs[:, order]


class CenterCrop:
    """The central (h, w) window of every image (AlexNet's test-time view of a 256 image)."""

    def __init__(self, size):
        self.size = pair(size, "size", "CenterCrop", minimum=1)

    def __call__(self, x, rng=None):
        x = _check_batch(x, "CenterCrop")
        (h, w), (H, W) = self.size, x.shape[2:]
        if h > H or w > W:
            raise ValueError(f"CenterCrop: crop size {self.size} is larger than the image ({H}, {W})")
        top, left = (H - h) // 2, (W - w) // 2
        return x[:, :, top:top + h, left:left + w]

    def __repr__(self):
        return f"CenterCrop(size={self.size})"


class Grayscale:
    """RGB -> luma, as torchvision's Grayscale: L = 0.299 R + 0.587 G + 0.114 B (ITU-R 601-2,
    the weights torchvision documents and PIL's "L" mode uses; torchvision's tensor code rounds
    the red weight to 0.2989). A 1-channel batch passes through as a copy; num_output_channels=3
    repeats L in three channels (so a 3-channel model still accepts the batch)."""

    WEIGHTS = (0.299, 0.587, 0.114)

    def __init__(self, num_output_channels=1):
        if num_output_channels not in (1, 3) or isinstance(num_output_channels, bool):
            raise ValueError(f"Grayscale: num_output_channels must be 1 or 3, got {num_output_channels!r}")
        self.num_output_channels = int(num_output_channels)

    def __call__(self, x, rng=None):
        x = _check_batch(x, "Grayscale")
        _check_float(x, "Grayscale")
        if x.shape[1] not in (1, 3):
            raise ValueError(f"Grayscale: expects 1 or 3 channels (N, C, H, W), got shape {x.shape}")
        if x.shape[1] == 3:
            r, g, b = (w.astype(x.dtype) for w in np.asarray(self.WEIGHTS))
            luma = r * x[:, 0:1] + g * x[:, 1:2] + b * x[:, 2:3]
        else:
            luma = x.copy()
        if self.num_output_channels == 3:
            return np.repeat(luma, 3, axis=1)
        return luma

    def __repr__(self):
        return f"Grayscale(num_output_channels={self.num_output_channels})"
