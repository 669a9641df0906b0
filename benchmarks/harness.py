"""Timing that is fair on a small shared machine.

- Every case runs all its backends round-robin (repeat 1 of each, then repeat 2 of each, ...),
  so a slow spell of the machine hits every backend alike; we report medians.
- On 2 cores Linux sometimes puts both BLAS threads on one core (a 2048^3 sgemm then takes
  ~180 ms instead of ~85 ms). `pin_threads()` puts the main thread on the first CPU and every
  other thread on the others, and `sgemm_probe()` measures the sgemm rate before and after the
  run, so a degraded run is visible in the report.
"""
from __future__ import annotations

import os
import platform
import statistics
import time

import numpy as np


def pin_threads() -> str:
    """Pin the main thread to CPU 0 and every worker thread to the remaining CPUs, round-robin."""
    if not hasattr(os, "sched_setaffinity"):
        return "unsupported"
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return "single-cpu"
    main = os.getpid()
    others = cpus[1:]
    tids = sorted(int(t) for t in os.listdir("/proc/self/task"))
    for i, tid in enumerate(t for t in tids if t != main):
        try:
            os.sched_setaffinity(tid, {others[i % len(others)]})
        except OSError:
            pass
    os.sched_setaffinity(main, {cpus[0]})
    return f"main->cpu{cpus[0]}, {len(tids) - 1} workers->cpus{others}"


def unpin_threads() -> None:
    if hasattr(os, "sched_setaffinity"):
        cpus = set(range(os.cpu_count() or 1))
        for t in os.listdir("/proc/self/task"):
            try:
                os.sched_setaffinity(int(t), cpus)
            except OSError:
                pass


def sgemm_probe(n=2048, repeat=5) -> dict:
    """Median time and GFLOP/s of an n^3 float32 GEMM through numpy's BLAS."""
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = a.T.copy()
    a @ b
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {"n": n, "median_ms": med * 1e3, "gflops": 2 * n ** 3 / med / 1e9}


def time_round_robin(fns: dict, repeat: int, warmup: int = 2, budget_s: float | None = None) -> dict:
    """Median milliseconds of each callable in `fns`, timed in interleaved rounds.

    Stops early (but after at least 3 rounds) if `budget_s` seconds are spent.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    samples = {k: [] for k in fns}
    start = time.perf_counter()
    for r in range(repeat):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            samples[k].append((time.perf_counter() - t0) * 1e3)
        if budget_s is not None and r >= 2 and time.perf_counter() - start > budget_s:
            break
    return {k: {"median_ms": statistics.median(v), "min_ms": min(v), "runs": len(v)}
            for k, v in samples.items()}


def machine() -> dict:
    """What ran the benchmark: CPU model, cores, library versions."""
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {"cpu": cpu, "logical_cpus": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "platform": platform.platform()}
    for mod in ("numba", "torch", "cupy"):
        try:
            info[mod] = __import__(mod).__version__
        except ImportError:
            info[mod] = None
    return info
