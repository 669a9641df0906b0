"""Module and Parameter: how layers hold their weights, find each other and save themselves.

Assigning a `Parameter` or a `Module` to an attribute registers it (PyTorch's `__setattr__`
trick), so `named_parameters()` and `state_dict()` can walk the tree without each layer listing
its contents. Names are dotted paths through the tree, "features.0.weight", exactly PyTorch's,
so its state_dicts load here key for key.
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple

import numpy as np

from .. import backend
from ..autograd import Tensor
from .hooks import HookMixin


class Parameter(Tensor):
    """A Tensor that a Module registers as trainable; requires_grad=True unless told otherwise."""

    def __init__(self, data, requires_grad=True):
        # A Tensor is shared (as torch.nn.Parameter does); a user's array is copied, so an
        # optimizer step never writes into the caller's data.
        if isinstance(data, Tensor):
            data = data.data
        else:
            data = data.copy() if backend.is_cupy_array(data) else np.array(data, copy=True)
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _host_copy(t: Tensor) -> np.ndarray:
    return np.array(t.numpy(), copy=True)


def _as_host_array(value, key):
    """A state_dict value (Tensor, NumPy/CuPy array, torch tensor, ...) as an array."""
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, np.ndarray) or backend.is_cupy_array(value):
        return value
    if hasattr(value, "detach"):  # a torch tensor, possibly requiring grad
        value = value.detach()
    if hasattr(value, "cpu"):
        value = value.cpu()
    if hasattr(value, "numpy"):
        return np.asarray(value.numpy())
    try:
        return np.asarray(value)
    except Exception as e:
        raise TypeError(f"load_state_dict: {key!r} holds a {type(value).__name__}, which is not "
                        f"an array, a Tensor or anything with .numpy() ({e})") from None


def _parse_to(device, dtype):
    """Accept PyTorch's spellings: to("cuda"), to(np.float64), to("float64"), to(device, dtype)."""
    if device is not None and dtype is None:
        name = str(device).split(":")[0]
        if name not in ("cpu", "cuda"):
            try:
                np.dtype(device)
            except TypeError:
                raise ValueError(f"to(): {device!r} is neither a device ('cpu', 'cuda') nor a "
                                 "dtype") from None
            device, dtype = None, device
    if dtype is not None:
        dt = np.dtype(dtype)
        if dt.kind != "f":
            raise TypeError(f"to(): parameters can only be cast to a floating dtype, got {dt}")
        dtype = dt
    return device, dtype


