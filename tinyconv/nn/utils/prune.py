"""Pruning with torch.nn.utils.prune's names and semantics.

Pruning `module.weight` moves the Parameter to `module.weight_orig`, adds a buffer
`module.weight_mask` (same dtype as the weight, 1 = kept) and registers the pruning method as a
forward pre-hook that sets the plain attribute `module.weight = weight_orig * weight_mask` before
every forward pass. Gradients therefore reach `weight_orig` only where the mask is 1, the
optimizer keeps updating the same Parameter object it was given, and `state_dict()` holds
`weight_orig` and `weight_mask` (so a pruned model's masks survive saving and loading into a
model pruned the same way). `remove(module, "weight")` makes the pruning permanent: `weight`
becomes an ordinary Parameter again, holding the zeros.

Pruning the same tensor again combines the methods in a `PruningContainer`, as PyTorch does: an
unstructured amount applies to the entries still unpruned, a structured amount to the channels
still holding a non-zero mask entry, and the new mask is multiplied into the old one. So three
`l1_unstructured(m, "weight", 0.5)` calls leave 1/8 of the weights, not 1/2.

`amount`: a float in [0, 1] is the fraction to prune (rounded with Python's round, as PyTorch
does), a non-negative int the exact number. Ties between equal magnitudes are broken by position
here (the first one is pruned first); PyTorch's `topk` leaves that unspecified.
"""
from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod

import numpy as np

from ... import backend
from ...autograd import Tensor
from ...random import generator
from ..module import Module, Parameter

__all__ = ["BasePruningMethod", "PruningContainer", "Identity", "RandomUnstructured",
           "L1Unstructured", "RandomStructured", "LnStructured", "CustomFromMask", "identity",
           "random_unstructured", "l1_unstructured", "random_structured", "ln_structured",
           "global_unstructured", "custom_from_mask", "remove", "is_pruned"]


def _array(t):
    return t.data if isinstance(t, Tensor) else t


def _pre_hooks(module):
    return module.__dict__.get("_forward_pre_hooks", {})


