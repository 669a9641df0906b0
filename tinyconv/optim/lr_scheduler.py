"""Learning-rate schedules with PyTorch's names and exact sequences.

A scheduler writes group["lr"] of its optimizer; call `scheduler.step()` once per epoch, after
`optimizer.step()`. Like PyTorch, constructing one records group["initial_lr"] and performs
step 0, so get_last_lr() is valid at once. AlexNet's own schedule was manual: divide the rate by
10 whenever the validation error stopped improving (three times in 90 epochs) —
ReduceLROnPlateau(optimizer, factor=0.1) automates exactly that.
"""
from __future__ import annotations

import math
import numbers

from .optimizer import Optimizer, check_number

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ReduceLROnPlateau"]


def _check_optimizer(optimizer, owner):
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{owner}: expected a tinyconv Optimizer, got {type(optimizer).__name__}")


def _load_checked(scheduler, state_dict):
    """Replace the scheduler's state with `state_dict` after checking it has exactly the keys,
    the list lengths and the kinds (number, string, list) of the scheduler's own state."""
    owner = f"{type(scheduler).__name__}.load_state_dict"
    if not isinstance(state_dict, dict):
        raise TypeError(f"{owner}: expected a dict, got {type(state_dict).__name__}")
    own = scheduler.state_dict()
    unknown, missing = sorted(set(state_dict) - set(own)), sorted(set(own) - set(state_dict))
    if unknown or missing:
        raise ValueError(f"{owner}: unexpected keys {unknown}, missing keys {missing} (a state "
                         "saved by another kind of scheduler?)")
    problems = []
    for key, value in state_dict.items():
        mine = own[key]
        if isinstance(mine, (list, tuple)):
            if not isinstance(value, (list, tuple)) or len(value) != len(mine):
                problems.append(f"{key}: expected a list of {len(mine)}, got {value!r}")
            elif any(isinstance(a, numbers.Real) and (isinstance(b, bool) or not isinstance(b, numbers.Real))
                     for a, b in zip(mine, value)):
                problems.append(f"{key}: expected numbers, got {value!r}")
        elif isinstance(mine, numbers.Real) and not isinstance(mine, bool):
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                problems.append(f"{key}: expected a number, got {value!r}")
        elif isinstance(mine, str) and value != mine and not isinstance(value, str):
            problems.append(f"{key}: expected a string, got {value!r}")
    if problems:
        raise ValueError(f"{owner}: nothing was loaded:\n  " + "\n  ".join(problems))
    scheduler.__dict__.update({k: list(v) if isinstance(v, tuple) else v for k, v in state_dict.items()})


def _int(value, name, owner, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{owner}: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


class LRScheduler:
    """Base of the epoch-indexed schedules: subclasses give `get_lr()`, the rates for the
    current self.last_epoch computed from the current ones (PyTorch's chainable form)."""

    def __init__(self, optimizer, last_epoch=-1):
        owner = type(self).__name__
        _check_optimizer(optimizer, owner)
        last_epoch = _int(last_epoch, "last_epoch", owner, -1)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"{owner}: param_groups[{i}] has no 'initial_lr'; resuming with "
                                   "last_epoch >= 0 needs the optimizer state of the earlier run")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def get_lr(self):
        raise TypeError(f"{type(self).__name__} does not define get_lr()")

    def step(self):
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self):
        """The learning rates the last step() set, one per parameter group."""
        return list(self._last_lr)

    def state_dict(self):
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict):
        _load_checked(self, state_dict)


class StepLR(LRScheduler):
    """lr = initial_lr * gamma ** (epoch // step_size)."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        self.step_size = _int(step_size, "step_size", "StepLR", 1)
        self.gamma = check_number(gamma, "gamma", "StepLR", low=0.0, low_open=True)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        groups = self.optimizer.param_groups
        if self.last_epoch == 0 or self.last_epoch % self.step_size:
            return [g["lr"] for g in groups]
        return [g["lr"] * self.gamma for g in groups]


class MultiStepLR(LRScheduler):
    """lr is multiplied by gamma at each epoch listed in milestones (a repeated milestone
    multiplies by gamma that many times)."""

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        counts = {}
        for m in milestones:
            m = _int(m, "every milestone", "MultiStepLR", 0)
            counts[m] = counts.get(m, 0) + 1
        self.milestones = dict(sorted(counts.items()))
        self.gamma = check_number(gamma, "gamma", "MultiStepLR", low=0.0, low_open=True)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        groups = self.optimizer.param_groups
        hits = self.milestones.get(self.last_epoch, 0)
        if not hits:
            return [g["lr"] for g in groups]
        return [g["lr"] * self.gamma ** hits for g in groups]


class ReduceLROnPlateau:
    """Multiply lr by `factor` once `metrics` passed to step() has not improved for more than
    `patience` epochs in a row, then wait `cooldown` epochs before counting again.

    Improvement (mode "min"; "max" mirrors it): rel: metric < best * (1 - threshold);
    abs: metric < best - threshold. A rate never goes below min_lr (a number, or one per group),
    and a reduction smaller than eps is skipped. PyTorch's rules and defaults throughout.
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0, eps=1e-8):
        owner = "ReduceLROnPlateau"
        _check_optimizer(optimizer, owner)
        if mode not in ("min", "max"):
            raise ValueError(f"{owner}: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"{owner}: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.factor = check_number(factor, "factor", owner, low=0.0, high=1.0, high_open=True)
        self.patience = _int(patience, "patience", owner, 0)
        self.cooldown = _int(cooldown, "cooldown", owner, 0)
        self.threshold = check_number(threshold, "threshold", owner, low=0.0)
        self.eps = check_number(eps, "eps", owner, low=0.0)
        n = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n:
                raise ValueError(f"{owner}: expected {n} min_lr values (one per group), got {len(min_lr)}")
            self.min_lrs = [check_number(v, "min_lr", owner, low=0.0) for v in min_lr]
        else:
            self.min_lrs = [check_number(min_lr, "min_lr", owner, low=0.0)] * n
        self.optimizer = optimizer
        self.mode, self.threshold_mode = mode, threshold_mode
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.best = self.mode_worse
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def _is_better(self, a):
        best, t = self.best, self.threshold
        if self.mode == "min":
            return a < (best * (1 - t) if self.threshold_mode == "rel" else best - t)
        return a > (best * (1 + t) if self.threshold_mode == "rel" else best + t)

    def step(self, metrics):
        """Report this epoch's metric (e.g. validation loss)."""
        try:
            current = float(metrics)
        except (TypeError, ValueError):
            raise TypeError(f"ReduceLROnPlateau.step: metrics must be a number, got {metrics!r}") from None
        self.last_epoch += 1
        if self._is_better(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs during cooldown do not count
        if self.num_bad_epochs > self.patience:
            for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
                old = float(group["lr"])
                new = max(old * self.factor, min_lr)
                if old - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    @property
    def in_cooldown(self):
        return self.cooldown_counter > 0

    def get_last_lr(self):
        return list(self._last_lr)

    def state_dict(self):
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict):
        _load_checked(self, state_dict)
