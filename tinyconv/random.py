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


def get_rng_state() -> dict:
    """Everything the random streams need to continue exactly: the seed, the dropout counter and
    the host generator's state (a dict of ints, storable with tinyconv.save)."""
    _ensure()
    return {"seed": _state["seed"], "offset": _state["offset"],
            "generator": _state["generator"].bit_generator.state}


def set_rng_state(state: dict) -> None:
    """Restore a state from get_rng_state() (e.g. when resuming a training run)."""
    if not isinstance(state, dict) or set(state) != {"seed", "offset", "generator"}:
        raise ValueError("set_rng_state: expected the dict returned by get_rng_state() "
                         "(keys seed, offset, generator)")
    generator = np.random.default_rng()
    try:
        generator.bit_generator.state = state["generator"]
    except (TypeError, ValueError, KeyError) as e:
        raise ValueError(f"set_rng_state: the generator state is not a PCG64 state ({e})") from None
    _state.update(seed=int(state["seed"]) % (1 << 64), offset=int(state["offset"]) % (1 << 64),
                  generator=generator)
