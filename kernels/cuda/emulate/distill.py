"""kernels/cuda/distill.py (CuPy expressions, no .cu of its own), on NumPy arrays (see _launcher.py)."""
from ._launcher import load

load("distill", globals())
