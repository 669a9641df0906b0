"""Coloured MNIST digits: a colour task built from the digits at hand.

Each digit is painted in one of ten colours on a black background: image = intensity * colour,
(N, 3, 28, 28) float32 in [0, 1]. The ten colours share one luma (0.299 R + 0.587 G + 0.114 B
= 0.4), so `transforms.Grayscale` turns every colour into the same grey: it removes the colour
and keeps the shape exactly (0.4 * the MNIST digit). Whether grayscale input costs accuracy
then depends only on whether the colour carried information about the label:

- informative=True: an image of digit d gets colour d with probability `agreement`, else one of
  the other nine at random (agreement=1: the colour alone names the digit);
- informative=False: every image gets a colour drawn uniformly, independent of its digit.
"""
from __future__ import annotations

import colorsys
import numbers

import numpy as np

from .dataset import TensorDataset
from .mnist import MNIST

LUMA = 0.4


def _palette(luma=LUMA):
    """Ten hues, each darkened (or mixed with white) until its luma is exactly `luma`."""
    weights = np.array([0.299, 0.587, 0.114])
    colours = []
    for h in np.arange(10) / 10:
        c = np.array(colorsys.hsv_to_rgb(h, 1.0, 1.0))
        y = weights @ c
        # scaling moves the luma linearly to 0; mixing with white moves it linearly to 1
        c = c * (luma / y) if y >= luma else c + (luma - y) / (1 - y) * (1 - c)
        colours.append(c)
    return np.array(colours)


PALETTE = _palette()  # (10, 3) RGB in [0, 1], row d: the colour of digit d when informative


def colored_mnist(train=True, informative=True, agreement=1.0, seed=0, source="mnist5k", root=None,
                  transform=None):
    """A TensorDataset of (images float32 (N, 3, 28, 28), labels int64 (N,)) from MNIST(train,
    source, root); `.colors` (N,) int64 holds each image's colour index into PALETTE.
    Deterministic for a seed (colours are drawn from numpy.random.default_rng(seed))."""
    op = "colored_mnist"
    if isinstance(agreement, bool) or not isinstance(agreement, numbers.Real) or not 0 <= agreement <= 1:
        raise ValueError(f"{op}: agreement must be a number in [0, 1], got {agreement!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"{op}: seed must be a non-negative int, got {seed!r}")
    digits = MNIST(root=root, train=train, source=source)
    labels = np.asarray(digits.targets, dtype=np.int64)
    n = len(labels)
    rng = np.random.default_rng(int(seed))
    if informative:
        other = (labels + rng.integers(1, 10, n)) % 10  # uniform over the nine other colours
        colors = np.where(rng.random(n) < agreement, labels, other)
    else:
        colors = rng.integers(0, 10, n)
    intensity = digits.data.astype(np.float32) / np.float32(255)
    images = intensity[:, None] * PALETTE[colors].astype(np.float32)[:, :, None, None]
    ds = TensorDataset(images, labels, transform=transform)
    ds.colors = colors.astype(np.int64)
    return ds
