"""One runner's benchmark cases in this (fresh) process; prints one JSON line on stdout.

    python -m benchmarks.worker --runner numba --suite layers [--quick] [--only TEXT] [--repeat N]

Started by `python -m benchmarks` once per runner per round; see harness.py for the protocol.
"""
import numpy as np  # noqa: I001  first, as a user's script starts (the import order is measured)

import argparse
import gc
import json
import os
import sys
import time

from . import harness


def runner_info(runner):
    info = {"tinyconv_imported": "tinyconv" in sys.modules}
    if runner.startswith("torch"):
        import torch
        info["torch_threads"] = torch.get_num_threads()
        info["torch_interop_threads"] = torch.get_num_interop_threads()
    if "numba" in sys.modules:
        import numba
        info["numba_threads"] = numba.get_num_threads()
        info["numba_threading_layer"] = _numba_layer(numba)
    try:
        from threadpoolctl import threadpool_info
        info["threadpools"] = [{k: p.get(k) for k in ("user_api", "internal_api", "num_threads", "prefix")}
                               for p in threadpool_info()]
    except ImportError:
        info["threadpools"] = None
    return info


def _numba_layer(numba):
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel region has run yet
        return None


def run(args):
    from .cases import select
    cases = select(args.suite, args.quick, args.only, args.names, args.isolated)
    if not cases:
        raise SystemExit(f"worker: no case matches --suite {args.suite} --only {args.only!r} "
                         f"--names {args.names!r}")
    out = {"runner": args.runner, "pid": os.getpid(), "affinity": harness.affinity(),
           "threads_at_start": harness.threads_now(),
           "env": {k: os.environ[k] for k in harness.THREAD_ENV if k in os.environ},
           "numpy_imported_first": True, "probe_start": harness.sgemm_probe()}
    results = []
    for case in cases:
        gc.collect()
        method = harness.reset_peak_rss()
        rss_before = harness.rss_mib()
        t0 = time.perf_counter()
        fn = case.build(args.runner)
        fn()  # first call: JIT compilation, allocations, caches
        warmup_s = time.perf_counter() - t0
        repeat = min(args.repeat, case.max_repeat or args.repeat)
        timed = harness.time_calls(fn, repeat, args.budget)
        results.append({"case": case.name, **timed, "warmup_s": warmup_s,
                        "peak_rss_mib": harness.peak_rss_mib(method), "rss_before_mib": rss_before,
                        "peak_rss_method": method})
        del fn
        print(f"[{args.runner}] {case.name}: {timed['median_ms']:.2f} ms", file=sys.stderr, flush=True)
    out.update(runner_info(args.runner), affinity_at_end=harness.affinity(),
               threads_at_end=harness.threads_now(), probe_end=harness.sgemm_probe(), results=results)
    if args.runner == "numba":
        out["tinyconv_gemm_probe"] = harness.tinyconv_gemm_probe()
    return out


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.worker", description=__doc__)
    p.add_argument("--runner", required=True, choices=["numpy", "numba", "torch", "cupy", "torch-cuda"])
    p.add_argument("--suite", choices=["layers", "models", "all"], default="all")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", default=None)
    p.add_argument("--names", nargs="+", default=None, help="exact case names")
    p.add_argument("--isolated", choices=["yes", "no"], default=None,
                   help="only the cases that need a process of their own (yes) or only the others")
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--budget", type=float, default=None, help="seconds of timed calls per case")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error(f"--repeat must be >= 1, got {args.repeat}")
    args.isolated = None if args.isolated is None else args.isolated == "yes"
    print(json.dumps(run(args)), flush=True)


if __name__ == "__main__":
    main()
