"""DistillationLoss: the module form of F.distillation_loss (Hinton et al., 2015)."""
from __future__ import annotations

import math
import numbers

from ..ops.loss import REDUCTIONS
from . import functional as F
from .module import Module

__all__ = ["DistillationLoss"]


class DistillationLoss(Module):
    """loss(student_logits, teacher_logits, target) = F.distillation_loss(..., T, alpha, reduction):
    alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * cross_entropy(s, target)."""

    def __init__(self, T=4.0, alpha=0.9, reduction="mean"):
        super().__init__()
        if isinstance(T, bool) or not isinstance(T, numbers.Real) or not math.isfinite(T) or T <= 0:
            raise ValueError(f"DistillationLoss: T (temperature) must be a finite number > 0, got {T!r}")
        if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 <= alpha <= 1:
            raise ValueError(f"DistillationLoss: alpha must be a number in [0, 1], got {alpha!r}")
        if reduction not in REDUCTIONS:
            raise ValueError(f"DistillationLoss: reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.T, self.alpha, self.reduction = float(T), float(alpha), reduction

    def forward(self, student_logits, teacher_logits, target):
        return F.distillation_loss(student_logits, teacher_logits, target, self.T, self.alpha,
                                   self.reduction)

    def extra_repr(self):
        return f"T={self.T}, alpha={self.alpha}, reduction={self.reduction!r}"
