"""AlexNet (Krizhevsky, Sutskever, Hinton, 2012) in three variants.

"original": the paper. 3x227x227 -> conv1 96@11x11/4 (55) -> ReLU -> LRN -> max 3/2 (27)
  -> conv2 256@5x5 p2 groups=2 -> ReLU -> LRN -> max 3/2 (13) -> conv3 384@3x3 (groups=1: the
  layer that talks across both GPUs) -> conv4 384@3x3 groups=2 -> conv5 256@3x3 groups=2 ->
  max 3/2 (6) -> 9216 -> 4096 -> 4096 -> classes, dropout 0.5 before each hidden FC layer.
  LRN in the paper's form (n=5, alpha=1e-4, beta=0.75, k=2), conv -> ReLU -> LRN -> pool (as the
  paper; CaffeNet swaps pool and LRN). 60,965,224 parameters for 1000 classes. Initialisation
  as the paper: weights N(0, 0.01^2); biases 1 in conv2, conv4, conv5 and the hidden FC layers
  (so ReLUs start with positive inputs), 0 elsewhere.
"torchvision": torchvision's AlexNet (64-192-384-256-256, no LRN, no groups, adaptive average
  pool to 6x6), same state_dict keys and shapes, so its weights load unchanged. 61,100,840.
"gap": the original conv stack with a global-average-pooling head: GAP -> Linear(256, classes):
  the classifier shrinks from ~58.6M parameters to 257,000 for 1000 classes.
"""
from __future__ import annotations

from .. import nn
from ..nn import init

VARIANTS = ("original", "torchvision", "gap")


def _lrn():
    return nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0, convention="paper")


def _original_features():
    return nn.Sequential(
        nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(), _lrn(), nn.MaxPool2d(3, 2),
        nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(), _lrn(), nn.MaxPool2d(3, 2),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(), nn.MaxPool2d(3, 2))


class AlexNet(nn.Module):
    def __init__(self, variant="original", num_classes=1000):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"alexnet: unknown variant {variant!r}; choose one of {VARIANTS}")
        self.variant = variant
        if variant == "torchvision":
            self.features = nn.Sequential(
                nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
                nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
                nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
                nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
                nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2))
            self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        else:
            self.features = _original_features()
        if variant == "gap":
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.flatten = nn.Flatten()
            self.classifier = nn.Sequential(nn.Linear(256, num_classes))
        else:
            self.flatten = nn.Flatten()
            self.classifier = nn.Sequential(
                nn.Dropout(0.5), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(),
                nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, num_classes))
        if variant != "torchvision":
            self._paper_init()

    def _paper_init(self):
        convs = [m for m in self.features if isinstance(m, nn.Conv2d)]
        linears = [m for m in self.classifier if isinstance(m, nn.Linear)]
        for m in convs + linears:
            init.normal_(m.weight, 0.0, 0.01)
            init.zeros_(m.bias)
        for m in (convs[1], convs[3], convs[4]) + tuple(linears[:-1]):
            init.ones_(m.bias)

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"AlexNet expects (N, 3, H, W) input, got {x.shape}")
        if self.variant == "original" and x.shape[2:] != (227, 227):
            raise ValueError(f"AlexNet (original) expects 3x227x227 input (227 -> 55 -> 27 -> 13 "
                             f"-> 6), got {x.shape[1:]}")
        if self.variant == "gap" and min(x.shape[2:]) < 67:
            raise ValueError(f"AlexNet (gap) needs inputs of at least 67x67, got {x.shape[1:]}")
        if self.variant == "torchvision" and min(x.shape[2:]) < 63:
            raise ValueError(f"AlexNet (torchvision) needs inputs of at least 63x63, got {x.shape[1:]}")
        x = self.features(x)
        if self.variant != "original":
            x = self.avgpool(x)
        return self.classifier(self.flatten(x))


def alexnet(variant="original", num_classes=1000) -> AlexNet:
    return AlexNet(variant, num_classes)
