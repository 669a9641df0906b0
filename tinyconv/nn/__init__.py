"""Neural-network building blocks with PyTorch's names: Module, layers, init, utils."""
from . import functional, init, utils  # noqa: F401
from .batchnorm import BatchNorm1d, BatchNorm2d  # noqa: F401
from .container import ModuleDict, ModuleList, ParameterList, Sequential  # noqa: F401
from .layers import (AdaptiveAvgPool2d, AvgPool2d, Conv2d, Dropout, Flatten, LeakyReLU, Linear,  # noqa: F401
                     LocalResponseNorm, MaxPool2d, ReLU, Sigmoid, Tanh)
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss  # noqa: F401
from .module import Module, Parameter  # noqa: F401
from .focal import FocalLoss  # noqa: F401,E402
from .layers1d import AdaptiveAvgPool1d, AvgPool1d, Conv1d, MaxPool1d  # noqa: F401,E402
from .local import LocallyConnected2d  # noqa: F401,E402
from .distill import DistillationLoss  # noqa: F401,E402
