"""Tensor, Function and the tape.

A `Tensor` wraps an ndarray (NumPy or CuPy). Every differentiable op is a `Function` whose
`forward(ctx, *arrays, **params)` and `backward(ctx, grad)` work on raw arrays; `Function.apply`
wraps the result in a Tensor that remembers its creator. `Tensor.backward()` walks the graph
once, in reverse topological order, without recursion (a chain of 100,000 ops is fine).

Every tensor counts its in-place changes (`_version`, bumped by ops/inplace.py and optimizers);
a node remembers its inputs' versions and backward refuses one whose inputs changed since.
Gradients are cast to each tensor's own dtype, as in PyTorch. The ops and Tensor's methods live
in tinyconv/ops/ (listed, one line each, in ops/methods.py): this file knows no op.
"""
from __future__ import annotations

import contextlib
import sys

import numpy as np

from . import backend

_grad_enabled = [True]
_RELEASED = "released"  # marks a non-leaf whose graph was freed by backward()


@contextlib.contextmanager
def no_grad():
    """Inside this block no graph is recorded (inference, optimizer updates)."""
    previous = _grad_enabled[0]
    _grad_enabled[0] = False
    try:
        yield
    finally:
        _grad_enabled[0] = previous


def is_grad_enabled() -> bool:
    return _grad_enabled[0]


class Context:
    """What a Function's forward leaves for its backward."""

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad
        self.saved = ()

    def save_for_backward(self, *arrays):
        self.saved = arrays


class Function:
    """Subclass and define `forward(ctx, *arrays, **params)` and `backward(ctx, grad)`.

    `backward` returns one gradient (or None) per positional input of `forward`, each of that
    input's shape.
    """

    @staticmethod
    def forward(ctx, *arrays, **params):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **params):
        tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in inputs]
        _same_device(cls.__name__, tensors)
        needs = tuple(t.requires_grad for t in tensors)
        track = is_grad_enabled() and any(needs)
        ctx = Context(needs)
        out = cls.forward(ctx, *[t.data for t in tensors], **params)
        track = track and out.dtype.kind == "f"  # integer and bool results carry no gradient
        result = Tensor(out, requires_grad=track)
        if track:
            ctx.versions = tuple(t._version for t in tensors)
            result._node = (cls, ctx, tensors)
        return result


def _check_versions(fn, ctx, inputs):
    """An input changed in place after this op used it: refuse rather than give a wrong gradient.
    A leaf matters only if its array was saved; a non-leaf always (its graph was rerouted)."""
    saved = {id(a) for a in ctx.saved}
    for i, (t, seen) in enumerate(zip(inputs, ctx.versions)):
        if t._version != seen and (t._node is not None or id(t.data) in saved):
            raise RuntimeError(
                f"{fn.__name__}: input {i} (shape {t.shape}) was modified by an in-place operation "
                f"after the op used it (version {seen} then, {t._version} now), so its gradient "
                "cannot be computed; modify a .clone() instead")


def _same_device(name, tensors):
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        shapes = ", ".join(f"{t.device}:{t.shape}" for t in tensors)
        raise RuntimeError(f"{name}: inputs live on different devices ({shapes}); "
                           "move them with .to(device) first")


def _as_array(data, dtype=None):
    if isinstance(data, Tensor):
        data = data.data
    if backend.is_cupy_array(data):
        return data if dtype is None else data.astype(dtype, copy=False)
    arr = np.asarray(data, dtype=dtype)
    if dtype is None and arr.dtype.kind == "f" and arr.dtype != np.float64 and arr.dtype != np.float32:
        arr = arr.astype(np.float32)
    if dtype is None and arr.dtype == np.float64 and not isinstance(data, (np.ndarray, np.generic)):
        # Python floats and lists become float32, as in PyTorch; explicit float64 arrays stay.
        arr = arr.astype(np.float32)
    return arr