class BasePruningMethod(ABC):
    """A pruning method: `compute_mask(t, default_mask)` on raw arrays; applied to a module it
    lives on as the forward pre-hook that recomputes `name` from `name_orig * name_mask`."""

    _tensor_name = None
    PRUNING_TYPE = None

    def __call__(self, module, inputs):
        object.__setattr__(module, self._tensor_name, self.apply_mask(module))

    @abstractmethod
    def compute_mask(self, t, default_mask):
        """The new mask (an array like `default_mask`) from importance scores `t`."""

    def apply_mask(self, module):
        if self._tensor_name is None:
            raise ValueError(f"{type(self).__name__} has not been applied to a module yet")
        orig = getattr(module, self._tensor_name + "_orig")
        mask = getattr(module, self._tensor_name + "_mask")
        return orig * Tensor(mask.data.astype(orig.dtype, copy=False))

    @classmethod
    def apply(cls, module, name, *args, importance_scores=None, **kwargs):
        """Prune `module.<name>` with cls(*args, **kwargs); returns the method (a
        PruningContainer when the tensor was pruned before)."""
        if not isinstance(module, Module):
            raise TypeError(f"prune: module must be a tinyconv.nn.Module, got {type(module).__name__}")
        if not isinstance(name, str):
            raise TypeError(f"prune: name must be a str, got {type(name).__name__}")
        old, old_key = None, None
        for key, hook in _pre_hooks(module).items():
            if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
                old, old_key = hook, key
        if old is None:
            orig = module._parameters.get(name)
            if orig is None:
                raise AttributeError(f"prune: {type(module).__name__} has no parameter {name!r} "
                                     f"(parameters: {[k for k, v in module._parameters.items() if v is not None]})")
        method = cls(*args, **kwargs)  # validates the arguments before anything changes
        method._tensor_name = name
        if old is not None:
            if isinstance(old, PruningContainer):
                old.add_pruning_method(method)
                method = old
            else:
                method = PruningContainer(old, method)
        current = getattr(module, name) if old is not None else orig
        if importance_scores is None:
            scores = current.data
        else:
            scores = _array(importance_scores)
            if tuple(scores.shape) != current.shape:
                raise ValueError(f"prune: importance_scores has shape {tuple(scores.shape)}, "
                                 f"{name!r} has shape {current.shape}")
        if old is None:
            xp = backend.array_module(orig.data)
            default_mask = xp.ones_like(orig.data)
        else:
            default_mask = getattr(module, name + "_mask").data.copy()
        mask = method.compute_mask(scores, default_mask=default_mask)
        if old is None:
            del module._parameters[name]
            module.register_parameter(name + "_orig", orig)
        module.register_buffer(name + "_mask", Tensor(mask.astype(default_mask.dtype, copy=False)))
        object.__setattr__(module, name, method.apply_mask(module))
        if old_key is not None:
            del module.__dict__["_forward_pre_hooks"][old_key]
        module.register_forward_pre_hook(method)
        return method

    def prune(self, t, default_mask=None, importance_scores=None):
        """`t` times the mask computed from `importance_scores` (default: `t` itself)."""
        a = _array(t)
        scores = a if importance_scores is None else _array(importance_scores)
        if tuple(scores.shape) != tuple(a.shape):
            raise ValueError(f"prune: importance_scores has shape {tuple(scores.shape)}, "
                             f"the tensor has shape {tuple(a.shape)}")
        xp = backend.array_module(a)
        default_mask = xp.ones_like(a) if default_mask is None else _array(default_mask)
        out = a * self.compute_mask(scores, default_mask=default_mask)
        return Tensor(out) if isinstance(t, Tensor) else out

    def remove(self, module):
        """Make the pruning permanent: `name` becomes the Parameter `name_orig` (the same
        object) holding orig * mask; `name_orig` and `name_mask` disappear."""
        weight = self.apply_mask(module)
        module.__dict__.pop(self._tensor_name, None)
        orig = module._parameters.pop(self._tensor_name + "_orig")
        orig.data = weight.data
        del module._buffers[self._tensor_name + "_mask"]
        module.register_parameter(self._tensor_name, orig)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class PruningContainer(BasePruningMethod):
    """The methods applied to one tensor, in order; the mask of the last one is computed on the
    part the earlier ones left (see the module docstring)."""

    def __init__(self, *methods):
        self._pruning_methods = ()
        if methods:
            self._tensor_name = methods[0]._tensor_name
        for m in methods:
            self.add_pruning_method(m)

    def add_pruning_method(self, method):
        if not isinstance(method, BasePruningMethod):
            raise TypeError(f"{type(method).__name__} is not a BasePruningMethod subclass")
        if self._tensor_name != method._tensor_name:
            raise ValueError(f"Can only add pruning methods acting on the parameter named "
                             f"'{self._tensor_name}' to PruningContainer; found '{method._tensor_name}'")
        self._pruning_methods += (method,)

    def __len__(self):
        return len(self._pruning_methods)

    def __iter__(self):
        return iter(self._pruning_methods)

    def __getitem__(self, i):
        return self._pruning_methods[i]

    def compute_mask(self, t, default_mask):
        method = self._pruning_methods[-1]
        mask = default_mask.astype(t.dtype, copy=True)
        if method.PRUNING_TYPE == "unstructured":
            slc = default_mask == 1
        elif method.PRUNING_TYPE == "structured":
            dim = method.dim + t.ndim if method.dim < 0 else method.dim
            if not 0 <= dim < t.ndim:
                raise IndexError(f"prune: dim {method.dim} is out of range for a tensor of shape {t.shape}")
            other = tuple(d for d in range(t.ndim) if d != dim)
            keep = default_mask.sum(axis=other) != 0
            slc = (slice(None),) * dim + (keep,)
        elif method.PRUNING_TYPE == "global":
            slc = (slice(None),) * t.ndim
        else:
            raise ValueError(f"Unrecognized PRUNING_TYPE {method.PRUNING_TYPE!r}")
        mask[slc] = method.compute_mask(t[slc], default_mask=mask[slc])
        return mask


class Identity(BasePruningMethod):
    """Prunes nothing: the mask is all ones (useful to give a model the pruned layout)."""
    PRUNING_TYPE = "unstructured"

    def compute_mask(self, t, default_mask):
        return default_mask

    @classmethod
    def apply(cls, module, name):
        return super().apply(module, name)


def _validate_amount_init(amount):
    if isinstance(amount, bool) or not isinstance(amount, numbers.Real):
        raise TypeError(f"Invalid type for amount: {amount!r}. Must be int or float.")
    if (isinstance(amount, numbers.Integral) and amount < 0) or (
            not isinstance(amount, numbers.Integral) and not 0.0 <= float(amount) <= 1.0):
        raise ValueError(f"amount={amount} should either be a float in the range [0, 1] or a "
                         "non-negative integer")


def _nparams_toprune(amount, tensor_size):
    if isinstance(amount, numbers.Integral):
        if amount > tensor_size:
            raise ValueError(f"amount={amount} should be smaller than the number of parameters to "
                             f"prune={tensor_size}")
        return int(amount)
    return round(amount * tensor_size)  # Python's round (half to even), as PyTorch


