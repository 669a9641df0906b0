"""Freezing parameters for transfer learning: frozen parameters get no gradient, so the
optimizers leave them alone (they skip parameters whose grad is None or that are frozen)."""
from __future__ import annotations

import numbers

__all__ = ["freeze", "unfreeze"]


def _targets(module, up_to, op):
    from .module import Module
    if not isinstance(module, Module):
        raise TypeError(f"{op}: expected a Module, got {type(module).__name__}")
    if up_to is None:
        return [module]
    children = list(module.named_children())
    if isinstance(up_to, bool) or not isinstance(up_to, (numbers.Integral, str)):
        raise TypeError(f"{op}: up_to must be None, an int or a child's name, got {up_to!r}")
    if isinstance(up_to, str):
        names = [n for n, _ in children]
        if up_to not in names:
            raise ValueError(f"{op}: {type(module).__name__} has no child {up_to!r}; children: {names}")
        return [m for _, m in children[:names.index(up_to) + 1]]
    if not 0 <= up_to <= len(children):
        raise ValueError(f"{op}: up_to must be in [0, {len(children)}] for a module with "
                         f"{len(children)} children, got {up_to}")
    return [m for _, m in children[:up_to]]


def freeze(module, up_to=None):
    """Stop training `module`'s parameters (requires_grad=False, gradients dropped).

    up_to=None freezes the whole module; an int k freezes its first k children (e.g. the first
    k layers of a Sequential); a child's name freezes the children up to and including it.
    Returns the module.
    """
    for m in _targets(module, up_to, "freeze"):
        for p in m.parameters():
            p.requires_grad_(False)
            p.grad = None
    return module


def unfreeze(module, up_to=None):
    """Undo `freeze`: the same selection gets requires_grad=True again. Returns the module."""
    for m in _targets(module, up_to, "unfreeze"):
        for p in m.parameters():
            p.requires_grad_(True)
    return module
