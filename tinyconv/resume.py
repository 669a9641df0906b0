"""Everything a training run needs to continue exactly where it stopped: model, optimizer,
scheduler, the data order (the loader's epoch) and the random streams. Resuming a run after k
epochs then ends with the same weights, bit for bit, as running it straight through (on the
same backend and thread count)."""
from __future__ import annotations

from . import random as _random
from . import serialization

KEYS = ("model", "optimizer", "scheduler", "epoch", "loader_epoch", "rng", "history")


def training_state(model, optimizer, scheduler, loader, epoch, history, **meta) -> dict:
    """A checkpoint dict (for tinyconv.save) of the run after `epoch` epochs; `meta` (arch,
    config, ...) is stored beside it."""
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": None if scheduler is None else scheduler.state_dict(),
            "epoch": int(epoch), "loader_epoch": int(loader.epoch), "rng": _random.get_rng_state(),
            "history": list(history), **meta}


def load_training_state(path) -> dict:
    """Read a checkpoint written during training and check it holds a resumable run."""
    state = serialization.load(path)
    missing = [k for k in KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise ValueError(f"{path}: cannot resume from this checkpoint, it lacks {missing} (written "
                         "by an older tinyconv, or not by `tinyconv train`)")
    return state


def restore(state, model, optimizer, scheduler, loader) -> tuple:
    """Load `state` into the run's objects; returns (first epoch to train, history so far)."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if (scheduler is None) != (state["scheduler"] is None):
        raise ValueError("resume: the checkpoint and this run disagree on using a scheduler")
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    loader.set_epoch(int(state["loader_epoch"]))
    _random.set_rng_state(state["rng"])
    return int(state["epoch"]) + 1, list(state["history"])
