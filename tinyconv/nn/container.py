"""Containers with PyTorch's names: Sequential (modules applied in turn), ModuleList,
ModuleDict and ParameterList (registered collections), children named "0", "1", ... as in PyTorch."""
from __future__ import annotations

import operator
from collections import OrderedDict

from ..autograd import Tensor
from .module import Module, Parameter


class Sequential(Module):
    """Sequential(m0, m1, ...) or Sequential(OrderedDict(name=module, ...))."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            items = list(modules[0].items())
        else:
            items = [(str(i), m) for i, m in enumerate(modules)]
        for name, m in items:
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: entry {name} is a {type(m).__name__}, not a Module")
            self.add_module(name, m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def _index(self, i):
        n = len(self)
        try:
            i = operator.index(i)
        except TypeError:
            raise TypeError(f"Sequential indices must be ints or slices, got {type(i).__name__}") from None
        if not -n <= i < n:
            raise IndexError(f"index {i} is out of range for a Sequential of length {n}")
        return i % n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return Sequential(OrderedDict(list(self._modules.items())[i]))
        return list(self._modules.values())[self._index(i)]

    def __setitem__(self, i, module):
        key = list(self._modules)[self._index(i)]
        if not isinstance(module, Module):
            raise TypeError(f"Sequential: can only hold Modules, got {type(module).__name__}")
        self._modules[key] = module

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        """Add `module` at the end, named by its position."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.append: expected a Module, got {type(module).__name__}")
        self.add_module(str(len(self)), module)
        return self


def _checked_module(module, owner):
    if not isinstance(module, Module):
        raise TypeError(f"{owner} can only hold Modules, got {type(module).__name__}")
    return module


class ModuleList(Module):
    """A list of modules that registers them (named "0", "1", ...): a plain Python list would
    hide them from parameters(), state_dict() and .to()."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _index(self, i):
        n = len(self)
        i = operator.index(i)
        if not -n <= i < n:
            raise IndexError(f"index {i} is out of range for a ModuleList of length {n}")
        return i % n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return ModuleList(list(self._modules.values())[i])
        return self._modules[str(self._index(i))]

    def __setitem__(self, i, module):
        self._modules[str(self._index(i))] = _checked_module(module, "ModuleList")

    def __delitem__(self, i):
        items = list(self._modules.values())
        del items[i if isinstance(i, slice) else self._index(i)]
        self._modules.clear()
        self.extend(items)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __iadd__(self, modules):
        return self.extend(modules)

    def append(self, module):
        self.add_module(str(len(self)), _checked_module(module, "ModuleList"))
        return self

    def extend(self, modules):
        if isinstance(modules, Module) and not isinstance(modules, (ModuleList, Sequential)):
            raise TypeError("ModuleList.extend expects an iterable of Modules, got a single "
                            f"{type(modules).__name__}; use append")
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        items = list(self._modules.values())
        items.insert(index, _checked_module(module, "ModuleList"))
        self._modules.clear()
        self.extend(items)

    def forward(self, *args, **kwargs):
        raise TypeError("ModuleList is a container, not a layer: iterate over it in your own forward()")


class ModuleDict(Module):
    """An ordered dict of modules that registers them under their keys."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        if key not in self._modules:
            raise KeyError(f"ModuleDict has no module {key!r}; keys: {list(self._modules)}")
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, _checked_module(module, "ModuleDict"))

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def pop(self, key):
        module = self[key]
        del self._modules[key]
        return module

    def clear(self):
        self._modules.clear()

    def update(self, modules):
        items = modules.items() if hasattr(modules, "items") else modules
        for key, module in items:
            self[key] = module

    def forward(self, *args, **kwargs):
        raise TypeError("ModuleDict is a container, not a layer: pick modules in your own forward()")


class ParameterList(Module):
    """A list of Parameters registered as "0", "1", ...; plain Tensors are wrapped into
    Parameters, as PyTorch does."""

    def __init__(self, values=None):
        super().__init__()
        if values is not None:
            self.extend(values)

    @staticmethod
    def _as_parameter(value):
        if isinstance(value, Parameter):
            return value
        if isinstance(value, Tensor):
            return Parameter(value)
        raise TypeError(f"ParameterList can only hold Parameters or Tensors, got {type(value).__name__}")

    def __getitem__(self, i):
        if isinstance(i, slice):
            return ParameterList(list(self._parameters.values())[i])
        n = len(self)
        i = operator.index(i)
        if not -n <= i < n:
            raise IndexError(f"index {i} is out of range for a ParameterList of length {n}")
        return self._parameters[str(i % n)]

    def __setitem__(self, i, value):
        key = str(operator.index(i) % len(self)) if len(self) else None
        if key not in self._parameters:
            raise IndexError(f"index {i} is out of range for a ParameterList of length {len(self)}")
        self._parameters[key] = self._as_parameter(value)

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters.values())

    def __iadd__(self, values):
        return self.extend(values)

    def append(self, value):
        self.register_parameter(str(len(self)), self._as_parameter(value))
        return self

    def extend(self, values):
        for v in values:
            self.append(v)
        return self

    def extra_repr(self):
        return "\n".join(f"({i}): Parameter containing: [{p.dtype} of size {p.shape}]"
                         for i, p in enumerate(self))

    def forward(self, *args, **kwargs):
        raise TypeError("ParameterList is a container, not a layer")
