"""LeNet-1D: LeNet-5's layout with its 5x5 filters squashed to 1-D, for heartbeat windows.

1x256 (2.05 s at 125 Hz) -> conv 6@9 (248) -> act -> pool 4 (62) -> conv 16@9 (54) -> act -> pool 4
(13) -> conv 32@5 (9) -> act -> flatten 288 -> 84 -> act -> classes.

As in LeNet-5 the third convolution (C5) is where one unit first sees a whole beat: its
receptive field is 9 + 3 + (9-1)*4 + 3*4 + (5-1)*16 = 120 samples = 960 ms at 125 Hz, the length of
a heartbeat at 62 bpm, while the layers below see a wave (72 ms) and a wave complex (352 ms).
The pools are 4 wide instead of 2 because a 1-D signal has 125 samples per second, not 28 per digit.
"""
from __future__ import annotations

from .. import nn
from ..autograd import Tensor

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "leaky_relu": nn.LeakyReLU}


class LeNet1d(nn.Module):
    def __init__(self, num_classes=3, activation="relu", length=256):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"lenet1d: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"lenet1d: num_classes must be a positive int, got {num_classes!r}")
        out = ((((length - 8) // 4) - 8) // 4) - 4
        if isinstance(length, bool) or not isinstance(length, int) or out < 1:
            raise ValueError(f"lenet1d: length must be an int >= 176 (the smallest input the three "
                             f"convolutions and two pools accept), got {length!r}")
        self.length = length
        act = ACTIVATIONS[activation]
        self.features = nn.Sequential(
            nn.Conv1d(1, 6, 9), act(), nn.MaxPool1d(4),
            nn.Conv1d(6, 16, 9), act(), nn.MaxPool1d(4),
            nn.Conv1d(16, 32, 5), act())
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(nn.Linear(32 * out, 84), act(), nn.Linear(84, num_classes))

    def forward(self, x):
        if not isinstance(x, Tensor):
            raise TypeError(f"LeNet-1D expects a Tensor, got {type(x).__name__}")
        if x.ndim != 3 or x.shape[1:] != (1, self.length):
            raise ValueError(f"LeNet-1D expects (N, 1, {self.length}) input, got {x.shape}")
        return self.classifier(self.flatten(self.features(x)))


def lenet1d(num_classes=3, activation="relu", length=256) -> LeNet1d:
    """LeNet-1D for (N, 1, length) signals (default: the 256-sample Heartbeats windows)."""
    return LeNet1d(num_classes, activation, length)
