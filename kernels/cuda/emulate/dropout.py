"""kernels/cuda/dropout.py, launching dropout.cu's host build (see _launcher.py)."""
from ._launcher import load

load("dropout", globals())
