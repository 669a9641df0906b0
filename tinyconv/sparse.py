"""Sparse inference: pruned Linear and Conv2d weights stored in CSR, run by the sparse kernels.

    sparse_model = tinyconv.sparse.to_sparse(model)    # a copy; Conv2d/Linear -> SparseConv2d/SparseLinear
    with tinyconv.no_grad():
        logits = sparse_model(x)

A CSR matrix keeps only the non-zero weights (value + int32 column index each, plus one int64
row pointer per output), so its size and the work of a product scale with the number of kept
weights. Whether that is also faster than the dense GEMM depends on the machine: see
benchmarks/roofline.py and notebooks/16_pruning_roofline.py. The modules are inference only (no
gradient flows through them); the kernels run on NumPy arrays (reference or numba backend).
"""
from __future__ import annotations

import copy

import numpy as np

from . import backend
from .autograd import Tensor, is_grad_enabled
from .nn.layers import Conv2d, Linear
from .nn.module import Module

__all__ = ["CSRMatrix", "SparseLinear", "SparseConv2d", "to_sparse", "sparsity"]


class CSRMatrix:
    """A 2-D matrix (M, K) in compressed sparse row form (kernels/reference/sparse.py)."""

    def __init__(self, indptr, indices, values, shape):
        self.indptr = np.ascontiguousarray(indptr, dtype=np.int64)
        self.indices = np.ascontiguousarray(indices, dtype=np.int32)
        self.values = np.ascontiguousarray(values)
        self.shape = tuple(int(s) for s in shape)
        if len(self.shape) != 2 or self.indptr.shape != (self.shape[0] + 1,):
            raise ValueError(f"CSRMatrix: indptr has shape {self.indptr.shape}, a {self.shape} "
                             "matrix needs (rows + 1,)")
        if self.indices.shape != self.values.shape or self.indices.ndim != 1:
            raise ValueError(f"CSRMatrix: indices {self.indices.shape} and values "
                             f"{self.values.shape} must be 1-D of the same length")
        if self.indptr[0] != 0 or self.indptr[-1] != self.values.size or np.any(np.diff(self.indptr) < 0):
            raise ValueError("CSRMatrix: indptr must start at 0, never decrease and end at nnz")
        if self.values.size and (self.indices.min() < 0 or self.indices.max() >= self.shape[1]):
            raise ValueError(f"CSRMatrix: column indices must lie in [0, {self.shape[1]})")

    @classmethod
    def from_dense(cls, w, groups=1):
        """The non-zeros of `w` (M, K). With groups > 1, `w` is a grouped conv weight
        (O, K/groups) and the matrix is the block-diagonal (O, K) that im2col's columns of all
        channels multiply (row o of group g keeps its columns, shifted by g*K/groups)."""
        w = np.asarray(w.data if isinstance(w, Tensor) else w)
        if w.ndim != 2:
            raise ValueError(f"CSRMatrix.from_dense: expected a 2-D weight, got shape {w.shape}")
        m, kg = w.shape
        if m % groups:
            raise ValueError(f"CSRMatrix.from_dense: {m} rows do not split into {groups} groups")
        rows, cols = np.nonzero(w)                       # row-major: rows sorted, columns increasing
        cols = cols + (rows // (m // groups)) * kg
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=m))])
        return cls(indptr, cols, w[rows, cols - (rows // (m // groups)) * kg], (m, kg * groups))

    @property
    def nnz(self) -> int:
        return int(self.values.size)

    @property
    def density(self) -> float:
        return self.nnz / max(1, self.shape[0] * self.shape[1])

    @property
    def nbytes(self) -> int:
        """Bytes the format stores: values, column indices and row pointers."""
        return self.values.nbytes + self.indices.nbytes + self.indptr.nbytes

    def to_dense(self) -> np.ndarray:
        out = np.zeros(self.shape, dtype=self.values.dtype)
        rows = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))
        out[rows, self.indices] = self.values
        return out

    def __repr__(self):
        return (f"CSRMatrix(shape={self.shape}, nnz={self.nnz}, density={self.density:.4f}, "
                f"dtype={self.values.dtype})")


def _kernels(x):
    if backend.array_module(x) is not np:
        raise NotImplementedError("sparse kernels run on NumPy arrays only (reference and numba "
                                  "backends); move the model and input to the CPU")
    name = backend.get_backend()
    if name not in backend.CPU_BACKENDS:
        raise NotImplementedError(f"sparse kernels have no {name!r} flavour; use the 'numpy' or "
                                  "'numba' backend")
    return backend.kernels("sparse", x)


def _input(x, layer, ndim, features, where):
    if not isinstance(x, Tensor):
        raise TypeError(f"{layer} expects a Tensor, got {type(x).__name__}")
    if x.requires_grad and is_grad_enabled():
        raise RuntimeError(f"{layer} is inference only (no gradient flows through it); call it "
                           "under tinyconv.no_grad() or on a Tensor that does not require grad")
    if x.ndim != ndim or x.shape[where] != features:
        raise ValueError(f"{layer}: expected a {ndim}-D input with {features} at axis {where}, "
                         f"got shape {x.shape}")
    return np.ascontiguousarray(x.data)


class SparseLinear(Module):
    """y = x W^T + b with W (out_features, in_features) held in CSR, x (*, in_features);
    inference only. Built from a Linear with SparseLinear.from_dense(linear)."""

    def __init__(self, weight: CSRMatrix, bias=None):
        super().__init__()
        self.weight = weight
        self.out_features, self.in_features = weight.shape
        self.bias = None if bias is None else np.ascontiguousarray(np.asarray(bias), weight.values.dtype)

    @classmethod
    def from_dense(cls, linear: Linear) -> "SparseLinear":
        bias = None if linear.bias is None else linear.bias.numpy()
        return cls(CSRMatrix.from_dense(_current_weight(linear)), bias)

    def forward(self, x):
        if isinstance(x, Tensor) and x.ndim == 0:
            raise ValueError("SparseLinear: expected an input (*, in_features), got a 0-d Tensor")
        a = _input(x, "SparseLinear", x.ndim if isinstance(x, Tensor) else 2, self.in_features, -1)
        _same_dtype(a, self.weight, "SparseLinear")
        y = _kernels(a).sparse_linear_forward(a.reshape(-1, self.in_features), self.weight.indptr,
                                              self.weight.indices, self.weight.values, self.bias)
        return Tensor(y.reshape(a.shape[:-1] + (self.out_features,)))

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, density={self.weight.density:.4f}")


class SparseConv2d(Module):
    """Conv2d whose weight (O, C/groups*kh*kw) is held in CSR (block-diagonal over groups);
    inference only. Built from a Conv2d with SparseConv2d.from_dense(conv)."""

    def __init__(self, weight: CSRMatrix, bias, in_channels, kernel_size, stride=(1, 1),
                 padding=(0, 0), dilation=(1, 1), groups=1):
        super().__init__()
        self.weight, self.groups = weight, int(groups)
        self.in_channels, self.out_channels = int(in_channels), weight.shape[0]
        self.kernel_size, self.stride = tuple(kernel_size), tuple(stride)
        self.padding, self.dilation = tuple(padding), tuple(dilation)
        if weight.shape[1] != self.in_channels * self.kernel_size[0] * self.kernel_size[1]:
            raise ValueError(f"SparseConv2d: a weight of shape {weight.shape} does not fit "
                             f"{in_channels} channels and kernel {self.kernel_size}")
        self.bias = None if bias is None else np.ascontiguousarray(np.asarray(bias), weight.values.dtype)

    @classmethod
    def from_dense(cls, conv: Conv2d) -> "SparseConv2d":
        padding = conv.padding
        if isinstance(padding, str):
            total = [d * (k - 1) for d, k in zip(conv.dilation, conv.kernel_size)]
            if padding == "valid":
                padding = (0, 0)
            elif any(t % 2 for t in total):
                raise ValueError(f"SparseConv2d: padding='same' with an odd total padding {total} "
                                 "(asymmetric) is not supported")
            else:
                padding = tuple(t // 2 for t in total)
        w = _current_weight(conv)
        csr = CSRMatrix.from_dense(w.reshape(w.shape[0], -1), groups=conv.groups)
        bias = None if conv.bias is None else conv.bias.numpy()
        return cls(csr, bias, conv.in_channels, conv.kernel_size, conv.stride, padding,
                   conv.dilation, conv.groups)

    def forward(self, x):
        a = _input(x, "SparseConv2d", 4, self.in_channels, 1)
        _same_dtype(a, self.weight, "SparseConv2d")
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = self.kernel_size, self.stride, self.padding, self.dilation
        if a.shape[2] + 2 * ph < dh * (kh - 1) + 1 or a.shape[3] + 2 * pw < dw * (kw - 1) + 1:
            raise ValueError(f"SparseConv2d: input {x.shape} is smaller than the kernel "
                             f"{self.kernel_size} (dilation {self.dilation}, padding {self.padding})")
        return Tensor(_kernels(a).sparse_conv2d_forward(
            a, self.weight.indptr, self.weight.indices, self.weight.values, self.bias,
            self.kernel_size, self.stride, self.padding, self.dilation))

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
                f"groups={self.groups}, bias={self.bias is not None}, density={self.weight.density:.4f}")


def _same_dtype(a, weight, layer):
    if a.dtype != weight.values.dtype:
        raise TypeError(f"{layer}: input dtype {a.dtype} differs from the weight's "
                        f"{weight.values.dtype}; cast one of them (model.to(dtype) before to_sparse)")


def _current_weight(layer) -> np.ndarray:
    """The weight a forward pass would use: weight_orig * weight_mask while pruned
    (nn.utils.prune), else the weight itself (host copy)."""
    if "weight_orig" in layer._parameters and "weight_mask" in layer._buffers:
        return np.asarray(layer.weight_orig.numpy() * layer.weight_mask.numpy().astype(layer.weight_orig.dtype))
    return np.asarray(layer.weight.numpy())


def to_sparse(model: Module, min_sparsity: float = 0.0) -> Module:
    """A copy of `model` in eval mode whose Conv2d and Linear layers with at least
    `min_sparsity` zero weights are SparseConv2d / SparseLinear (the rest stay dense).
    Pruned layers (nn.utils.prune) use weight_orig * weight_mask. `model` is not changed."""
    if not isinstance(model, Module):
        raise TypeError(f"to_sparse: expected a Module, got {type(model).__name__}")
    if not 0.0 <= float(min_sparsity) <= 1.0:
        raise ValueError(f"to_sparse: min_sparsity must lie in [0, 1], got {min_sparsity}")
    if isinstance(model, (Conv2d, Linear)):
        return _convert(model, min_sparsity) or copy.deepcopy(model).eval()
    out = copy.deepcopy(model).eval()
    for parent in list(out.modules()):
        for name, child in list(parent._modules.items()):
            if isinstance(child, (Conv2d, Linear)):
                new = _convert(child, min_sparsity)
                if new is not None:
                    parent._modules[name] = new
    return out


def _convert(layer, min_sparsity):
    if sparsity(layer) < min_sparsity:
        return None
    new = (SparseConv2d if isinstance(layer, Conv2d) else SparseLinear).from_dense(layer)
    return new.eval()


def sparsity(module: Module) -> float:
    """Fraction of zero weights over the Conv2d and Linear layers in `module` (biases excluded),
    counting what a forward pass would use (masks of pruned layers applied)."""
    layers = [m for m in module.modules() if isinstance(m, (Conv2d, Linear))]
    total = sum(int(np.prod(_current_weight(m).shape)) for m in layers)
    if total == 0:
        raise ValueError("sparsity: the module holds no Conv2d or Linear layer")
    return sum(int((_current_weight(m) == 0).sum()) for m in layers) / total
