"""Optimizer: parameter groups, per-parameter state, zero_grad and (de)serialisation.

Laid out like PyTorch's so its habits carry over: `param_groups` is a list of dicts, each with
"params" and its own copy of every hyper-parameter (a scheduler changes group["lr"]); `state`
maps id(parameter) to its buffers (momentum, moment estimates) — ids rather than the tensors,
so keys never depend on how Tensor defines equality. Subclasses implement `_update`,
which works on raw arrays (NumPy or CuPy, through `backend.array_module`) in place, so no graph
is ever recorded and a parameter keeps its array object.
"""
from __future__ import annotations

import copy
import math
import numbers

import numpy as np

from .. import backend
from ..autograd import Tensor


def check_number(value, name, owner, low=None, high=None, low_open=False, high_open=False):
    """A real number within [low, high] (ends open when asked), else ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise ValueError(f"{owner}: invalid {name}: {value!r} (a number is needed)")
    value = float(value)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        lo = "" if low is None else f"{'(' if low_open else '['}{low}"
        hi = "" if high is None else f"{high}{')' if high_open else ']'}"
        raise ValueError(f"{owner}: invalid {name}: {value} (must be in {lo or '(-inf'}, {hi or 'inf)'})")
    return value


def _host_copy(v):
    """Arrays (NumPy or CuPy) as NumPy copies; everything else as is."""
    if backend.is_cupy_array(v):
        return v.get()
    return np.array(v, copy=True) if isinstance(v, np.ndarray) else copy.deepcopy(v)


class Optimizer:
    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = {}  # id(param) -> dict of buffers; ids stay valid since groups hold the params
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError("params must be an iterable of Tensors or of dicts (parameter groups), "
                            "got a single Tensor; wrap it in a list")
        groups = [params] if isinstance(params, dict) else list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def _validate_group(self, group):
        """Subclasses check their hyper-parameters here (called for every group)."""

    def add_param_group(self, param_group):
        """Add a group {"params": [...], option: value, ...}; missing options take the defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"a parameter group must be a dict, got {type(param_group).__name__}")
        params = param_group.get("params")
        if params is None:
            raise ValueError("a parameter group needs a 'params' entry")
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__} can only optimize Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor (the result of an op); optimize "
                                 "the leaves it was computed from")
            if p.dtype.kind != "f":
                raise TypeError(f"{type(self).__name__} can only optimize floating tensors, got {p.dtype}")
        if len({id(p) for p in params}) != len(params):
            raise ValueError("a parameter group contains the same parameter more than once")
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in taken for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        unknown = set(param_group) - set(self.defaults) - {"params", "initial_lr"}
        if unknown:
            raise ValueError(f"{type(self).__name__}: unknown option(s) {sorted(unknown)} in a "
                             f"parameter group; known: {sorted(self.defaults)}")
        group = {**self.defaults, **param_group, "params": params}
        self._validate_group(group)
        self.param_groups.append(group)

    # --- the update -----------------------------------------------------------------------
    def step(self, closure=None):
        """One update of every parameter that has a gradient. `closure`, if given, re-evaluates
        the model and returns the loss (called before the update, its value is returned)."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None or not p.requires_grad:  # frozen (nn.utils.freeze): left alone
                    continue
                g = p.grad.data
                if g.shape != p.data.shape:
                    raise RuntimeError(f"gradient of shape {g.shape} for a parameter of shape {p.shape}")
                self._update(p.data, g, self.state.setdefault(id(p), {}), group)
                p._version += 1  # an in-place change: a graph that saved p can no longer backward
        return loss

    def _update(self, param, grad, state, group):
        raise TypeError(f"{type(self).__name__} does not define _update(param, grad, state, group)")

    def zero_grad(self, set_to_none=True):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.data[...] = 0

    # --- saving and loading ---------------------------------------------------------------
    def state_dict(self):
        """PyTorch's layout: {"state": {index: {name: value}}, "param_groups": [{..., "params":
        [index, ...]}]}, parameters numbered in group order. Arrays are NumPy copies."""
        index, groups = {}, []
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            groups.append({**{k: copy.deepcopy(v) for k, v in group.items() if k != "params"}, "params": ids})
        state = {}
        for pid, i in index.items():
            if self.state.get(pid):
                state[i] = {k: _host_copy(v) for k, v in self.state[pid].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyper-parameters and buffers saved by state_dict() (from a checkpoint or from
        tinyconv.from_torch(torch_optimizer.state_dict())). Everything is checked first."""
        groups = state_dict.get("param_groups") if isinstance(state_dict, dict) else None
        if not isinstance(groups, list) or not isinstance(state_dict.get("state"), dict):
            raise ValueError("optimizer state_dict needs 'state' and 'param_groups' entries")
        if len(groups) != len(self.param_groups):
            raise ValueError(f"loaded state has {len(groups)} parameter groups, this optimizer has "
                             f"{len(self.param_groups)}")
        params = {}
        for i, (saved, own) in enumerate(zip(groups, self.param_groups)):
            if len(saved["params"]) != len(own["params"]):
                raise ValueError(f"parameter group {i} has {len(saved['params'])} parameters in the "
                                 f"loaded state, {len(own['params'])} here")
            params.update(zip(saved["params"], own["params"]))
        new_state = {}
        for key, buffers in state_dict["state"].items():
            key = int(key)
            if key not in params:
                raise ValueError(f"loaded state refers to parameter {key}, which no group holds")
            p = params[key]
            xp = backend.array_module(p.data)
            entry = {}
            for name, v in buffers.items():
                v = v.data if isinstance(v, Tensor) else v
                if name == "step":
                    entry[name] = int(np.asarray(v))  # PyTorch keeps it as a float tensor
                elif hasattr(v, "shape"):
                    if getattr(v, "dtype", np.dtype(object)).kind not in "biuf":
                        raise ValueError(f"state {name!r} of parameter {key} is not numeric "
                                         f"({getattr(v, 'dtype', type(v).__name__)})")
                    if tuple(v.shape) != p.shape:
                        raise ValueError(f"state {name!r} of parameter {key} has shape "
                                         f"{tuple(v.shape)}, the parameter {p.shape}")
                    if backend.is_cupy_array(v) and xp is np:
                        v = v.get()
                    entry[name] = xp.asarray(v).astype(p.dtype, copy=True)
                else:
                    entry[name] = copy.deepcopy(v)
            new_state[id(p)] = entry
        # options this optimizer knows; PyTorch's extra flags (foreach, fused, ...) are dropped
        known = set(self.defaults) | {"initial_lr"}
        merged = [{**own, **{k: copy.deepcopy(v) for k, v in saved.items() if k in known}}
                  for saved, own in zip(groups, self.param_groups)]
        for group in merged:  # the loaded hyper-parameters must be ones the constructor accepts
            self._validate_group(group)
        for group, own in zip(merged, self.param_groups):
            own.update(group)
        self.state = new_state

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(k for k in group if k != "params"):
                lines.append(f"    {k}: {group[k]}")
        return "\n".join(lines + [")"])
