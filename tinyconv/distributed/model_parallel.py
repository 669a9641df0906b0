"""AlexNet split over two ranks the paper's way (Krizhevsky et al. 2012, section 3.2, figure 2).

Rank r holds group r of every convolution (48 of conv1's 96 kernels, 128 of conv2's 256, 192 of
conv3's 384, 192 of conv4's, 128 of conv5's) and half of the neurons of each fully connected
layer (2048 + 2048, 2048 + 2048, and the output layer's classes split as evenly as they go).
Activations cross between the ranks where the figure draws arrows between the GPUs:

    conv2 -> conv3          each rank's conv3 kernels see both ranks' conv2 maps (all_gather)
    conv5 -> fc6 -> fc7 -> fc8   every FC neuron sees the whole previous layer     (all_gather)
    fc8 -> the loss         the class scores are gathered on every rank (all_gather, grad="local")

conv2, conv4 and conv5 read only their own rank's maps: these are the `groups=2` layers of the
single-device model. One more exchange is needed for the result to equal that model exactly:
LRN normalises each map by its 5 neighbouring channels, and the single-device model's windows
reach across the group boundary, so each rank sends the other its 2 edge channels after conv1 and
conv2 (`halo_exchange`). The paper's GPUs normalised within their own maps instead.

Dropout acts on the gathered FC inputs, which every rank holds whole: with every rank seeded
alike (the same `manual_seed`), each draws the single-device model's masks, so the split trains
exactly as that model does, not only in eval mode.

Every rank builds the whole single-device AlexNet with the same seed and keeps its share, so a
split model starts from exactly the weights `models.alexnet("original")` would; `full_state_dict()`
gathers the shares back into that model's state_dict (checkpoints load into either).
"""
from __future__ import annotations

import numpy as np

from .. import nn
from ..autograd import Tensor
from ..nn import functional as F
from .functional import all_gather, halo_exchange

# name in the split model -> its path in AlexNet("original")
LAYERS = {"conv1": "features.0", "conv2": "features.4", "conv3": "features.8",
          "conv4": "features.10", "conv5": "features.12",
          "fc6": "classifier.1", "fc7": "classifier.4", "fc8": "classifier.6"}


def shard_rows(n: int, size: int) -> list:
    """How `n` output units split over `size` ranks: the first n % size ranks get one more."""
    return [n // size + (1 if r < n % size else 0) for r in range(size)]


def _rows(n, size, rank):
    counts = shard_rows(n, size)
    start = sum(counts[:rank])
    return slice(start, start + counts[rank])


class SplitAlexNet(nn.Module):
    """The original AlexNet as two halves on two ranks; forward returns the whole (N, classes)
    scores on every rank. Build it with `models.alexnet(variant="original", split=2)`."""

    def __init__(self, num_classes=1000, split=2, group=None):
        super().__init__()
        from ..models.alexnet import AlexNet
        if group is None:
            from .world import get_world
            group = get_world()
        if split != 2:
            raise ValueError(f"alexnet: split={split!r} is not supported; the paper's split is 2 "
                             "(one group of each groups=2 layer per rank)")
        if group.size != split:
            raise ValueError(f"alexnet(split={split}) needs a world of {split} processes (mpiexec -n "
                             f"{split}), got {group.size}")
        object.__setattr__(self, "group", group)
        self.num_classes = num_classes
        full = AlexNet("original", num_classes)
        r, w = group.rank, group.size
        self.conv1 = nn.Conv2d(3, 48, 11, stride=4)
        self.conv2 = nn.Conv2d(48, 128, 5, padding=2)
        self.conv3 = nn.Conv2d(256, 192, 3, padding=1)
        self.conv4 = nn.Conv2d(192, 192, 3, padding=1)
        self.conv5 = nn.Conv2d(192, 128, 3, padding=1)
        self.fc6 = nn.Linear(256 * 6 * 6, 2048)
        self.fc7 = nn.Linear(4096, 2048)
        self.fc8 = nn.Linear(4096, shard_rows(num_classes, w)[r])
        self.dropout6, self.dropout7 = nn.Dropout(0.5), nn.Dropout(0.5)
        self.lrn = full.features[2]
        self.pool = nn.MaxPool2d(3, 2)
        self.load_full_state_dict(full.state_dict())

    def shard_of(self, name: str, tensor):
        """This rank's rows of the single-device model's tensor for layer `name`."""
        n = tensor.shape[0]
        return tensor[_rows(n, self.group.size, self.group.rank)]

    def load_full_state_dict(self, state_dict):
        """Take this rank's share of a single-device AlexNet("original") state_dict."""
        mine = {}
        for name, path in LAYERS.items():
            for kind in ("weight", "bias"):
                full = state_dict[f"{path}.{kind}"]
                full = full.numpy() if isinstance(full, Tensor) else np.asarray(full)
                mine[f"{name}.{kind}"] = self.shard_of(name, full)
        self.load_state_dict(mine)

    def full_state_dict(self):
        """The single-device model's state_dict, gathered from both ranks (on every rank)."""
        out = {}
        for name, path in LAYERS.items():
            layer = getattr(self, name)
            for kind in ("weight", "bias"):
                t = getattr(layer, kind)
                n = sum(self.group.allgather_object(t.shape[0]))
                sizes = shard_rows(n, self.group.size)
                top = max(sizes)
                data = t.numpy()
                padded = np.zeros((top,) + data.shape[1:], dtype=data.dtype)
                padded[:data.shape[0]] = data
                parts = self.group.allgather(padded)
                out[f"{path}.{kind}"] = np.concatenate([parts[q, :sizes[q]] for q in range(len(sizes))])
        return out

    def _lrn(self, x):
        # the window [c - n//2, c + (n-1)//2] needs n//2 maps from below and (n-1)//2 from above
        n = self.lrn.size
        before, after = n // 2, (n - 1) // 2
        y = self.lrn(halo_exchange(x, before, after, dim=1, group=self.group))
        start = before if self.group.rank > 0 else 0
        return y[:, start:start + x.shape[1]]

    def forward(self, x):
        if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[1:] != (3, 227, 227):
            shape = x.shape if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"AlexNet (original, split=2) expects (N, 3, 227, 227) input on every "
                             f"rank, got {shape}")
        g = self.group
        x = self.pool(self._lrn(F.relu(self.conv1(x))))
        x = self.pool(self._lrn(F.relu(self.conv2(x))))
        x = F.relu(self.conv3(all_gather(x, dim=1, group=g)))     # cross-GPU arrow
        x = F.relu(self.conv4(x))
        x = self.pool(F.relu(self.conv5(x)))
        x = F.flatten(x, 1)
        x = F.relu(self.fc6(self.dropout6(all_gather(x, dim=1, group=g))))  # cross-GPU arrow
        x = F.relu(self.fc7(self.dropout7(all_gather(x, dim=1, group=g))))  # cross-GPU arrow
        x = self.fc8(all_gather(x, dim=1, group=g))               # cross-GPU arrow
        return all_gather(x, dim=1, group=g, sizes=shard_rows(self.num_classes, g.size), grad="local")

    def extra_repr(self):
        return f"rank={self.group.rank} of {self.group.size}, num_classes={self.num_classes}"
