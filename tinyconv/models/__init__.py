"""LeNet-5 and AlexNet."""
from .alexnet import AlexNet, alexnet  # noqa: F401
from .lenet import LeNet5, lenet5  # noqa: F401


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
