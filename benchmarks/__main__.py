"""python -m benchmarks: time every runner the way a user's own script runs it.

Protocol (details and reasons in harness.py): for each of --rounds rounds, each runner (numpy,
numba, torch on cpu; cupy, torch-cuda on cuda) runs its cases in a fresh worker process
(`python -m benchmarks.worker`) that imports NumPy first, keeps the default thread counts and
pins nothing; the runners' processes alternate within a round (the order rotates between rounds).
Why: which thread pools a process starts, in which order, and how they share the cores decide
what a user's script gets, e.g. OpenBLAS and Numba's OpenMP pools spinning against each other on
2 cores; timing all frameworks in one pinned process hides exactly that. Reported per case and
runner: the median over rounds of each process's median, the minimum, the peak RSS (max over
rounds), GFLOP/s, ratios to torch and to numpy, and GFLOP/s as a fraction of the sgemm probe.

    python -m benchmarks [--suite layers|models|all] [--backends ...] [--rounds 3] [--quick]
"""
import os

_ENV_AT_START = dict(os.environ)  # workers get the user's environment, not one a library changed

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

from . import harness, report  # noqa: E402
from .cases import select  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
PROTOCOL = ("fresh process per runner per round, numpy imported first, default threads, no pinning; "
            "runners alternate within a round (order rotated each round); per case: median over "
            "rounds of each process's median; peak RSS = VmHWM reset before each case, max over rounds")
CPU_RUNNERS, CUDA_RUNNERS = ("numpy", "numba", "torch"), ("cupy", "torch-cuda")


def available_runners(device):
    has_torch = importlib.util.find_spec("torch") is not None
    if device == "cpu":
        return ["numpy", "numba"] + (["torch"] if has_torch else [])
    import tinyconv as tc  # the parent only; workers start from _ENV_AT_START
    if not tc.cuda.is_available():
        raise SystemExit("--device cuda: no usable CUDA device")
    runners = ["cupy"]
    if has_torch:
        import torch
        if torch.cuda.is_available():
            runners.append("torch-cuda")
    return runners


def worker_env():
    env = dict(_ENV_AT_START)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def run_worker(runner, names, args):
    """One fresh worker process; returns (its JSON, None) or (None, a failure record)."""
    cmd = [sys.executable, "-m", "benchmarks.worker", "--runner", runner, "--suite", args.suite,
           "--repeat", str(args.repeat), "--names", *names]
    if args.quick:
        cmd.append("--quick")
    if args.budget is not None:
        cmd += ["--budget", str(args.budget)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=worker_env(), capture_output=True, text=True,
                              timeout=args.worker_timeout)
    except subprocess.TimeoutExpired as e:
        tail = (e.stderr or b"")
        tail = tail.decode(errors="replace") if isinstance(tail, bytes) else tail
        return None, {"runner": runner, "cases": names, "error": f"timed out after {args.worker_timeout} s",
                      "stderr_tail": tail[-2000:]}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return None, {"runner": runner, "cases": names, "error": f"exit status {proc.returncode}",
                      "stderr_tail": proc.stderr[-2000:]}
    out = json.loads(lines[-1])
    out["wall_s"] = time.perf_counter() - t0
    return out, None


def aggregate(cases, runners, workers, probe_gflops):
    """Rows per case and runner (in case order), plus derived backward-only rows for convs."""
    per = {}
    for w in workers:
        for r in w["results"]:
            per.setdefault((r["case"], w["runner"]), []).append(r)
    rows, by_key = [], {}
    for case in cases:
        for runner in runners:
            rs = per.get((case.name, runner))
            if not rs:
                continue
            med = statistics.median(r["median_ms"] for r in rs)
            flops = case.total_flops()
            row = {"case": case.name, "group": case.group, "runner": runner, "median_ms": med,
                   "min_ms": min(r["min_ms"] for r in rs), "rounds": len(rs),
                   "round_medians_ms": [r["median_ms"] for r in rs], "runs_per_round": [r["runs"] for r in rs],
                   "peak_rss_mib": max(r["peak_rss_mib"] for r in rs),
                   "peak_rss_method": sorted({r["peak_rss_method"] for r in rs}),
                   "flops": flops, "gflops": flops / (med * 1e-3) / 1e9}
            rows.append(row)
            by_key[(case.name, runner)] = row
        if case.params.get("part") == "fwd+bwd":
            fwd = next((c for c in cases if c.params.get("conv") == case.params["conv"]
                        and c.params.get("part") == "fwd"), None)
            for runner in runners if fwd else ():
                a, b = by_key.get((fwd.name, runner)), by_key.get((case.name, runner))
                if not (a and b):
                    continue
                ms, flops = b["median_ms"] - a["median_ms"], b["flops"] - a["flops"]
                rows.append({"case": f"{case.params['conv']} bwd (derived)", "group": "layer",
                             "runner": runner, "derived": "fwd+bwd minus fwd medians",
                             "median_ms": ms, "min_ms": None, "rounds": min(a["rounds"], b["rounds"]),
                             "peak_rss_mib": None, "flops": flops,
                             "gflops": flops / (ms * 1e-3) / 1e9 if ms > 0 else None})
    for row in rows:
        row["of_sgemm"] = row["gflops"] / probe_gflops if row["gflops"] and probe_gflops else None
    return report.ratios(rows)


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", choices=["layers", "models", "all"], default="all")
    p.add_argument("--backends", nargs="+", default=None,
                   help="runners to compare: numpy numba torch (cpu) or cupy torch-cuda (cuda)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--repeat", type=int, default=10, help="timed calls per case per process (median kept)")
    p.add_argument("--rounds", type=int, default=3, help="fresh processes per runner (median over them)")
    p.add_argument("--budget", type=float, default=40.0,
                   help="seconds of timed calls per case per process after which calls stop (at least 3)")
    p.add_argument("--quick", action="store_true", help="small batches, <= 3 calls: a smoke run")
    p.add_argument("--only", default=None, help="run cases whose name contains this text")
    p.add_argument("--name", default=None, help="result file stem (default: <device>-<suite>)")
    p.add_argument("--out", type=Path, default=RESULTS, help="results folder (default: benchmarks/results)")
    p.add_argument("--worker-timeout", type=float, default=1800.0, help="seconds per worker process")
    args = p.parse_args(argv)
    for flag in ("repeat", "rounds"):
        if getattr(args, flag) < 1:
            p.error(f"--{flag} must be >= 1, got {getattr(args, flag)}")
    allowed = CPU_RUNNERS if args.device == "cpu" else CUDA_RUNNERS
    bad = [b for b in args.backends or () if b not in allowed]
    if bad:
        p.error(f"--backends {bad} not runners of --device {args.device}: choose from {list(allowed)}")
    if args.quick:
        args.repeat = min(args.repeat, 3)
    return args


