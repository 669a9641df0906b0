"""Stochastic gradient descent with momentum, PyTorch's exact rule."""
from __future__ import annotations

from .. import backend
from .optimizer import Optimizer, check_number


class SGD(Optimizer):
    """For each parameter p with gradient g (PyTorch's torch.optim.SGD):

        g = g + weight_decay * p                         (L2 penalty, if weight_decay)
        b = g                         on the first step  (momentum buffer, if momentum)
        b = momentum * b + (1 - dampening) * g           afterwards
        g = g + momentum * b  if nesterov  else  b
        p = p - lr * g

    This is the form Sutskever et al. (2013) rewrote into one velocity; AlexNet's paper writes
    v = 0.9 v - 0.0005 lr w - lr g, w = w + v, which is the same update with lr folded into v.
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def _validate_group(self, group):
        check_number(group["lr"], "learning rate", "SGD", low=0.0)
        check_number(group["momentum"], "momentum value", "SGD", low=0.0)
        check_number(group["dampening"], "dampening value", "SGD")
        check_number(group["weight_decay"], "weight_decay value", "SGD", low=0.0)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum and zero dampening, got "
                             f"momentum={group['momentum']}, dampening={group['dampening']}")

    def _update(self, p, g, state, group):
        momentum = group["momentum"]
        buf = state.get("momentum_buffer")
        first = momentum != 0 and buf is None
        if first:
            buf = state["momentum_buffer"] = backend.array_module(p).empty_like(p)
        backend.kernels("optim", p).sgd_step(p, g.astype(p.dtype, copy=False), buf, group["lr"],
                                             momentum, group["dampening"], group["weight_decay"],
                                             group["nesterov"], first)