class Module(HookMixin):
    """Base class of every layer and model: subclasses set attributes in __init__ and define
    forward(); calling the module runs forward."""

    def __init__(self):
        # object.__setattr__: our own __setattr__ needs these dicts to exist already
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # --- registration ---------------------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {name!r} before Module.__init__() has run; call "
                                 "super().__init__() first in your module's __init__")
        params, buffers, modules = self._parameters, self._buffers, self._modules
        if isinstance(value, Parameter):
            self._forget(name)
            params[name] = value
        elif isinstance(value, Module):
            self._forget(name)
            modules[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} to parameter {name!r}: "
                                "use a Parameter (or None)")
            params[name] = None
        elif name in modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} to submodule {name!r}: "
                                "use a Module (or None)")
            modules[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"buffer {name!r} must be a Tensor or None, got {type(value).__name__}")
            buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name):
        for d in (self._parameters, self._buffers, self._modules):
            d.pop(name, None)
        self.__dict__.pop(name, None)

    def __getattr__(self, name):
        # only reached when normal lookup fails, i.e. for registered names
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                return
        object.__delattr__(self, name)

    def _check_name(self, name, kind):
        if not isinstance(name, str):
            raise TypeError(f"{kind} name must be a str, got {type(name).__name__}")
        if not name or "." in name:
            raise KeyError(f"{kind} name must be non-empty and contain no '.', got {name!r}")
        if hasattr(self, name) and not any(name in d for d in
                                           (self._parameters, self._buffers, self._modules)):
            raise KeyError(f"attribute {name!r} already exists on {type(self).__name__}")

    def register_parameter(self, name, param):
        self._check_name(name, "parameter")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot register {type(param).__name__} as parameter {name!r}: "
                            "use a Parameter (or None)")
        self._forget(name)
        self._parameters[name] = param

    def register_buffer(self, name, tensor):
        """A Tensor that belongs in state_dict but is not trained (e.g. running statistics)."""
        self._check_name(name, "buffer")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"buffer {name!r} must be a Tensor or None, got {type(tensor).__name__}")
        self._forget(name)
        self._buffers[name] = tensor

    def add_module(self, name, module):
        self._check_name(name, "module")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._forget(name)
        self._modules[name] = module

    # --- calling --------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        forward = getattr(self, "forward", None)
        if forward is None:
            raise TypeError(f"{type(self).__name__} has no forward() method; a Module subclass "
                            "must define forward()")
        if self._has_hooks():
            return self._call_with_hooks(forward, args, kwargs)
        return forward(*args, **kwargs)

    # --- walking the tree -----------------------------------------------------------------
    def named_modules(self, memo=None, prefix=""):
        """(dotted name, module) for self and every descendant, pre-order, each module once."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(memo, f"{prefix}.{name}" if prefix else name)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, store, recurse):
        seen = set()
        mods = self.named_modules() if recurse else [("", self)]
        for prefix, m in mods:
            for name, t in getattr(m, store).items():
                if t is None or id(t) in seen:  # a shared weight is listed once
                    continue
                seen.add(id(t))
                yield (f"{prefix}.{name}" if prefix else name), t

    def named_parameters(self, prefix="", recurse=True):
        for name, p in self._named_members("_parameters", recurse):
            yield (f"{prefix}.{name}" if prefix else name), p

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True):
        for name, b in self._named_members("_buffers", recurse):
            yield (f"{prefix}.{name}" if prefix else name), b

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def num_parameters(self, trainable_only=False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def apply(self, fn):
        """Call fn(module) on every child (recursively) and then on self, as PyTorch does."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # --- modes and gradients --------------------------------------------------------------
    def train(self, mode=True):
        if not isinstance(mode, bool):
            raise ValueError(f"train(mode): mode must be a bool, got {mode!r}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.data[...] = 0

    # --- device and dtype -----------------------------------------------------------------
    def to(self, device=None, dtype=None):
        """Move/cast every parameter and floating buffer in place: the Parameter objects stay
        the same (an optimizer built before .to() keeps working), their .data is replaced."""
        device, dtype = _parse_to(device, dtype)
        for t in list(self.parameters()) + list(self.buffers()):
            cast = dtype if t.dtype.kind == "f" else None
            t.data = t.to(device, cast).data
            if t.grad is not None:
                t.grad.data = t.grad.to(device, cast).data
        return self

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def float(self):
        return self.to(dtype=np.float32)

    def double(self):
        return self.to(dtype=np.float64)

    # --- saving and loading ---------------------------------------------------------------
    def _state_items(self):
        """(key, tensor) in PyTorch's state_dict order: a module's parameters, then its
        buffers, then its children's, depth first. Shared tensors appear under every name."""
        def walk(m, prefix):
            for store in (m._parameters, m._buffers):
                for name, t in store.items():
                    if t is not None:
                        yield prefix + name, t
            for name, child in m._modules.items():
                if child is not None:
                    yield from walk(child, f"{prefix}{name}.")
        return list(walk(self, ""))

    def state_dict(self):
        """OrderedDict of key -> NumPy array copy (host memory, safe to save or mutate)."""
        return OrderedDict((k, _host_copy(t)) for k, t in self._state_items())

    def load_state_dict(self, state_dict, strict=True):
        """Copy the arrays of `state_dict` into this module's parameters and buffers.

        Values may be NumPy arrays, Tensors or anything with .numpy() (a torch tensor). Every
        key is checked first (missing, unexpected, shape, and dtype kind: floats only go into
        floating parameters); on any problem a ValueError lists all of them and nothing is
        changed. strict=False tolerates missing and unexpected keys (returned), never a wrong
        shape. Values are cast to each parameter's dtype and copied to its device.
        """
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(f"load_state_dict expects a mapping of name -> array, got "
                            f"{type(state_dict).__name__}")
        own = OrderedDict(self._state_items())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict.keys() if k not in own]
        problems, ready = [], []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = _as_host_array(state_dict[key], key)
            if tuple(value.shape) != target.shape:
                problems.append(f"  {key}: shape {tuple(value.shape)} in the state_dict, "
                                f"{target.shape} in the model")
            elif target.dtype.kind == "f" and value.dtype.kind != "f":
                problems.append(f"  {key}: dtype {value.dtype} in the state_dict, the model's "
                                f"parameter is {target.dtype} (a floating dtype is needed)")
            elif target.dtype.kind != "f" and value.dtype.kind not in "biu":
                problems.append(f"  {key}: dtype {value.dtype} in the state_dict, the model "
                                f"holds {target.dtype}")
            else:
                ready.append((target, value))
        if strict and missing:
            problems.append("  missing keys: " + ", ".join(f"{k} {own[k].shape}" for k in missing))
        if strict and unexpected:
            problems.append("  unexpected keys: " + ", ".join(
                f"{k} {tuple(np.shape(_as_host_array(state_dict[k], k)))}" for k in unexpected))
        if problems:
            raise ValueError(f"Error(s) loading state_dict into {type(self).__name__} (nothing "
                             "was changed):\n" + "\n".join(problems))
        # convert everything before touching the model: a failed transfer leaves it untouched
        converted = []
        for target, value in ready:
            xp = backend.array_module(target.data)
            if xp is np and backend.is_cupy_array(value):
                value = value.get()
            converted.append((target, xp.asarray(value).astype(target.dtype, copy=False)))
        for target, value in converted:
            target.data[...] = value
        return IncompatibleKeys(missing, unexpected)

    # --- printing -------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """Hyper-parameters shown between the parentheses; layers override this."""
        return ""

    def __repr__(self):
        lines = [line for line in self.extra_repr().split("\n") if line]
        for name, m in self._modules.items():
            child = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {child}")
        if not lines:
            return f"{type(self).__name__}()"
        if len(lines) == 1 and not self._modules:
            return f"{type(self).__name__}({lines[0]})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"
