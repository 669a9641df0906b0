"""FocalLoss: the module form of F.focal_loss (Lin et al., 2017)."""
from __future__ import annotations

import math
import numbers

from ..ops.loss import REDUCTIONS
from . import functional as F
from .module import Module

__all__ = ["FocalLoss"]


class FocalLoss(Module):
    """loss(input, target) = F.focal_loss(input, target, gamma, alpha, reduction).

    gamma=0 with alpha=None is cross-entropy; alpha: None, a number or per-class weights (C,).
    """

    def __init__(self, gamma=2.0, alpha=None, reduction="mean"):
        super().__init__()
        if isinstance(gamma, bool) or not isinstance(gamma, numbers.Real) \
                or not math.isfinite(gamma) or gamma < 0:
            raise ValueError(f"FocalLoss: gamma must be a finite number >= 0, got {gamma!r}")
        if reduction not in REDUCTIONS:
            raise ValueError(f"FocalLoss: reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.gamma, self.alpha, self.reduction = float(gamma), alpha, reduction

    def forward(self, input, target):
        return F.focal_loss(input, target, self.gamma, self.alpha, self.reduction)

    def extra_repr(self):
        return f"gamma={self.gamma}, reduction={self.reduction!r}"
