"""Entry point: python -m benchmarks [--suite layers|models|all] [--backends ...] [--quick]."""
from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone
from pathlib import Path

from . import cases as case_lib
from . import harness, report

RESULTS = Path(__file__).resolve().parent / "results"


def available_runners(device):
    import tinyconv as tc
    runners = ["numpy", "numba"] if device == "cpu" else ["cupy"]
    try:
        import torch
        if device == "cpu":
            runners.append("torch")
        elif torch.cuda.is_available():
            runners.append("torch-cuda")
    except ImportError:
        pass
    if device == "cuda" and not tc.cuda.is_available():
        raise SystemExit("--device cuda: no usable CUDA device")
    return runners


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--suite", choices=["layers", "models", "all"], default="all")
    p.add_argument("--backends", nargs="+", default=None,
                   help="runners to compare: numpy numba torch (cpu) or cupy torch-cuda (cuda)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--repeat", type=int, default=10, help="timed rounds per case (median reported)")
    p.add_argument("--budget", type=float, default=40.0,
                   help="seconds per case after which rounds stop (at least 3 rounds)")
    p.add_argument("--quick", action="store_true", help="small batches, 3 rounds: a smoke run")
    p.add_argument("--only", default=None, help="run cases whose name contains this text")
    p.add_argument("--name", default=None, help="result file stem (default: <device>-<suite>)")
    p.add_argument("--no-pin", action="store_true", help="leave thread placement to the OS")
    args = p.parse_args(argv)
    if args.quick:
        args.repeat = min(args.repeat, 3)

    runners = args.backends or available_runners(args.device)
    if "torch" in runners:
        import torch
        torch.set_num_threads(len(__import__("os").sched_getaffinity(0)))
    cases = []
    if args.suite in ("layers", "all"):
        cases += case_lib.layer_cases(args.quick)
    if args.suite in ("models", "all"):
        cases += case_lib.model_cases(args.quick)
    if args.only:
        cases = [c for c in cases if args.only in c.name]

    machine = harness.machine()
    probe_before = harness.sgemm_probe()
    print(f"{machine['cpu']} ({machine['logical_cpus']} logical CPUs); numpy {machine['numpy']}, "
          f"numba {machine['numba']}, torch {machine['torch']}")
    print(f"sgemm 2048^3 before: {probe_before['median_ms']:.1f} ms ({probe_before['gflops']:.0f} GFLOP/s)")

    results, pinning, t_start = [], "off", time.perf_counter()
    for case in cases:
        fns = {r: case.build(r) for r in runners}
        for fn in fns.values():  # first call: JIT compilation, allocations
            fn()
        if not args.no_pin:
            pinning = harness.pin_threads()
        timed = harness.time_round_robin(fns, repeat=args.repeat, warmup=1, budget_s=args.budget)
        for runner, t in timed.items():
            results.append({"case": case.name, "group": case.group, "runner": runner, **t,
                            "gflops": case.flops / (t["median_ms"] * 1e-3) / 1e9})
        line = "  ".join(f"{r} {t['median_ms']:.2f} ms" for r, t in timed.items())
        print(f"{case.name:<36} {line}", flush=True)
    harness.unpin_threads()
    probe_after = harness.sgemm_probe()
    print(f"sgemm 2048^3 after:  {probe_after['median_ms']:.1f} ms ({probe_after['gflops']:.0f} GFLOP/s)")

    rows = report.ratios(results)
    text = report.table(rows)
    print()
    print(text)
    stem = RESULTS / (args.name or f"{args.device}-{args.suite}{'-quick' if args.quick else ''}")
    payload = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "machine": machine, "device": args.device, "runners": runners,
               "repeat": args.repeat, "quick": args.quick, "thread_pinning": pinning,
               "sgemm_probe": {"before": probe_before, "after": probe_after},
               "wall_seconds": time.perf_counter() - t_start, "results": rows}
    written = report.write(stem, payload, text)
    written.append(report.chart(rows, stem.with_suffix(".png")))
    print("wrote " + ", ".join(str(w) for w in written))


if __name__ == "__main__":
    main()