def _validate_structured(t, dim):
    if t.ndim <= 1:
        raise ValueError(f"Structured pruning can only be applied to multidimensional tensors. "
                         f"Found tensor of shape {tuple(t.shape)} with {t.ndim} dims")
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
        raise TypeError(f"prune: dim must be an int, got {dim!r}")
    if not -t.ndim <= dim < t.ndim:
        raise IndexError(f"Invalid index {dim} for tensor of size {tuple(t.shape)}")


def _channel_mask(t, dim, keep):
    """Ones on the channels `keep` (indices or booleans) along `dim`, zeros elsewhere."""
    xp = backend.array_module(t)
    mask = xp.zeros_like(t)
    mask[(slice(None),) * (dim % t.ndim) + (keep,)] = 1
    return mask


class RandomUnstructured(BasePruningMethod):
    """Prunes `amount` entries drawn uniformly at random (tinyconv's seeded generator)."""
    PRUNING_TYPE = "unstructured"

    def __init__(self, amount):
        _validate_amount_init(amount)
        self.amount = amount

    def compute_mask(self, t, default_mask):
        k = _nparams_toprune(self.amount, t.size)
        mask = default_mask.copy()
        if k:
            drop = generator().permutation(t.size)[:k]
            mask.reshape(-1)[backend.array_module(t).asarray(drop)] = 0
        return mask

    @classmethod
    def apply(cls, module, name, amount):
        return super().apply(module, name, amount=amount)


class L1Unstructured(BasePruningMethod):
    """Prunes the `amount` entries of smallest magnitude."""
    PRUNING_TYPE = "unstructured"

    def __init__(self, amount):
        _validate_amount_init(amount)
        self.amount = amount

    def compute_mask(self, t, default_mask):
        k = _nparams_toprune(self.amount, t.size)
        mask = default_mask.copy()
        if k:
            xp = backend.array_module(t)
            order = xp.argsort(xp.abs(t).reshape(-1), kind="stable")
            mask.reshape(-1)[order[:k]] = 0
        return mask

    @classmethod
    def apply(cls, module, name, amount, importance_scores=None):
        return super().apply(module, name, amount=amount, importance_scores=importance_scores)


class RandomStructured(BasePruningMethod):
    """Prunes `amount` whole channels along `dim`, drawn at random."""
    PRUNING_TYPE = "structured"

    def __init__(self, amount, dim=-1):
        _validate_amount_init(amount)
        self.amount, self.dim = amount, dim

    def compute_mask(self, t, default_mask):
        _validate_structured(t, self.dim)
        n = t.shape[self.dim]
        k = _nparams_toprune(self.amount, n)
        if k == 0:
            return default_mask
        keep = np.sort(generator().permutation(n)[k:])
        return _channel_mask(t, self.dim, backend.array_module(t).asarray(keep)) * default_mask

    @classmethod
    def apply(cls, module, name, amount, dim=-1):
        return super().apply(module, name, amount=amount, dim=dim)


def _ln_norm(t, n, dim):
    """The L`n` norm of each slice of `t` along `dim` (torch.norm's p: a number, inf, -inf, 'fro')."""
    xp = backend.array_module(t)
    axes = tuple(d for d in range(t.ndim) if d != dim % t.ndim)
    a = xp.abs(t.astype(np.float64))
    if n == "fro":
        n = 2
    if n == math.inf:
        return a.max(axis=axes)
    if n == -math.inf:
        return a.min(axis=axes)
    if n == 0:
        return (a != 0).sum(axis=axes).astype(np.float64)
    with np.errstate(divide="ignore"):
        return (a ** n).sum(axis=axes) ** (1.0 / n)


class LnStructured(BasePruningMethod):
    """Prunes the `amount` channels along `dim` with the smallest L`n` norm."""
    PRUNING_TYPE = "structured"

    def __init__(self, amount, n, dim=-1):
        _validate_amount_init(amount)
        if n != "fro" and (isinstance(n, bool) or not isinstance(n, numbers.Real) or math.isnan(n)):
            raise ValueError(f"ln_structured: n must be a number, inf, -inf or 'fro', got {n!r}")
        self.amount, self.n, self.dim = amount, n, dim

    def compute_mask(self, t, default_mask):
        _validate_structured(t, self.dim)
        n = t.shape[self.dim]
        k = _nparams_toprune(self.amount, n)
        if k == 0:
            return default_mask
        xp = backend.array_module(t)
        norm = _ln_norm(t, self.n, self.dim)
        keep = xp.sort(xp.argsort(-norm, kind="stable")[:n - k])
        return _channel_mask(t, self.dim, keep) * default_mask

    @classmethod
    def apply(cls, module, name, amount, n, dim, importance_scores=None):
        return super().apply(module, name, amount=amount, n=n, dim=dim,
                             importance_scores=importance_scores)


