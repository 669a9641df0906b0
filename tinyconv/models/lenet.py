"""LeNet-5 (LeCun et al., 1998) in its common modern form.

1x32x32 -> conv 6@5x5 (28x28) -> act -> pool 2 (14x14) -> conv 16@5x5 (10x10) -> act -> pool 2
(5x5) -> flatten 16*5*5 = 400 -> 120 -> act -> 84 -> act -> classes: 61,706 parameters for 10
classes. The 1998 network used a scaled tanh, trainable sub-sampling layers, a sparse C3
connection table and RBF outputs; activation="tanh", pool="avg" is the closest plain version,
"relu"/"max" (the default) is what most people mean by LeNet-5 today.
"""
from __future__ import annotations

from .. import nn
from ..autograd import Tensor

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "leaky_relu": nn.LeakyReLU}
POOLS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


class LeNet5(nn.Module):
    def __init__(self, num_classes=10, activation="relu", pool="max"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"lenet5: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if pool not in POOLS:
            raise ValueError(f"lenet5: pool must be one of {sorted(POOLS)}, got {pool!r}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"lenet5: num_classes must be a positive int, got {num_classes!r}")
        self.activation, self.pool = activation, pool
        act, pooling = ACTIVATIONS[activation], POOLS[pool]
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5), act(), pooling(2),
            nn.Conv2d(6, 16, 5), act(), pooling(2))
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(
            nn.Linear(16 * 5 * 5, 120), act(),
            nn.Linear(120, 84), act(),
            nn.Linear(84, num_classes))

    def forward(self, x):
        if not isinstance(x, Tensor):
            raise TypeError(f"LeNet-5 expects a Tensor, got {type(x).__name__}")
        if x.ndim != 4 or x.shape[1:] != (1, 32, 32):
            raise ValueError(f"LeNet-5 expects (N, 1, 32, 32) input, got {x.shape}; "
                             "pad 28x28 MNIST with Pad(2) (tinyconv.data.Pad)")
        return self.classifier(self.flatten(self.features(x)))


def lenet5(num_classes=10, activation="relu", pool="max") -> LeNet5:
    """LeNet-5 with PyTorch's default initialisation (drawn from tinyconv's seeded generator)."""
    return LeNet5(num_classes, activation, pool)