def main(argv=None):
    args = parse(argv)
    runners = args.backends or available_runners(args.device)
    cases = select(args.suite, args.quick, args.only)
    if not cases:
        raise SystemExit(f"no case matches --suite {args.suite} --only {args.only!r}")
    # one worker per runner per round for the shared cases, one more per memory case
    groups = [[c.name for c in cases if not c.isolate]] + [[c.name] for c in cases if c.isolate]
    groups = [g for g in groups if g]
    machine = harness.machine()
    print(f"{machine['cpu']} ({machine['logical_cpus']} logical CPUs); numpy {machine['numpy']}, "
          f"numba {machine['numba']}, torch {machine['torch']}")
    print(f"protocol: {PROTOCOL}; {args.rounds} round(s), {len(cases)} case(s), runners {runners}", flush=True)

    workers, failures, t_start = [], [], time.perf_counter()
    for rnd in range(args.rounds):
        order = runners[rnd % len(runners):] + runners[:rnd % len(runners)]
        for names in groups:
            for runner in order:
                out, fail = run_worker(runner, names, args)
                if fail:
                    fail["round"] = rnd + 1
                    failures.append(fail)
                    print(f"round {rnd + 1} {runner}: WORKER FAILED ({fail['error']}); stderr tail:\n"
                          f"{fail['stderr_tail']}", file=sys.stderr, flush=True)
                    continue
                out["round"] = rnd + 1
                workers.append(out)
                p0, p1 = out["probe_start"]["gflops"], out["probe_end"]["gflops"]
                cells = "  ".join(f"{r['case']} {r['median_ms']:.2f} ms" for r in out["results"])
                print(f"round {rnd + 1} {runner:<6} ({out['wall_s']:.0f} s, sgemm {p0:.0f}/{p1:.0f} GFLOP/s): "
                      f"{cells}", flush=True)

    probes = [{"runner": w["runner"], "round": w["round"], "at": at, **w[f"probe_{at}"]}
              for w in workers for at in ("start", "end")]
    probe_gflops = statistics.median(p["gflops"] for p in probes) if probes else None
    own = [w["tinyconv_gemm_probe"]["gflops"] for w in workers if "tinyconv_gemm_probe" in w]
    own_gflops = statistics.median(own) if own else None
    rows = aggregate(cases, runners, workers, probe_gflops)
    text = report.table(rows, probe_gflops)
    if own_gflops:
        text += (f"\ntinyconv's own GEMM (numba workers, the same 2048^3 product): {own_gflops:.0f} GFLOP/s"
                 f" = {own_gflops / probe_gflops:.2f}x the NumPy probe\n")
    print()
    print(text)
    stem = Path(args.out) / (args.name or f"{args.device}-{args.suite}{'-quick' if args.quick else ''}")
    payload = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "machine": machine, "device": args.device, "runners": runners,
               "protocol": {"description": PROTOCOL, "rounds": args.rounds, "repeat": args.repeat,
                            "budget_s": args.budget, "quick": args.quick, "thread_pinning": "none",
                            "import_order": "numpy first", "threads": "library defaults"},
               "sgemm_probe": {"median_gflops": probe_gflops, "readings": probes},
               "tinyconv_gemm_probe": {"median_gflops": own_gflops, "readings": own},
               "workers": [{k: v for k, v in w.items() if k not in ("results", "probe_start", "probe_end")}
                           for w in workers],
               "failures": failures, "wall_seconds": time.perf_counter() - t_start,
               "results": [r for r in rows if not r.get("derived")],
               # backward alone, (fwd+bwd) - fwd of each conv layer: derived, so kept apart
               "derived_backward": [r for r in rows if r.get("derived")]}
    written = report.write(stem, payload, text)
    if rows:
        written.append(report.chart(rows, stem.with_suffix(".png")))
    print("wrote " + ", ".join(str(w) for w in written))
    if failures:
        raise SystemExit(f"{len(failures)} worker process(es) failed; see the messages above")


if __name__ == "__main__":
    main()
