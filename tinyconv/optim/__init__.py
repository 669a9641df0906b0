"""Optimizers (SGD, Adam, AdamW), learning-rate schedules and gradient clipping."""
from . import lr_scheduler  # noqa: F401
from ..nn.utils import clip_grad_norm_  # noqa: F401
from .adam import Adam, AdamW  # noqa: F401
from .optimizer import Optimizer  # noqa: F401
from .sgd import SGD  # noqa: F401
