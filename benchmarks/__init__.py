"""tinyconv benchmarks: each runner (numpy, numba, torch; cupy, torch-cuda) timed as a user gets it.

    python -m benchmarks                # layer and model suites, all available runners, 3 rounds
    python -m benchmarks --quick        # fewer repeats, smaller cases (a smoke run)
    python -m benchmarks --suite layers --backends numba torch

Writes benchmarks/results/<name>.json (+ .txt table, + .png chart). The protocol is described in
harness.py. This package file imports nothing: `python -m benchmarks.worker` must import NumPy
before anything else.
"""
