"""A narrow LeNet-5 for knowledge distillation: the same layers, fewer channels and units.

1x32x32 -> conv 4@5x5 -> act -> pool 2 -> conv 8@5x5 -> act -> pool 2 -> flatten 8*5*5 = 200
-> 32 -> act -> 16 -> act -> classes: 8,042 parameters for 10 classes, 13% of LeNet-5's 61,706
(7.7x fewer). `widths` = (conv1, conv2, fc1, fc2) changes the four hidden sizes.
"""
from __future__ import annotations

import numbers

from .. import nn
from ..autograd import Tensor
from .lenet import ACTIVATIONS, POOLS

SMALL_WIDTHS = (4, 8, 32, 16)


class LeNet5Small(nn.Module):
    def __init__(self, num_classes=10, activation="relu", pool="max", widths=SMALL_WIDTHS):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"lenet5_small: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if pool not in POOLS:
            raise ValueError(f"lenet5_small: pool must be one of {sorted(POOLS)}, got {pool!r}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"lenet5_small: num_classes must be a positive int, got {num_classes!r}")
        widths = tuple(widths)
        if len(widths) != 4 or not all(isinstance(w, numbers.Integral) and not isinstance(w, bool)
                                       and w >= 1 for w in widths):
            raise ValueError(f"lenet5_small: widths must be four positive ints (conv1, conv2, fc1, "
                             f"fc2), got {widths!r}")
        c1, c2, f1, f2 = (int(w) for w in widths)
        self.activation, self.pool, self.widths = activation, pool, (c1, c2, f1, f2)
        act, pooling = ACTIVATIONS[activation], POOLS[pool]
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 5), act(), pooling(2),
            nn.Conv2d(c1, c2, 5), act(), pooling(2))
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(
            nn.Linear(c2 * 5 * 5, f1), act(),
            nn.Linear(f1, f2), act(),
            nn.Linear(f2, num_classes))

    def forward(self, x):
        if not isinstance(x, Tensor):
            raise TypeError(f"LeNet5Small expects a Tensor, got {type(x).__name__}")
        if x.ndim != 4 or x.shape[1:] != (1, 32, 32):
            raise ValueError(f"LeNet5Small expects (N, 1, 32, 32) input, got {x.shape}; "
                             "pad 28x28 MNIST with Pad(2) (tinyconv.data.Pad)")
        return self.classifier(self.flatten(self.features(x)))

    def extra_repr(self):
        return f"widths={self.widths}"


def lenet5_small(num_classes=10, activation="relu", pool="max", widths=SMALL_WIDTHS) -> LeNet5Small:
    """The distillation student: LeNet-5's layers with widths (4, 8, 32, 16) instead of
    (6, 16, 120, 84), PyTorch's default initialisation."""
    return LeNet5Small(num_classes, activation, pool, widths)
