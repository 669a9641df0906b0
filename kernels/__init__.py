"""Kernels in three flavours (reference NumPy, Numba CPU, CUDA); see README.md for the contract."""
