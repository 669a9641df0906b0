"""Measurement helpers for one benchmark worker process, and the protocol they serve.

The protocol (the one issue 9's acceptance scripts in ../shared/bench/ use):

- every runner (numpy, numba, torch, ...) is timed alone in a FRESH process
  (`python -m benchmarks.worker`), so no framework's thread pool, allocator cache or JIT state
  is present while another framework is timed;
- that process imports NumPy FIRST, as a user's script does (`import numpy as np` and then the
  framework), because which thread pool (OpenBLAS's pthreads, Numba's OpenMP threads, PyTorch's
  intra-op pool) is set up first, and with which environment, decides how they share the cores;
- default threads and no pinning: nothing here calls sched_setaffinity or set_num_threads, so
  the numbers are what a user's own script gets, including pools that fight over 2 cores;
- the parent alternates the runners' processes within each round and reports, per case, the
  median over rounds of each process's median; a slow spell of the machine then hits every
  runner alike and shows up as spread rather than as one runner's number;
- each worker runs a 2048^3 float32 sgemm probe through NumPy at its start and end, so every
  GFLOP/s can be read against what this machine's BLAS did in the same run;
- the peak RSS of each case is the process's high-water mark, reset before the case
  (`/proc/self/clear_refs` "5"), read after it (VmHWM).
"""
from __future__ import annotations

import os
import platform
import re
import resource
import statistics
import time

import numpy as np

# environment variables that change how the thread pools behave; recorded with every worker
THREAD_ENV = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "OPENBLAS_NUM_THREADS", "OPENBLAS_THREAD_TIMEOUT",
              "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
              "NUMBA_THREADING_LAYER", "TINYCONV_BACKEND")


def sgemm_probe(n=2048, repeat=5) -> dict:
    """Median time and GFLOP/s of an n^3 float32 GEMM through numpy's BLAS (after one warm-up)."""
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = a.T.copy()
    a @ b
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {"n": n, "repeat": repeat, "median_ms": med * 1e3, "gflops": 2 * n ** 3 / med / 1e9}


def tinyconv_gemm_probe(n=2048, repeat=5) -> dict:
    """The same n^3 float32 GEMM through tinyconv's own kernel, as the numba backend runs it (the
    linear layer's forward: column blocks over Numba's threads). NumPy's BLAS may be held to
    narrower kernels than the CPU has (OPENBLAS_CORETYPE), so both probes are recorded."""
    from tinyconv.kernels.cpu.linear import linear_forward
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    linear_forward(a, a, None)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        linear_forward(a, a, None)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {"n": n, "repeat": repeat, "median_ms": med * 1e3, "gflops": 2 * n ** 3 / med / 1e9}


def time_calls(fn, repeat: int, budget_s: float | None = None) -> dict:
    """Median/min milliseconds of `repeat` calls of fn (stops after budget_s, but after >= 3 calls)."""
    samples = []
    start = time.perf_counter()
    for i in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
        if budget_s is not None and i >= 2 and time.perf_counter() - start > budget_s:
            break
    return {"median_ms": statistics.median(samples), "min_ms": min(samples), "runs": len(samples)}


def _status_kib(field: str):
    try:
        with open("/proc/self/status") as f:
            m = re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M)
        return int(m.group(1)) if m else None
    except OSError:
        return None


def reset_peak_rss() -> str:
    """Reset the high-water mark to the current RSS; return the method peak_rss_mib will use.

    "VmHWM": Linux's per-process peak, reset here, so the next reading is this case's own peak.
    "ru_maxrss": no reset possible (not Linux, or clear_refs refused): the reading is the peak
    of the whole process so far, an upper bound on the case's.
    """
    if _status_kib("VmHWM") is not None:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            return "VmHWM"
        except OSError:
            pass
    return "ru_maxrss"


def rss_mib() -> float | None:
    kib = _status_kib("VmRSS")
    return kib / 1024 if kib is not None else None


def peak_rss_mib(method: str) -> float:
    if method == "VmHWM":
        return _status_kib("VmHWM") / 1024
    # ru_maxrss is KiB on Linux, bytes on macOS
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2 ** 20 if platform.system() == "Darwin" else peak / 1024


def threads_now() -> int | None:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


def affinity() -> list | None:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None


def machine() -> dict:
    """What ran the benchmark: CPU model, cores, library versions (read without importing them)."""
    from importlib import metadata
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {"cpu": cpu, "logical_cpus": os.cpu_count(), "usable_cpus": affinity(),
            "python": platform.python_version(), "platform": platform.platform()}
    for dist in ("numpy", "numba", "torch", "cupy", "threadpoolctl"):
        try:
            info[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            info[dist] = None
    return info
