"""locally_connected2d: a convolution with a different filter at every output position.

Weight sharing is what makes a convolution cheap and translation-equivariant; dropping it keeps
the local receptive fields but gives each output position its own weights:
LeNet-5's first layer has 6*(25+1) = 156 parameters as a convolution and 28*28*6*(25+1) =
122,304 as a locally connected layer.
"""
from __future__ import annotations

from .. import backend
from ..autograd import Function
from . import _checks as C

__all__ = ["locally_connected2d"]


class LocallyConnected2d(Function):
    @staticmethod
    def forward(ctx, x, w, b=None, stride=(1, 1), padding=(0, 0)):
        k = backend.kernels("local", x)
        ctx.save_for_backward(x, w)
        ctx.params = stride, padding
        ctx.has_bias = b is not None
        return k.local2d_forward(x, w, b, stride, padding)

    @staticmethod
    def backward(ctx, gy):
        x, w = ctx.saved
        xp = backend.array_module(gy)
        gx, gw, gb = backend.kernels("local", x).local2d_backward(
            xp.ascontiguousarray(gy), x, w, *ctx.params, need_input_grad=ctx.needs_input_grad[0])
        return (gx, gw, gb) if ctx.has_bias else (gx, gw)


def locally_connected2d(input, weight, bias=None, stride=1, padding=0):
    """Unshared 2-D "convolution" over (N, C, H, W) or (C, H, W) input.

    weight (OH, OW, out_channels, in_channels, kh, kw): one filter per output position;
    bias (out_channels, OH, OW) or None. OH = floor((H + 2p - kh)/s) + 1 must match the
    weight's first axis (likewise OW), so the input size is fixed by the weight.
        y[n, o, i, j] = bias[o, i, j] + sum_{c,u,v} weight[i, j, o, c, u, v] * x[n, c, i*s+u-p, j*s+v-p]
    Kernels: reference (NumPy) and Numba; there is no CUDA kernel for this op yet.
    """
    op = "locally_connected2d"
    x = C.as_tensor(input, "input", op)
    w = C.as_tensor(weight, "weight", op)
    C.check_float(x, "input", op)
    C.check_float(w, "weight", op)
    if x.ndim not in (3, 4):
        raise ValueError(f"{op}: input must be 4-D (N, C, H, W) or 3-D (C, H, W), got shape {x.shape}")
    C.check_ndim(w, 6, "weight", op, "(OH, OW, out_channels, in_channels, kh, kw)")
    b = None
    if bias is not None:
        b = C.as_tensor(bias, "bias", op)
        C.check_float(b, "bias", op)
        if b.shape != (w.shape[2],) + w.shape[:2]:
            raise ValueError(f"{op}: bias must have shape (out_channels, OH, OW) = "
                             f"{(w.shape[2],) + w.shape[:2]} to match weight {w.shape}, got {b.shape}")
    C.check_same_dtype(op, input=x, weight=w, bias=b)
    stride = C.pair(stride, "stride", op, 1)
    padding = C.pair(padding, "padding", op, 0)
    unbatched = x.ndim == 3
    c = x.shape[-3]
    if c != w.shape[3]:
        raise ValueError(f"{op}: input has {c} channels but weight {w.shape} expects {w.shape[3]}")
    kernel = w.shape[4:]
    if min(kernel) < 1 or min(w.shape[:3]) < 1:
        raise ValueError(f"{op}: weight has an empty axis: {w.shape}")
    out_hw = C.check_window(op, x.shape[-2:], kernel, stride, padding)
    if out_hw != w.shape[:2]:
        raise ValueError(f"{op}: input {x.shape} with kernel {kernel}, stride {stride}, padding "
                         f"{padding} gives a {out_hw[0]}x{out_hw[1]} output, but weight {w.shape} "
                         f"holds filters for {w.shape[0]}x{w.shape[1]} positions")
    if backend.array_module(x.data) is not backend.np or backend.get_backend() not in backend.CPU_BACKENDS:
        raise NotImplementedError(f"{op}: only the 'numpy' and 'numba' backends have kernels for it "
                                  f"(backend {backend.get_backend()!r}, input on {x.device})")
    if unbatched:
        x = x.reshape((1,) + x.shape)
    x, w = C.contiguous_tensor(x), C.contiguous_tensor(w)
    args = (x, w) if b is None else (x, w, C.contiguous_tensor(b))
    y = LocallyConnected2d.apply(*args, stride=stride, padding=padding)
    return y.reshape(y.shape[1:]) if unbatched else y