class CustomFromMask(BasePruningMethod):
    """Prunes where the given `mask` is 0."""
    PRUNING_TYPE = "global"

    def __init__(self, mask):
        self.mask = mask

    def compute_mask(self, t, default_mask):
        mask = _array(self.mask)
        if tuple(mask.shape) != tuple(default_mask.shape):
            raise ValueError(f"custom_from_mask: the mask has shape {tuple(mask.shape)}, the "
                             f"tensor has shape {tuple(default_mask.shape)}")
        xp = backend.array_module(default_mask)
        return default_mask * xp.asarray(mask).astype(default_mask.dtype)

    @classmethod
    def apply(cls, module, name, mask):
        return super().apply(module, name, mask=mask)


# --- the functional interface: each returns the module -----------------------------------------
def identity(module, name):
    Identity.apply(module, name)
    return module


def random_unstructured(module, name, amount):
    RandomUnstructured.apply(module, name, amount)
    return module


def l1_unstructured(module, name, amount, importance_scores=None):
    L1Unstructured.apply(module, name, amount=amount, importance_scores=importance_scores)
    return module


def random_structured(module, name, amount, dim):
    RandomStructured.apply(module, name, amount, dim)
    return module


def ln_structured(module, name, amount, n, dim, importance_scores=None):
    LnStructured.apply(module, name, amount, n, dim, importance_scores=importance_scores)
    return module


def custom_from_mask(module, name, mask):
    CustomFromMask.apply(module, name, mask)
    return module


def global_unstructured(parameters, pruning_method, importance_scores=None, **kwargs):
    """Prune the (module, name) pairs of `parameters` as one concatenated vector: e.g.
    `pruning_method=L1Unstructured, amount=0.9` removes the 90% smallest magnitudes over all of
    them together, so layers end up with different sparsities. Entries already pruned keep
    their mask and are not counted again (the amount applies to the rest).
    `importance_scores`: optional dict {(module, name): array} replacing the weights' values."""
    if isinstance(parameters, (str, bytes)) or not hasattr(parameters, "__iter__"):
        raise TypeError("global_unstructured(): parameters is not an Iterable")
    parameters = list(parameters)
    importance_scores = {} if importance_scores is None else importance_scores
    if not isinstance(importance_scores, dict):
        raise TypeError("global_unstructured(): importance_scores must be of type dict")
    if not (isinstance(pruning_method, type) and issubclass(pruning_method, BasePruningMethod)):
        raise TypeError(f"global_unstructured(): pruning_method must be a BasePruningMethod "
                        f"subclass, got {pruning_method!r}")
    method = pruning_method(**kwargs)
    if method.PRUNING_TYPE != "unstructured":
        raise TypeError(f'Only "unstructured" PRUNING_TYPE supported for the `pruning_method`. '
                        f"Found method {pruning_method.__name__} of type {method.PRUNING_TYPE}")
    if not parameters:
        raise ValueError("global_unstructured(): parameters is empty")
    scores, masks, tensors = [], [], []
    for pair in parameters:
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise TypeError(f"global_unstructured(): each entry must be a (module, name) tuple, got {pair!r}")
        module, name = pair
        t = getattr(module, name)
        tensors.append(t)
        score = _array(importance_scores.get((module, name), t))
        if tuple(score.shape) != t.shape:
            raise ValueError(f"global_unstructured(): importance score of {name!r} has shape "
                             f"{tuple(score.shape)}, the tensor {t.shape}")
        scores.append(score.reshape(-1))
        m = getattr(module, name + "_mask", None)
        masks.append(backend.array_module(t.data).ones(t.numel(), dtype=t.dtype) if m is None
                     else m.data.reshape(-1))
    xp = backend.array_module(scores[0])
    dtype = np.result_type(*[s.dtype for s in scores])
    scores = xp.concatenate([s.astype(dtype) for s in scores])
    default = xp.concatenate([m.astype(dtype) for m in masks])
    container = PruningContainer()
    container._tensor_name = method._tensor_name = "temp"
    container.add_pruning_method(method)
    final = container.compute_mask(scores, default)
    start = 0
    for (module, name), t in zip(parameters, tensors):
        custom_from_mask(module, name, final[start:start + t.numel()].reshape(t.shape))
        start += t.numel()


def remove(module, name):
    """Make the pruning of `module.<name>` permanent (see BasePruningMethod.remove)."""
    hooks = _pre_hooks(module)
    for key, hook in list(hooks.items()):
        if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
            hook.remove(module)
            del hooks[key]
            return module
    raise ValueError(f"Parameter '{name}' of module {type(module).__name__} has to be pruned "
                     "before pruning can be removed")


def is_pruned(module):
    """True when `module` or any submodule carries a pruning pre-hook."""
    return any(isinstance(h, BasePruningMethod)
               for _, m in module.named_modules() for h in _pre_hooks(m).values())
