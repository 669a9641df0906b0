"""Neural-network building blocks with PyTorch's names."""
from . import functional, init  # noqa: F401
from .layers import (AdaptiveAvgPool2d, AvgPool2d, Conv2d, Dropout, Flatten, LeakyReLU, Linear,  # noqa: F401
                     LocalResponseNorm, MaxPool2d, ReLU, Sigmoid, Tanh)
from .module import Module, Parameter, Sequential  # noqa: F401
