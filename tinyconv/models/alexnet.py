"""AlexNet (Krizhevsky, Sutskever & Hinton, 2012) in three variants.

"original" — the paper, on one device:
    3x227x227 -> conv1 96@11x11 stride 4 (55x55) -> ReLU -> LRN -> max 3/2 (27x27)
    -> conv2 256@5x5 pad 2, groups=2 -> ReLU -> LRN -> max 3/2 (13x13)
    -> conv3 384@3x3 pad 1 (groups=1: the layer that talks across both GPUs)
    -> conv4 384@3x3 pad 1, groups=2 -> conv5 256@3x3 pad 1, groups=2 -> ReLU -> max 3/2 (6x6)
    -> flatten 9216 -> dropout 0.5 -> 4096 -> ReLU -> dropout 0.5 -> 4096 -> ReLU -> classes.
  LRN in the paper's form (n=5, alpha=1e-4, beta=0.75, k=2; PyTorch's alpha would be 5e-4), in the
  paper's order conv -> ReLU -> LRN -> pool (CaffeNet swaps pool and LRN). groups=2 reproduces the
  two-GPU split exactly. 60,965,224 parameters for 1000 classes, 58,631,144 of them in the three
  fully connected layers. Initialisation as in section 5 of the paper: every weight N(0, 0.01^2);
  biases 1 in conv2, conv4, conv5 and the two hidden FC layers (so their ReLUs start with positive
  inputs), 0 in conv1, conv3 and the output layer.
"torchvision" — torchvision.models.alexnet: 64-192-384-256-256 channels, no LRN, no groups,
  AdaptiveAvgPool2d((6, 6)) before the classifier, 61,100,840 parameters. Module tree and
  state_dict keys/shapes are torchvision's, so its weights load unchanged. Trained at 224x224;
  the adaptive pool accepts any input of at least 63x63. PyTorch's default initialisation.
"gap" — the original conv stack, then global average pooling and one Linear(256, classes), as in
  Network-in-Network / GoogLeNet: the classifier shrinks from 58,631,144 parameters to 257,000
  for 1000 classes (256*1000 + 1000), and any input of at least 67x67 works.
"""
from __future__ import annotations

from .. import nn
from ..autograd import Tensor
from ..nn import functional as F
from ..nn import init

VARIANTS = ("original", "torchvision", "gap")

# Smallest square input whose last max-pool still gets a 3x3 window: for the original stack
# floor((n - 11)/4) + 1 = 15 -> 7 -> 3 -> 1 at n = 67; torchvision's conv1 pads by 2: n = 63.
MIN_SIDE = {"gap": 67, "torchvision": 63}


def _lrn():
    return nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0, convention="paper")


def _paper_features(in_channels=3):
    return nn.Sequential(
        nn.Conv2d(in_channels, 96, 11, stride=4), nn.ReLU(), _lrn(), nn.MaxPool2d(3, 2),
        nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(), _lrn(), nn.MaxPool2d(3, 2),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(), nn.MaxPool2d(3, 2))


def _torchvision_features(in_channels=3):
    return nn.Sequential(
        nn.Conv2d(in_channels, 64, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2))


def _fc_classifier(num_classes):
    return nn.Sequential(
        nn.Dropout(0.5), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(),
        nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(),
        nn.Linear(4096, num_classes))


class AlexNet(nn.Module):
    def __init__(self, variant="original", num_classes=1000, in_channels=3):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"alexnet: unknown variant {variant!r}; valid variants: {', '.join(VARIANTS)}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"alexnet: num_classes must be a positive int, got {num_classes!r}")
        if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"alexnet: in_channels must be a positive int, got {in_channels!r}")
        self.variant, self.in_channels = variant, in_channels
        if variant == "torchvision":
            self.features = _torchvision_features(in_channels)
            self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
            self.classifier = _fc_classifier(num_classes)
            return
        self.features = _paper_features(in_channels)
        if variant == "gap":
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Linear(256, num_classes)
        else:
            self.classifier = _fc_classifier(num_classes)
        self._paper_init()

    def _paper_init(self):
        convs = [m for m in self.features if isinstance(m, nn.Conv2d)]
        linears = [m for m in self.modules() if isinstance(m, nn.Linear)]
        for m in convs + linears:
            init.normal_(m.weight, 0.0, 0.01)
            init.zeros_(m.bias)
        hidden_fc = linears[:-1]  # empty for "gap": its only Linear is the output layer
        for m in [convs[1], convs[3], convs[4]] + hidden_fc:
            init.ones_(m.bias)

    def _check_input(self, x):
        if not isinstance(x, Tensor):
            raise TypeError(f"AlexNet expects a Tensor, got {type(x).__name__}")
        c = self.in_channels
        if x.ndim != 4 or x.shape[1] != c:
            raise ValueError(f"AlexNet ({self.variant}) expects (N, {c}, H, W) input, got {x.shape}")
        if self.variant == "original" and x.shape[2:] != (227, 227):
            raise ValueError(f"AlexNet (original) expects (N, {c}, 227, 227) input (227 -> 55 -> 27 "
                             f"-> 13 -> 6), got {x.shape}; use variant='gap' or 'torchvision' "
                             "for other sizes")
        if self.variant in MIN_SIDE and min(x.shape[2:]) < MIN_SIDE[self.variant]:
            side = MIN_SIDE[self.variant]
            raise ValueError(f"AlexNet ({self.variant}) needs inputs of at least {side}x{side}, "
                             f"got {x.shape}")

    def forward(self, x):
        self._check_input(x)
        x = self.features(x)
        if self.variant != "original":
            x = self.avgpool(x)
        return self.classifier(F.flatten(x, 1))

    def extra_repr(self):
        return f"variant={self.variant!r}"


def alexnet(variant="original", num_classes=1000, split=None, group=None, in_channels=3):
    """AlexNet: "original" (the paper), "torchvision" or "gap"; see the module docstring.

    in_channels: 3 for RGB (the paper); 1 for a grayscale first layer, which keeps every layer
    above conv1 and divides conv1's weights (and its multiply-adds) by 3.

    split=2 (variant "original" only): this process's half of the paper's two-GPU model, for a
    world of 2 processes (`mpiexec -n 2`); see tinyconv.distributed.model_parallel. group: the
    process group (default: the world).
    """
    if split is None:
        return AlexNet(variant, num_classes, in_channels)
    if in_channels != 3:
        raise ValueError(f"alexnet: split={split!r} builds the paper's RGB model; in_channels must "
                         f"be 3, got {in_channels!r}")
    if variant != "original":
        raise ValueError(f"alexnet: split={split!r} needs variant='original' (the paper's two-GPU "
                         f"model), got {variant!r}")
    # the one reference upward: the split model lives with the communication it needs
    from ..distributed.model_parallel import SplitAlexNet
    return SplitAlexNet(num_classes, split=split, group=group)
