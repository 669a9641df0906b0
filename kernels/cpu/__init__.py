"""Numba CPU kernels; see ../README.md for the contract."""
from ._cache import refresh as _refresh

_refresh()  # a cached kernel must not outlive a change to a helper it compiled in (see _cache.py)
