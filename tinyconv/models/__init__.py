"""LeNet-5 and AlexNet."""
from .alexnet import AlexNet, alexnet  # noqa: F401
from .lenet import LeNet5, lenet5  # noqa: F401
from .lenet1d import LeNet1d, lenet1d  # noqa: F401


def count_parameters(model, trainable_only=False) -> int:
    """Number of scalar parameters in `model` (each shared Parameter counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
from .lenet_small import LeNet5Small, lenet5_small  # noqa: F401,E402
