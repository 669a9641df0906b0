"""Knowledge-distillation loss (Hinton, Vinyals and Dean, 2015), fused with three stable
log-softmaxes.

    loss = alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE(s, target)

The student learns from the teacher's softened distribution (temperature T > 1 lifts the small
probabilities the teacher gives to wrong classes: its "dark knowledge") and from the hard
labels. The T^2 keeps the soft term's gradient, which scales as 1/T^2, comparable to the hard
term's when T changes. With reduction="mean" the KL part equals PyTorch's
`kl_div(log_softmax(s/T), softmax(t/T), reduction="batchmean") * T**2`.
"""
from __future__ import annotations

import math
import numbers

from .. import backend
from ..autograd import Function
from . import _checks as C
from .loss import _check_reduction, _reduce, _target_array

__all__ = ["distillation_loss"]


class DistillationLoss(Function):
    """Per-sample losses (N,) from student and teacher logits (N, C); reduction outside."""

    @staticmethod
    def forward(ctx, student, teacher, target, T=4.0, alpha=0.9):
        k = backend.kernels("distill", student)
        loss, logp, logq, logr = k.distillation_forward(student, teacher, target, T, alpha)
        ctx.save_for_backward(logp, logq, logr, target)
        ctx.T, ctx.alpha = T, alpha
        return loss

    @staticmethod
    def backward(ctx, g):
        logp, logq, logr, target = ctx.saved
        g = backend.array_module(g).ascontiguousarray(g)
        gs, gt = backend.kernels("distill", g).distillation_backward(
            g, logp, logq, logr, target, ctx.T, ctx.alpha, ctx.needs_input_grad[1])
        return gs, gt, None


def _number(value, name, op):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{op}: {name} must be a finite number, got {value!r}")
    return float(value)


def distillation_loss(student_logits, teacher_logits, target, T=4.0, alpha=0.9, reduction="mean"):
    """Hinton et al.'s distillation loss from raw student and teacher logits.

    student_logits, teacher_logits: (N, C), same shape and dtype (float32 or float64).
    target: (N,) integer class indices in [0, C) for the hard-label term.
    T > 0: the temperature of both softmaxes in the soft term (the hard term uses T = 1).
    alpha in [0, 1]: the weight of the soft term; alpha = 0 is plain cross_entropy, alpha = 1
        is pure distillation (the labels are still validated but do not count).
    reduction: "mean" over samples (the KL part is then PyTorch's "batchmean"), "sum" or "none".

    The gradient flows into teacher_logits too when it requires one (as it would through
    PyTorch's kl_div); in distillation the teacher runs under no_grad, so it has none.
    """
    op = "distillation_loss"
    s = C.as_tensor(student_logits, "student_logits", op)
    t = C.as_tensor(teacher_logits, "teacher_logits", op)
    C.check_float(s, "student_logits", op)
    C.check_float(t, "teacher_logits", op)
    C.check_same_dtype(op, student_logits=s, teacher_logits=t)
    if s.ndim != 2:
        raise ValueError(f"{op}: student_logits must be (N, C), got shape {s.shape}")
    if t.shape != s.shape:
        raise ValueError(f"{op}: teacher_logits shape {t.shape} does not match student_logits "
                         f"shape {s.shape}")
    if s.shape[1] < 1:
        raise ValueError(f"{op}: logits need at least one class, got shape {s.shape}")
    if s.device != t.device:
        raise RuntimeError(f"{op}: student_logits on {s.device} and teacher_logits on {t.device}; "
                           "move them to one device")
    T = _number(T, "T", op)
    if T <= 0:
        raise ValueError(f"{op}: T (temperature) must be > 0, got {T}")
    alpha = C.check_probability(_number(alpha, "alpha", op), "alpha", op)
    _check_reduction(reduction, op)
    tgt = _target_array(target, (s.shape[0],), s.shape[1], s.shape, op)
    losses = DistillationLoss.apply(C.contiguous_tensor(s), C.contiguous_tensor(t),
                                    tgt, T=T, alpha=alpha)
    return _reduce(losses, reduction, (s.shape[0],))
