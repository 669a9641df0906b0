"""Global random state: `manual_seed(n)` makes initialisation, dropout and shuffling repeatable.

Two streams come from one seed: a NumPy `Generator` for host-side draws (weight init, data
shuffling), and a (seed, offset) counter for the dropout kernels, whose counter-based RNG gives
the same mask on every backend. Each dropout call advances the offset by the number of elements.
"""
from __future__ import annotations

import numpy as np

_DEFAULT_SEED = 0x7C0FFEE
_state = {}


def manual_seed(seed: int) -> None:
    """Seed every random stream tinyconv uses."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"manual_seed expects an int, got {type(seed).__name__}")
    seed = int(seed) % (1 << 64)
    _state["seed"] = seed
    _state["offset"] = 0
    _state["generator"] = np.random.default_rng(seed)


def _ensure():
    if not _state:
        manual_seed(_DEFAULT_SEED)


def generator() -> np.random.Generator:
    """The host-side generator (weight initialisation, shuffling)."""
    _ensure()
    return _state["generator"]


def next_counter(n: int):
    """Reserve n draws of the counter-based stream: returns (seed, offset)."""
    _ensure()
    seed, offset = _state["seed"], _state["offset"]
    _state["offset"] = (offset + int(n)) % (1 << 64)
    return seed, offset


def initial_seed() -> int:
    _ensure()
    return _state["seed"]
