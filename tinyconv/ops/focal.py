"""Focal loss (Lin, Goyal, Girshick, He and Dollar, 2017), fused with log-softmax.

    FL = -alpha[t] * (1 - p_t)**gamma * log p_t,      p_t = softmax(x)[t]

The factor (1 - p_t)**gamma shrinks the loss of samples the model already gets right with
confidence (p_t near 1), so the many easy examples of a frequent class stop drowning the few
hard ones of a rare class. gamma = 0 with no alpha is cross-entropy, bit for bit: the per-sample
cross-entropy comes from the same kernel and is multiplied by 1.0.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import backend
from ..autograd import Function, Tensor
from . import _checks as C
from .loss import _check_reduction, _class_rows, _reduce

__all__ = ["focal_loss"]


class FocalLoss(Function):
    """Per-sample focal losses (M,) from logits (M, C); the reduction happens outside."""

    @staticmethod
    def forward(ctx, logits, target, gamma=2.0, alpha=None):
        xp = backend.array_module(logits)
        ce, logp = backend.kernels("softmax", logits).cross_entropy_forward(logits, target, 0.0)
        rows = xp.arange(logits.shape[0])
        logpt = logp[rows, target]
        q = -xp.expm1(logpt)  # 1 - p_t without the cancellation of 1 - exp(logpt) near p_t = 1
        weight = q ** gamma if gamma else xp.ones_like(q)
        if alpha is not None:
            weight = weight * alpha[target]
        ctx.save_for_backward(logp, target, logpt, q)
        ctx.gamma, ctx.alpha = gamma, alpha
        return weight * ce

    @staticmethod
    def backward(ctx, g):
        logp, target, logpt, q = ctx.saved
        xp = backend.array_module(g)
        gamma = ctx.gamma
        # dFL/dx_j = c * (p_j - [j == t]) with c = q^gamma - gamma * p_t * q^gamma * log(p_t) / q.
        # log(p_t)/q -> -1 as q -> 0: the limit keeps c finite for confident rows (logits 1e4).
        c = q ** gamma if gamma else xp.ones_like(q)
        if gamma:
            safe_q = xp.where(q > 0, q, 1)
            ratio = xp.where(q > 0, logpt / safe_q, -1.0)
            c = c - gamma * xp.exp(logpt) * q ** gamma * ratio
        if ctx.alpha is not None:
            c = c * ctx.alpha[target]
        grad = xp.exp(logp)
        grad[xp.arange(grad.shape[0]), target] -= 1
        return (g * c)[:, None] * grad, None


def _alpha(alpha, num_classes, like, op):
    """None, or per-class weights (C,) as an array of the logits' dtype and device."""
    if alpha is None:
        return None
    xp = backend.array_module(like.data)
    if isinstance(alpha, numbers.Real) and not isinstance(alpha, bool):
        values = np.full(num_classes, float(alpha))
    else:
        values = alpha.numpy() if isinstance(alpha, Tensor) else np.asarray(alpha, dtype=np.float64)
        if values.shape != (num_classes,):
            raise ValueError(f"{op}: alpha must be a number or hold one weight per class "
                             f"({num_classes},), got shape {values.shape}")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(f"{op}: alpha must be finite and non-negative, got {values}")
    return xp.asarray(values.astype(like.dtype))


def focal_loss(input, target, gamma=2.0, alpha=None, reduction="mean"):
    """Softmax focal loss from raw logits, fused with a stable log-softmax.

    input (N, C), (C,) or (N, C, d1, ...) logits; target (N,), () or (N, d1, ...) class indices.
    gamma >= 0 focuses on hard samples (2 in Lin et al.); gamma = 0 and alpha = None equal
    `cross_entropy` exactly. alpha: None, a number, or per-class weights (C,) multiplying each
    sample's loss by alpha[target] (gamma = 0 with alpha = class weights is class-weighted
    cross-entropy). reduction: "mean" over samples (the plain mean, not divided by the sum of
    alpha as PyTorch's weighted cross_entropy does), "sum", or "none".
    """
    op = "focal_loss"
    x = C.as_tensor(input, "input", op)
    C.check_float(x, "input", op)
    _check_reduction(reduction, op)
    if isinstance(gamma, bool) or not isinstance(gamma, numbers.Real) or not math.isfinite(gamma) \
            or gamma < 0:
        raise ValueError(f"{op}: gamma must be a finite number >= 0, got {gamma!r}")
    rows, t, sample_shape = _class_rows(x, target, op)
    a = _alpha(alpha, rows.shape[1], rows, op)
    losses = FocalLoss.apply(rows, t, gamma=float(gamma), alpha=a)
    return _reduce(losses, reduction, sample_shape)