class Tensor:
    """An n-dimensional array with an optional gradient."""

    __array_priority__ = 1000  # make `ndarray + Tensor` call Tensor.__radd__

    def __init__(self, data, requires_grad=False, dtype=None):
        self.data = _as_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"only floating tensors can require gradients, got {self.data.dtype}")
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._node = None  # (Function class, ctx, input tensors) for non-leaf tensors
        self._version = 0  # bumped by every in-place change; backward compares it
        self._hooks = None  # functions called with this tensor's gradient (register_hook)
        self._retains_grad = False

    # --- introspection -------------------------------------------------------------------
    shape = property(lambda self: tuple(self.data.shape))
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    is_leaf = property(lambda self: self._node is None)

    @property
    def device(self) -> str:
        return "cuda" if backend.is_cupy_array(self.data) else "cpu"

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def numel(self) -> int:
        return int(self.data.size)

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        dev = ", device='cuda'" if self.device == "cuda" else ""
        body = np.array2string(self.numpy(), precision=4, separator=", ", threshold=20)
        return f"tensor({body}, dtype={self.dtype}{dev}{grad})"

    # --- conversion ----------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (copied from the GPU when needed)."""
        return self.data.get() if self.device == "cuda" else self.data

    def item(self):
        if self.numel() != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.numpy().reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def detach(self) -> "Tensor":
        """A new leaf sharing the data, cut from the graph."""
        return Tensor(self.data)

    def requires_grad_(self, flag=True) -> "Tensor":
        if flag and self.data.dtype.kind != "f":
            raise TypeError(f"only floating tensors can require gradients, got {self.data.dtype}")
        self.requires_grad = bool(flag)
        return self

    def register_hook(self, hook):
        """Call hook(grad) whenever this tensor's gradient is computed; a Tensor it returns
        replaces the gradient. Returns a handle whose remove() unregisters it."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: the tensor does not require grad")
        self._hooks = [] if self._hooks is None else self._hooks
        self._hooks.append(hook)
        return _Handle(self._hooks, hook)

    def retain_grad(self):
        """Keep .grad on this non-leaf after backward (leaves keep theirs anyway)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: the tensor does not require grad")
        self._retains_grad = self._node is not None

    # --- backward ------------------------------------------------------------------------
    def backward(self, grad=None, retain_graph=False):
        """Accumulate d(self)/d(leaf) * grad into `.grad` of every leaf that requires it."""
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad "
                               "(no input had requires_grad=True, or it was made under no_grad)")
        xp = backend.array_module(self.data)
        if grad is None:
            if self.numel() != 1:
                raise RuntimeError(f"backward() without a gradient needs a scalar, got shape {self.shape}")
            grad = xp.ones_like(self.data)
        else:
            grad = _as_array(grad, self.dtype)
            if grad.shape != self.data.shape:
                raise ValueError(f"backward(): grad shape {grad.shape} != tensor shape {self.shape}")

        order = _topological_order(self)
        grads = {id(self): grad}
        for t in order:  # outputs before inputs
            g = grads.pop(id(t), None)
            if g is None:
                continue
            if t._hooks:
                g = _run_hooks(t, g)
            if t._node is None:
                t._accumulate(g)
                continue
            if t._node is _RELEASED:
                raise RuntimeError("backward through a graph that was already freed; "
                                   "pass retain_graph=True to the first backward()")
            if t._retains_grad:  # a copy: g goes on into this node's backward
                t._accumulate(g.copy())
            fn, ctx, inputs = t._node
            _check_versions(fn, ctx, inputs)
            in_grads = fn.backward(ctx, g)
            if not isinstance(in_grads, tuple):
                in_grads = (in_grads,)
            if len(in_grads) != len(inputs):
                raise RuntimeError(f"{fn.__name__}.backward returned {len(in_grads)} gradients "
                                   f"for {len(inputs)} inputs")
            for inp, ig in zip(inputs, in_grads):
                if ig is None or not inp.requires_grad:
                    continue
                if ig.shape != inp.data.shape:
                    raise RuntimeError(f"{fn.__name__}.backward gave a gradient of shape {ig.shape} "
                                       f"for an input of shape {inp.shape}")
                if ig.dtype != inp.data.dtype:  # gradients live in their tensor's dtype
                    ig = ig.astype(inp.data.dtype)
                key = id(inp)
                grads[key] = ig if key not in grads else grads[key] + ig
            in_grads = ig = None  # no stray references: a leaf can take its gradient uncopied
            if not retain_graph:
                t._node = _RELEASED  # saved arrays can be freed now

    def _accumulate(self, g):
        if self.grad is None:
            # A gradient nobody else holds becomes .grad as it is (AlexNet: 244 MB not copied);
            # one that may alias another gradient is copied, so .grad never shares memory.
            owned = g.dtype == self.data.dtype and _unshared(g)
            self.grad = Tensor(g if owned else g.astype(self.data.dtype, copy=True))
        else:
            self.grad.data = self.grad.data + g.astype(self.data.dtype, copy=False)


def _unshared(g):
    """True if g and every array it is a view of are referenced only by this call chain
    (backward's loop variable, _accumulate's argument, this argument) and by their own views."""
    if sys.getrefcount(g) > 4:
        return False
    base = g.base
    while isinstance(base, np.ndarray):
        if sys.getrefcount(base) > 3:  # the view's .base, the local name, getrefcount's argument
            return False
        base = base.base
    return True


class _Handle:
    def __init__(self, hooks, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self):
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def _run_hooks(t, g):
    for hook in list(t._hooks):
        out = hook(Tensor(g))
        if out is not None:
            out = out.data if isinstance(out, Tensor) else out
            if tuple(out.shape) != t.shape:
                raise RuntimeError(f"a hook returned a gradient of shape {tuple(out.shape)} for a "
                                   f"tensor of shape {t.shape}")
            g = out
    return g


def _topological_order(root):
    """Tensors reachable from root, each after every tensor that consumes it (iterative DFS)."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        t, expanded = stack.pop()
        if expanded:
            order.append(t)
            continue
        if id(t) in visited:
            continue
        visited.add(id(t))
        stack.append((t, True))
        if t._node is not None and t._node is not _RELEASED:
            # leaves enter the stack first, so they finish last in the DFS and come right after
            # their consumer in the reversed order: a parameter's gradient is final (and its
            # hooks run, e.g. DDP's bucket all-reduce) as soon as its layer's backward is done,
            # not after the whole graph
            for leaf_pass in (True, False):
                for inp in t._node[2]:
                    if inp.requires_grad and id(inp) not in visited and (inp._node is None) == leaf_pass:
                        stack.append((inp, False))
    order.reverse()
    return order


def tensor(data, requires_grad=False, dtype=None, device=None) -> Tensor:
    """A new tensor holding a copy of `data` (float32 for Python floats, as in PyTorch);
    `from_numpy` shares the array instead."""
    if isinstance(data, Tensor):
        data = data.data
    xp = backend.array_module(data) if backend.is_cupy_array(data) else np
    t = Tensor(xp.array(_as_array(data, dtype), copy=True))
    if device is not None:
        t = t.to(device)
    return t.requires_grad_(requires_grad)
