"""tinyconv benchmarks: every backend (and PyTorch, when installed) side by side in one run.

    python -m benchmarks                # layer and model suites, all available backends
    python -m benchmarks --quick        # fewer repeats, smaller cases (a smoke run)
    python -m benchmarks --suite layers --backends numba torch

Writes benchmarks/results/<name>.json (+ .txt table, + .png chart).
"""
import tinyconv  # noqa: F401,E402  (first: its runtime settings must precede NumPy)
