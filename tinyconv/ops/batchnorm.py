"""Batch normalisation (Ioffe & Szegedy, 2015) with PyTorch's semantics: batch statistics in
training (biased variance to normalise, unbiased variance into the running estimate), running
statistics in eval, running = (1 - momentum) * running + momentum * batch."""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..autograd import Function, Tensor
from . import _checks as C

__all__ = ["batch_norm"]


def _kernels(x):
    if backend.is_cupy_array(x):
        # No CUDA kernel for this family yet: the reference is written with array methods only
        # and runs unchanged on CuPy arrays (each reduction is a CuPy kernel).
        from ..kernels.reference import batchnorm
        return batchnorm
    return backend.kernels("batchnorm", x)


def _as3d(xp, a):
    return xp.ascontiguousarray(a.reshape(a.shape[0], a.shape[1], -1))


class BatchNorm(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, mean=None, invstd=None, training=True):
        xp = backend.array_module(x)
        x3 = _as3d(xp, x)
        w64 = weight.astype(np.float64)
        ctx.save_for_backward(x3)
        ctx.mean, ctx.invstd, ctx.w64, ctx.training, ctx.shape = mean, invstd, w64, training, x.shape
        y = _kernels(x).batch_norm_forward(x3, mean, invstd, w64, bias.astype(np.float64))
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, g):
        (x3,) = ctx.saved
        g3 = _as3d(backend.array_module(g), g)
        gx, gw, gb = _kernels(g).batch_norm_backward(g3, x3, ctx.mean, ctx.invstd, ctx.w64,
                                                     ctx.training)
        return gx.reshape(ctx.shape), gw.astype(g.dtype), gb.astype(g.dtype)


def _channel_vector(t, name, channels, op):
    if t is None:
        return None
    C.as_tensor(t, name, op)
    if t.shape != (channels,):
        raise ValueError(f"{op}: {name} must have shape ({channels},) for an input with "
                         f"{channels} channels, got {t.shape}")
    return t


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """PyTorch's F.batch_norm. input (N, C, *); running_mean/var (C,) or None (then batch
    statistics are used even in eval); in training they are updated in place with `momentum`."""
    op = "batch_norm"
    x = C.as_tensor(input, "input", op)
    C.check_float(x, "input", op)
    if x.ndim < 2 and x.numel() == 0:  # nothing to normalise: an empty result, as PyTorch
        return x * 1.0
    if x.ndim < 2:
        raise ValueError(f"{op}: input must be (N, C, ...), got shape {x.shape}")
    channels = x.shape[1]
    rm = _channel_vector(running_mean, "running_mean", channels, op)
    rv = _channel_vector(running_var, "running_var", channels, op)
    w = _channel_vector(weight, "weight", channels, op)
    b = _channel_vector(bias, "bias", channels, op)
    if (rm is None) != (rv is None):
        raise ValueError(f"{op}: give both running_mean and running_var, or neither")
    if not (isinstance(eps, (int, float)) and eps > 0 and math.isfinite(eps)):
        raise ValueError(f"{op}: eps must be a finite number > 0, got {eps!r}")
    xp = backend.array_module(x.data)
    use_batch = training or rm is None
    if use_batch:
        count = x.numel() // channels
        if count <= 1:
            raise ValueError(f"{op}: expected more than 1 value per channel when training, got "
                             f"input of shape {x.shape}")
        mean, var = _kernels(x.data).batch_norm_stats(_as3d(xp, x.data))
        if training and rm is not None:
            # any finite momentum, as torch.nn.functional.batch_norm (the modules check [0, 1])
            if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not math.isfinite(momentum):
                raise ValueError(f"{op}: momentum must be a finite number, got {momentum!r}")
            rm.data[...] = (1 - momentum) * rm.data + momentum * mean
            rv.data[...] = (1 - momentum) * rv.data + momentum * var * (count / (count - 1))
            rm._version += 1
            rv._version += 1
    else:
        mean, var = rm.data.astype(np.float64), rv.data.astype(np.float64)
    invstd = 1.0 / xp.sqrt(var + eps)
    ones = Tensor(xp.ones(channels, dtype=x.dtype))
    zeros = Tensor(xp.zeros(channels, dtype=x.dtype))
    return BatchNorm.apply(x, ones if w is None else w, zeros if b is None else b, mean=mean,
                           invstd=invstd, training=use_batch)
