"""kernels/cuda/conv.py, launching conv.cu's host build (see _launcher.py)."""
from ._launcher import load

load("conv", globals())
