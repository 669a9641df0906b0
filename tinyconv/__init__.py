"""tinyconv: a from-scratch CNN engine with readable and fast kernels."""
from . import _runtime  # noqa: F401  (first: before NumPy loads its BLAS)
from . import ops as _ops  # noqa: F401  (gives Tensor its operators)
from .autograd import Function, Tensor, is_grad_enabled, no_grad, tensor
from .backend import get_backend, set_backend, use_backend
from .gradcheck import GradcheckError, gradcheck
from .ops.basic import cat, flatten, permute, reshape, stack, transpose
from .random import initial_seed, manual_seed
from .serialization import from_torch, load, save
from . import cuda, data, metrics, models, nn, optim  # noqa: E402

float32 = "float32"
float64 = "float64"

__version__ = "0.1.0"
