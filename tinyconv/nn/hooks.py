"""Module hooks with PyTorch's signatures:

- forward pre-hook  hook(module, args) -> None or new args (a tuple, or one value)
- forward hook      hook(module, args, output) -> None or a new output
- full backward hook hook(module, grad_input, grad_output) -> None or new grad_input

Backward hooks ride on tensor hooks: each input that requires grad passes through an identity
op whose gradient is grad_input, and the output's gradient is grad_output. The module hook
fires once all grad_inputs have arrived (or, when no input requires grad, with grad_input
(None, ...) as soon as grad_output is known). Modules with one Tensor output are supported.
"""
from __future__ import annotations

from collections import OrderedDict

from ..autograd import Function, Tensor


class RemovableHandle:
    _next_id = 0

    def __init__(self, store):
        self._store, self.id = store, RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self):
        self._store.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


class _Identity(Function):
    @staticmethod
    def forward(ctx, a):
        return a

    @staticmethod
    def backward(ctx, g):
        return g


def _store(module, name):
    if name not in module.__dict__:
        object.__setattr__(module, name, OrderedDict())
    return module.__dict__[name]


class HookMixin:
    """register_forward_pre_hook / register_forward_hook / register_full_backward_hook."""

    def _add_hook(self, name, hook):
        if not callable(hook):
            raise TypeError(f"a hook must be callable, got {type(hook).__name__}")
        store = _store(self, name)
        handle = RemovableHandle(store)
        store[handle.id] = hook
        return handle

    def register_forward_pre_hook(self, hook):
        return self._add_hook("_forward_pre_hooks", hook)

    def register_forward_hook(self, hook):
        return self._add_hook("_forward_hooks", hook)

    def register_full_backward_hook(self, hook):
        return self._add_hook("_backward_hooks", hook)

    def _has_hooks(self):
        d = self.__dict__
        return any(d.get(k) for k in ("_forward_pre_hooks", "_forward_hooks", "_backward_hooks"))

    def _call_with_hooks(self, forward, args, kwargs):
        for hook in list(_store(self, "_forward_pre_hooks").values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        backward_hooks = _store(self, "_backward_hooks")
        if backward_hooks:
            args, state = _wrap_inputs(self, args)
        output = forward(*args, **kwargs)
        for hook in list(_store(self, "_forward_hooks").values()):
            result = hook(self, args, output)
            if result is not None:
                output = result
        if backward_hooks:
            output = _wrap_output(self, output, state)
        return output


def _fire(module, state):
    grad_input = tuple(state["grad_input"].get(i) for i in range(state["n"]))
    for hook in list(module.__dict__["_backward_hooks"].values()):
        result = hook(module, grad_input, (state["grad_output"],))
        if result is not None:
            result = tuple(result) if isinstance(result, (tuple, list)) else (result,)
            if len(result) != state["n"]:
                raise RuntimeError(f"a backward hook of {type(module).__name__} returned "
                                   f"{len(result)} gradients for {state['n']} inputs")
            grad_input = result
    return grad_input


def _wrap_inputs(module, args):
    state = {"n": len(args), "grad_input": {}, "grad_output": None, "pending": 0}
    wrapped = []
    for i, a in enumerate(args):
        if isinstance(a, Tensor) and a.requires_grad:
            a = _Identity.apply(a)
            state["pending"] += 1

            def on_grad(g, i=i):
                state["grad_input"][i] = g
                if len(state["grad_input"]) == state["pending"]:
                    new = _fire(module, state)
                    return new[i]
                return None
            a.register_hook(on_grad)
        wrapped.append(a)
    return tuple(wrapped), state


def _wrap_output(module, output, state):
    if not isinstance(output, Tensor):
        raise TypeError(f"register_full_backward_hook: {type(module).__name__} returned a "
                        f"{type(output).__name__}; hooks support modules with one Tensor output")
    if not output.requires_grad:
        return output
    output = _Identity.apply(output)

    def on_grad(g):
        state["grad_output"] = g
        if state["pending"] == 0:
            _fire(module, state)
    output.register_hook(on_grad)
    return output
