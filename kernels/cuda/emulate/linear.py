"""kernels/cuda/linear.py (GEMMs, no .cu of its own), on NumPy arrays (see _launcher.py)."""
from ._launcher import load

load("linear", globals())
