"""Elementwise activations and the bias add on CuPy arrays through activation.cu
(see kernels/README.md, "activation")."""
from __future__ import annotations

from . import _cuda

_kernels = _cuda.Kernels("activation", (
    "relu_forward", "relu_backward", "leaky_relu_forward", "leaky_relu_backward",
    "tanh_forward", "tanh_backward", "sigmoid_forward", "sigmoid_backward", "bias_add"))
NAME_EXPRESSIONS = _kernels.name_expressions


def _map(name, inputs, *scalars):
    """out = kernel(*inputs) elementwise, out shaped and typed like the first input."""
    cp = _cuda.cupy()
    first = inputs[0]
    out = cp.empty_like(first)
    if out.size:
        _kernels.launch(name, first.dtype, (_cuda.blocks(out.size),), (_cuda.THREADS,),
                        (*inputs, out, *_cuda.i64(out.size), *scalars))
    return out


def relu_forward(x):
    return _map("relu_forward", (x,))


def relu_backward(gy, y):
    return _map("relu_backward", (gy, y))


def leaky_relu_forward(x, negative_slope):
    return _map("leaky_relu_forward", (x,), x.dtype.type(negative_slope))


def leaky_relu_backward(gy, x, negative_slope):
    return _map("leaky_relu_backward", (gy, x), gy.dtype.type(negative_slope))


def tanh_forward(x):
    return _map("tanh_forward", (x,))


def tanh_backward(gy, y):
    return _map("tanh_backward", (gy, y))


def sigmoid_forward(x):
    return _map("sigmoid_forward", (x,))


def sigmoid_backward(gy, y):
    return _map("sigmoid_backward", (gy, y))


def bias_add(y, b):
    """y[:, o, ...] += b[o], in place; returns y."""
    if y.size:
        inner = y.size // (y.shape[0] * y.shape[1])
        _kernels.launch("bias_add", y.dtype, (_cuda.blocks(y.size),), (_cuda.THREADS,),
                        (y, b, *_cuda.i64(y.size, y.shape[1], inner)))
    return y
