"""Differentiable functions with PyTorch's names, argument order and defaults (`import
tinyconv.nn.functional as F`). Each lives beside its Function in `tinyconv.ops`."""
from ..ops.activation import *  # noqa: F401,F403  relu, leaky_relu, tanh, sigmoid
from ..ops.basic import flatten  # noqa: F401
from ..ops.batchnorm import batch_norm  # noqa: F401
from ..ops.conv import *  # noqa: F401,F403  conv2d
from ..ops.dropout import *  # noqa: F401,F403  dropout
from ..ops.linear import *  # noqa: F401,F403  linear
from ..ops.loss import *  # noqa: F401,F403  log_softmax, softmax, cross_entropy
from ..ops.regression import *  # noqa: F401,F403  mse_loss, l1_loss, binary_cross_entropy_with_logits
from ..ops.lrn import *  # noqa: F401,F403  local_response_norm
from ..ops.pool import *  # noqa: F401,F403  max_pool2d, avg_pool2d, adaptive_avg_pool2d
from ..ops.conv1d import *  # noqa: F401,F403  conv1d, max_pool1d, avg_pool1d, adaptive_avg_pool1d
from ..ops.focal import *  # noqa: F401,F403  focal_loss
from ..ops.local import *  # noqa: F401,F403  locally_connected2d
from ..ops.distill import *  # noqa: F401,F403  distillation_loss
