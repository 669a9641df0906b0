"""kernels/cuda/softmax.py, launching softmax.cu's host build (see _launcher.py)."""
from ._launcher import load

load("softmax", globals())
