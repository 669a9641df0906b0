"""Sequential: modules applied one after another, named "0", "1", ... as in PyTorch."""
from __future__ import annotations

import operator
from collections import OrderedDict

from .module import Module


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
