"""Pooling on CuPy arrays through pool.cu (see kernels/README.md, "pool")."""
from __future__ import annotations

from . import _cuda

_kernels = _cuda.Kernels("pool", (
    "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
    "adaptive_avg_pool2d_forward", "adaptive_avg_pool2d_backward"))
NAME_EXPRESSIONS = _kernels.name_expressions


def output_size(n, k, s, p, d=1):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def window_args(x_shape, kernel_size, stride, padding) -> tuple:
    """(planes, H, W, kh, kw, sh, sw, ph, pw, OH, OW) as the fixed-window kernels take them."""
    n, c, h, w = (int(v) for v in x_shape)
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    return _cuda.i64(n * c, h, w, kh, kw, sh, sw, ph, pw,
                     output_size(h, kh, sh, ph), output_size(w, kw, sw, pw))


def max_window_args(x_shape, kernel_size, stride, padding, dilation) -> tuple:
    """(planes, H, W, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW) as max_pool2d_forward takes them."""
    n, c, h, w = (int(v) for v in x_shape)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    return _cuda.i64(n * c, h, w, kh, kw, sh, sw, ph, pw, dh, dw,
                     output_size(h, kh, sh, ph, dh), output_size(w, kw, sw, pw, dw))


def _out_shape(x_shape, oh, ow):
    return (int(x_shape[0]), int(x_shape[1]), int(oh), int(ow))


def _run(name, dtype, total, args):
    if total:
        _kernels.launch(name, dtype, (_cuda.blocks(total),), (_cuda.THREADS,), args)


# --- max --------------------------------------------------------------------------------------------
def max_pool2d_forward(x, kernel_size, stride, padding, dilation=(1, 1)):
    cp = _cuda.cupy()
    geo = max_window_args(x.shape, kernel_size, stride, padding, dilation)
    shape = _out_shape(x.shape, geo[-2], geo[-1])
    y = cp.empty(shape, dtype=x.dtype)
    argmax = cp.empty(shape, dtype=cp.int64)
    _run("max_pool2d_forward", x.dtype, y.size, (x, y, argmax, *geo))
    return y, argmax


def max_pool2d_backward(gy, argmax, x_shape):
    cp = _cuda.cupy()
    n, c, h, w = (int(v) for v in x_shape)
    gx = cp.zeros((n, c, h, w), dtype=gy.dtype)  # the kernel adds into it
    planes, length = n * c, int(gy.shape[2]) * int(gy.shape[3])
    if planes and length:
        # one warp per plane
        _kernels.launch("max_pool2d_backward", gy.dtype, (_cuda.blocks(planes * 32),), (_cuda.THREADS,),
                        (gy, argmax, gx, *_cuda.i64(planes, h * w, length)))
    return gx


# --- average ----------------------------------------------------------------------------------------
def avg_pool2d_forward(x, kernel_size, stride, padding):
    cp = _cuda.cupy()
    geo = window_args(x.shape, kernel_size, stride, padding)
    y = cp.empty(_out_shape(x.shape, geo[-2], geo[-1]), dtype=x.dtype)
    _run("avg_pool2d_forward", x.dtype, y.size, (x, y, *geo))
    return y


def avg_pool2d_backward(gy, x_shape, kernel_size, stride, padding):
    cp = _cuda.cupy()
    geo = window_args(x_shape, kernel_size, stride, padding)
    gx = cp.empty(tuple(int(v) for v in x_shape), dtype=gy.dtype)
    _run("avg_pool2d_backward", gy.dtype, gx.size, (gy, gx, *geo))
    return gx


# --- adaptive average -------------------------------------------------------------------------------
def adaptive_args(x_shape, output_size) -> tuple:
    """(planes, H, W, OH, OW) as the adaptive kernels take them."""
    n, c, h, w = (int(v) for v in x_shape)
    return _cuda.i64(n * c, h, w, *output_size)


def adaptive_avg_pool2d_forward(x, output_size):
    cp = _cuda.cupy()
    y = cp.empty(_out_shape(x.shape, *output_size), dtype=x.dtype)
    _run("adaptive_avg_pool2d_forward", x.dtype, y.size, (x, y, *adaptive_args(x.shape, output_size)))
    return y


def adaptive_avg_pool2d_backward(gy, x_shape, output_size):
    cp = _cuda.cupy()
    gx = cp.empty(tuple(int(v) for v in x_shape), dtype=gy.dtype)
    _run("adaptive_avg_pool2d_backward", gy.dtype, gx.size, (gy, gx, *adaptive_args(x_shape, output_size)))
    return gx
