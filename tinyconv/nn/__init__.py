"""Neural-network building blocks with PyTorch's names: Module, layers, init, utils."""
from . import functional, init, utils  # noqa: F401
from .container import Sequential  # noqa: F401
from .layers import (AdaptiveAvgPool2d, AvgPool2d, Conv2d, Dropout, Flatten, LeakyReLU, Linear,  # noqa: F401
                     LocalResponseNorm, MaxPool2d, ReLU, Sigmoid, Tanh)
from .module import Module, Parameter  # noqa: F401
