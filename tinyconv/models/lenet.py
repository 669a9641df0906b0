"""LeNet-5 (LeCun et al., 1998) in its common modern form.

1x32x32 -> conv 6@5x5 -> 6x28x28 -> pool 2 -> 6x14x14 -> conv 16@5x5 -> 16x10x10 -> pool 2
-> 16x5x5 = 400 -> 120 -> 84 -> classes. 61,706 parameters for 10 classes. The original used
scaled tanh, trainable subsampling and a sparse C3 table; "relu"/"max" is today's default,
"tanh"/"avg" is closer to 1998.
"""
from __future__ import annotations

from .. import nn

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}
POOLS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


class LeNet5(nn.Module):
    def __init__(self, num_classes=10, activation="relu", pool="max"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"lenet5: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if pool not in POOLS:
            raise ValueError(f"lenet5: pool must be one of {sorted(POOLS)}, got {pool!r}")
        act, pl = ACTIVATIONS[activation], POOLS[pool]
        self.features = nn.Sequential(nn.Conv2d(1, 6, 5), act(), pl(2), nn.Conv2d(6, 16, 5), act(), pl(2))
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(nn.Linear(400, 120), act(), nn.Linear(120, 84), act(),
                                        nn.Linear(84, num_classes))

    def forward(self, x):
        if x.ndim != 4 or x.shape[1:] != (1, 32, 32):
            raise ValueError(f"LeNet-5 expects (N, 1, 32, 32) input, got {x.shape}; "
                             "pad 28x28 MNIST digits with data.Pad(2)")
        return self.classifier(self.flatten(self.features(x)))


def lenet5(num_classes=10, activation="relu", pool="max") -> LeNet5:
    return LeNet5(num_classes, activation, pool)
