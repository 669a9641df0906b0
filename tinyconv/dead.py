"""Dying ReLU: which units of a network never switch on over a dataset.

A ReLU unit whose pre-activation w.x + b is negative for every input outputs 0 everywhere and,
since ReLU's gradient is 0 there too, never receives a gradient again: it is dead. A large
learning-rate step or a negative bias can push b below -max_x w.x, and then nothing brings it
back. LeakyReLU keeps a small slope for negative inputs, so such a unit still learns.

A unit is one channel: a feature map of a convolution (all its positions share one filter and
one bias, so they die together) or one neuron of a linear layer. The active test is output > 0,
which for ReLU and LeakyReLU is the same as pre-activation > 0.
"""
from __future__ import annotations

import numpy as np

from .autograd import no_grad

__all__ = ["dead_units", "DEFAULT_ACTIVATIONS"]


def _activation_types():
    from . import nn
    return (nn.ReLU, nn.LeakyReLU)


DEFAULT_ACTIVATIONS = None  # None: every nn.ReLU and nn.LeakyReLU in the model


def dead_units(model, loader, activations=DEFAULT_ACTIVATIONS, max_batches=None):
    """{activation module name: fraction of its units never active} over `loader`'s inputs.

    Runs the model in eval mode without gradients (one forward pass per batch); a unit counts
    as alive as soon as one sample makes it positive at one position. `activations`: module
    types to watch (default ReLU and LeakyReLU). Also returns nothing for models without them.
    """
    types = _activation_types() if activations is None else tuple(activations)
    watched = [(name, m) for name, m in model.named_modules() if isinstance(m, types)]
    alive = {}
    handles = []
    for name, module in watched:
        def hook(mod, args, out, name=name):
            a = out.numpy()
            axes = (0,) + tuple(range(2, a.ndim))  # reduce samples and positions: one bool per channel
            seen = (a > 0).any(axis=axes) if a.ndim > 1 else (a > 0)
            alive[name] = seen if name not in alive else alive[name] | seen
        handles.append(module.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            for i, batch in enumerate(loader):
                if max_batches is not None and i >= max_batches:
                    break
                model(batch[0])
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return {name: float(1 - np.mean(alive[name])) for name, _ in watched if name in alive}
