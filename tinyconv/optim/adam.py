"""Adam (Kingma & Ba, 2015) and AdamW (Loshchilov & Hutter, 2019), PyTorch's exact formulas."""
from __future__ import annotations

import math

from .. import backend
from .optimizer import Optimizer, check_number


def _lerp_(start, end, weight):
    """start += weight * (end - start), rounded the way torch.lerp_ rounds it."""
    if weight < 0.5:
        start += weight * (end - start)
    else:
        start[...] = end - (end - start) * (1 - weight)


class Adam(Optimizer):
    """Per parameter p with gradient g, at step t = 1, 2, ...:

        g = g + weight_decay * p                (Adam: L2 penalty folded into the gradient)
        p = p * (1 - lr * weight_decay)         (AdamW instead: decoupled weight decay)
        m = beta1 * m + (1 - beta1) * g         v = beta2 * v + (1 - beta2) * g^2
        v_max = max(v_max, v)                   (amsgrad only; v_max replaces v below)
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    eps is added after the bias correction of v, as in PyTorch (the paper adds it to v_hat too).
    """

    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad))

    def _validate_group(self, group):
        name = type(self).__name__
        check_number(group["lr"], "learning rate", name, low=0.0)
        check_number(group["eps"], "epsilon value", name, low=0.0)
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
        for i, b in enumerate(betas):
            check_number(b, f"beta parameter at index {i}", name, low=0.0, high=1.0, high_open=True)
        group["betas"] = tuple(float(b) for b in betas)
        check_number(group["weight_decay"], "weight_decay value", name, low=0.0)

    def _update(self, p, g, state, group):
        xp = backend.array_module(p)
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(p)
            state["exp_avg_sq"] = xp.zeros_like(p)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = xp.zeros_like(p)
        state["step"] += 1
        t = state["step"]
        if wd != 0:
            if self._decoupled:
                p *= 1 - lr * wd
            else:
                g = g + wd * p
        m, v = state["exp_avg"], state["exp_avg_sq"]
        _lerp_(m, g, 1 - beta1)
        v *= beta2
        v += ((1 - beta2) * g) * g  # addcmul's order of rounding
        step_size = lr / (1 - beta1 ** t)
        bias_correction2_sqrt = math.sqrt(1 - beta2 ** t)
        if group["amsgrad"]:
            vmax = state.setdefault("max_exp_avg_sq", xp.zeros_like(p))
            xp.maximum(vmax, v, out=vmax)
            v = vmax
        denom = xp.sqrt(v) / bias_correction2_sqrt + eps
        p -= (step_size * m) / denom  # addcdiv's order of rounding


class AdamW(Adam):
    """Adam with decoupled weight decay: p shrinks by lr * weight_decay * p each step, outside
    the adaptive scaling (so decay is not weakened where gradients are large)."""

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad)
