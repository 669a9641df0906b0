"""kernels/cuda/optim.py (array expressions, no .cu of its own), on NumPy arrays (see _launcher.py)."""
from ._launcher import load

load("optim", globals())
