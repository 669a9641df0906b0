"""kernels/cuda/lrn.py, launching lrn.cu's host build (see _launcher.py)."""
from ._launcher import load

load("lrn", globals())
