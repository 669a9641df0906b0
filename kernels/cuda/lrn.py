"""Local response normalisation on CuPy arrays through lrn.cu (see kernels/README.md, "lrn")."""
from __future__ import annotations

from . import _cuda

_kernels = _cuda.Kernels("lrn", ("lrn_forward", "lrn_backward"))
NAME_EXPRESSIONS = _kernels.name_expressions


def _sizes(x_shape, size) -> tuple:
    """(N, C, H*W, size): the threads walk (n, pixel), each along all C channels."""
    n, c, h, w = (int(v) for v in x_shape)
    return _cuda.i64(n, c, h * w, size)


def lrn_forward(x, size, alpha, beta, k):
    cp = _cuda.cupy()
    y = cp.empty_like(x)
    scale = cp.empty_like(x)
    sizes = _sizes(x.shape, size)
    if x.size:
        t = x.dtype.type
        _kernels.launch("lrn_forward", x.dtype, (_cuda.blocks(sizes[0] * sizes[2]),), (_cuda.THREADS,),
                        (x, y, scale, *sizes, t(alpha), t(beta), t(k)))
    return y, scale


def lrn_backward(gy, x, y, scale, size, alpha, beta):
    cp = _cuda.cupy()
    gx = cp.empty_like(x)
    sizes = _sizes(x.shape, size)
    if x.size:
        t = x.dtype.type
        # 2*alpha*beta in Python floats, rounded to the dtype once, as the reference computes it
        _kernels.launch("lrn_backward", x.dtype, (_cuda.blocks(sizes[0] * sizes[2]),), (_cuda.THREADS,),
                        (gy, x, y, scale, gx, *sizes, t(beta), t(2 * alpha * beta)))
    return gx
