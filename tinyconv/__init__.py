"""tinyconv: a from-scratch CNN engine with readable and fast kernels."""
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

# PyTorch's tensor API: factories, dtypes, selection and shape functions
from .factory import (arange, bool_, double, empty, empty_like, eye, float16, from_numpy,  # noqa: E402,F401
                      full, full_like, half, int8, int16, int32, int64, linspace, long, ones,
                      ones_like, rand, rand_like, randint, randn, randn_like, short, uint8, zeros,
                      zeros_like)
from .ops.select import (amax, amin, argmax, argmin, clamp, eq, equal, ge, gt, isfinite,  # noqa: E402,F401
                         isnan, le, lt, masked_fill, max, maximum, min, minimum, ne, where)
from .ops.shape import clone, expand, repeat, squeeze, unsqueeze  # noqa: E402,F401
from .ops.cast import to  # noqa: E402,F401

# quantized tensors (PyTorch's names); the rest of quantization lives in tinyconv.quantization
from .quantization import (dequantize, qint8, qint32, quantize_per_channel,  # noqa: E402,F401
                           quantize_per_tensor, quint8)

from . import sparse  # noqa: E402,F401  (CSR inference for pruned models: tinyconv.sparse.to_sparse)
