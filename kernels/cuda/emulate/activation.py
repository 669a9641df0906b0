"""kernels/cuda/activation.py, launching activation.cu's host build (see _launcher.py)."""
from ._launcher import load

load("activation", globals())
