"""kernels/cuda/pool.py, launching pool.cu's host build (see _launcher.py)."""
from ._launcher import load

load("pool", globals())
