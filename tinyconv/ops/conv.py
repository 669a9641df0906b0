"""conv2d: validation, the algorithm choice, and the Function that calls the kernels."""
from __future__ import annotations

from .. import backend
from ..autograd import Function
from . import _checks as C
from .pool import PadConstant

__all__ = ["conv2d"]

ALGOS = ("auto", "im2col", "direct")


def choose_algo(x_shape, w_shape, out_hw, itemsize=4) -> tuple:
    """algo="auto": (forward algorithm, backward algorithm), from measurement.

    Measured on the 2-core dev machine (numba backend, float32, tinyconv's own GEMM): im2col +
    GEMM wins both ways on every LeNet-5 and AlexNet layer. Even LeNet-5's conv1 (25 inputs per
    output), where a direct backward used to win against a BLAS that ran 6 x 25 GEMMs far below
    its peak: batch 64, 0.17 ms im2col against 0.26 ms direct; batch 256, 0.60 against 1.00 ms.
    The im2col scratch is bounded per thread, so memory never forces a choice either. "direct"
    stays selectable (it needs no column scratch).
    """
    return "im2col", "im2col"


class Conv2d(Function):
    @staticmethod
    def forward(ctx, x, w, b=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1,
                algo="im2col", backward_algo=None):
        k = backend.kernels("conv", x)
        ctx.save_for_backward(x, w)
        ctx.params = stride, padding, dilation, groups, backward_algo or algo
        ctx.has_bias = b is not None
        return k.conv2d_forward(x, w, b, stride, padding, dilation, groups, algo)

    @staticmethod
    def backward(ctx, gy):
        x, w = ctx.saved
        k = backend.kernels("conv", x)
        xp = backend.array_module(gy)
        gx, gw, gb = k.conv2d_backward(xp.ascontiguousarray(gy), x, w, *ctx.params,
                                       need_input_grad=ctx.needs_input_grad[0])
        return (gx, gw, gb) if ctx.has_bias else (gx, gw)


def _padding(padding, kernel, stride, dilation, op):
    """(symmetric padding pair, extra (bottom, right) padding). Only "same" with an odd total
    d*(k-1) needs the extra row/column: PyTorch puts it at the bottom/right."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"{op}: padding='same' needs stride 1, got stride {stride}")
            total = [d * (k - 1) for k, d in zip(kernel, dilation)]
            return tuple(t // 2 for t in total), tuple(t % 2 for t in total)
        raise ValueError(f"{op}: padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
    return C.pair(padding, "padding", op, 0), (0, 0)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, algo="auto"):
    """2-D convolution (cross-correlation, as in every framework), NCHW.

    input (N, C, H, W) or unbatched (C, H, W); weight (O, C/groups, kh, kw); bias (O,) or None.
    stride, padding, dilation: int or pair (padding also "valid" / "same"; an odd total "same"
    padding d*(k-1) puts the extra row/column at the bottom/right, as PyTorch does).
    algo: "im2col" (columns + GEMM), "direct" (loop nest, no columns) or "auto" (per direction,
    see `choose_algo`). Both algorithms are exact and agree to rounding.
    """
    op = "conv2d"
    x = C.as_tensor(input, "input", op)
    w = C.as_tensor(weight, "weight", op)
    C.check_float(x, "input", op)
    C.check_float(w, "weight", op)
    unbatched = x.ndim == 3
    if x.ndim not in (3, 4):
        raise ValueError(f"{op}: input must be 4-D (N, C, H, W) or 3-D (C, H, W), got shape {x.shape}")
    C.check_ndim(w, 4, "weight", op, "(out_channels, in_channels/groups, kh, kw)")
    if bias is not None:
        b = C.as_tensor(bias, "bias", op)
        C.check_float(b, "bias", op)
        if b.shape != (w.shape[0],):
            raise ValueError(f"{op}: bias must have shape ({w.shape[0]},) to match weight "
                             f"{w.shape}, got {b.shape}")
    else:
        b = None
    C.check_same_dtype(op, input=x, weight=w, bias=b)
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    if algo not in ALGOS:
        raise ValueError(f"{op}: algo must be one of {ALGOS}, got {algo!r}")
    stride = C.pair(stride, "stride", op, 1)
    dilation = C.pair(dilation, "dilation", op, 1)
    kernel = tuple(w.shape[2:])
    padding, extra = _padding(padding, kernel, stride, dilation, op)
    c = x.shape[0] if unbatched else x.shape[1]
    o = w.shape[0]
    if c % groups:
        raise ValueError(f"{op}: input channels {c} are not divisible by groups={groups} "
                         f"(input {x.shape})")
    if o % groups:
        raise ValueError(f"{op}: out channels {o} are not divisible by groups={groups} (weight {w.shape})")
    if w.shape[1] * groups != c:
        raise ValueError(f"{op}: input has {c} channels but weight {w.shape} with groups={groups} "
                         f"expects {w.shape[1] * groups}")
    if min(kernel) < 1:
        raise ValueError(f"{op}: weight has an empty kernel: {w.shape}")
    spatial = tuple(n + e for n, e in zip(x.shape[-2:], extra))
    out_hw = C.check_window(op, spatial, kernel, stride, padding, dilation)
    algo, backward_algo = (choose_algo(x.shape, w.shape, out_hw, x.dtype.itemsize)
                           if algo == "auto" else (algo, algo))

    if unbatched:
        x = x.reshape((1,) + x.shape)
    if any(extra):  # the asymmetric part of "same" as a differentiable zero pad, then a symmetric conv
        x = PadConstant.apply(x, pads=(0, extra[0], 0, extra[1]), value=0.0)
    x, w = C.contiguous_tensor(x), C.contiguous_tensor(w)
    args = (x, w) if b is None else (x, w, b)
    y = Conv2d.apply(*args, stride=stride, padding=padding, dilation=dilation, groups=groups, algo=algo,
                     backward_algo=backward_algo)
    return y.reshape(y.shape[1:]) if unbatched else y
