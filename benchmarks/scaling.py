"""python -m benchmarks.scaling: AlexNet's data-parallel and model-split scaling, on paper.

Two measurements on this machine, then a model:
  1. all-reduce time vs message size (float32, 4 KB ... 256 MB) between 2 ranks over shared memory,
     through tinyconv's own MPI group (the one DistributedDataParallel uses), under `mpiexec -n 2`;
     median over repetitions of the slower rank; fit t(n) = alpha + n / beta.
  2. per-layer compute of AlexNet("original") at the per-rank batch (16): one process trains it on
     the numba backend with a hook on each weighted layer's input, giving the step, its backward,
     and when each layer's gradients are ready (fc8 first, conv1 last); hooks on the parameters
     show when DistributedDataParallel's own hooks would fire. By default the step time is the
     "alexnet(original) train step b16" numba row of results/cpu-2core-reference.json (measured
     on a quiet machine) and the measured shape is scaled to it; --step here keeps this run's.

    python -m benchmarks.scaling [--reps 7] [--max-mb 256] [--timeout 110] [--steps 4] [--step reference|here]
                                [--latency-us 5] [--measure-batch 16]

Writes benchmarks/results/scaling-2core.{json,png} and prints the tables. This file measures;
scaling_model.py holds the model (ring collectives, bucketing, overlap), the table and the chart.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .scaling_model import (BANDWIDTHS_GBPS, BATCH, BUCKET_CAP_MB, RANKS, fit_alpha_beta,
                            gbps, make_buckets, plot, predict, ring_allreduce_time, table)

RESULTS = Path(__file__).resolve().parent / "results"
REFERENCE = RESULTS / "cpu-2core-reference.json"
# AlexNet("original") layers in forward order: module path, and the input of each in the split
LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")
PATHS = {"conv1": "features.0", "conv2": "features.4", "conv3": "features.8", "conv4": "features.10",
         "conv5": "features.12", "fc6": "classifier.1", "fc7": "classifier.4", "fc8": "classifier.6"}


# --- measurement 1: all-reduce under mpiexec ---------------------------------------------
def sizes_up_to(max_bytes, smallest=4096):
    out, n = [], smallest
    while n <= max_bytes:
        out.append(n)
        n *= 4
    return out


def _worker(args):
    import tinyconv.distributed as dist
    world = dist.init("mpi")
    if world.size != 2:
        raise SystemExit(f"benchmarks.scaling worker: expected 2 ranks, got {world.size}")
    rows = []
    for nbytes in args.sizes:
        buf = np.ones(nbytes // 4, dtype=np.float32)
        reps = args.reps if nbytes <= 64 * 2 ** 20 else max(3, args.reps // 2)
        world.allreduce_(buf)  # warm-up: first-touch pages, MPI's shared-memory setup
        times = []
        for _ in range(reps):
            world.barrier()
            t0 = time.perf_counter()
            world.allreduce_(buf)
            times.append(time.perf_counter() - t0)
        slowest = np.max(world.allgather(np.array(times)), axis=0)  # a collective ends on its last rank
        rows.append({"bytes": nbytes, "reps": reps, "median_s": float(np.median(slowest)),
                     "min_s": float(slowest.min())})
        if abs(float(buf[0]) - 2.0 ** (reps + 1)) > 1e-3 * 2.0 ** (reps + 1):  # each reduce doubles
            raise SystemExit(f"all-reduce gave {buf[0]}, expected {2.0 ** (reps + 1)}")
        del buf
    if world.rank == 0:
        Path(args.worker_out).write_text(json.dumps({"library": world.library, "rows": rows}))


def mpiexec():
    beside = Path(sys.executable).parent / "mpiexec"
    if beside.exists():
        return str(beside)
    import shutil
    found = shutil.which("mpiexec")
    if found is None:
        raise RuntimeError("no mpiexec: pip install mpi4py mpich (tinyconv[distributed])")
    return found


def measure_allreduce(sizes, reps=7, timeout=110.0, out_path=None):
    """{"library", "rows": [{"bytes", "reps", "median_s", "min_s"}]} from `mpiexec -n 2`."""
    import tempfile
    sizes = [int(s) for s in sizes]
    if not sizes or any(s <= 0 or s % 4 for s in sizes):
        raise ValueError(f"measure_allreduce: sizes must be positive multiples of 4 bytes, got {sizes}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(out_path) if out_path else Path(tmp) / "allreduce.json"
        cmd = [mpiexec(), "-n", "2", sys.executable, "-m", "benchmarks.scaling", "--worker-out",
               str(out), "--reps", str(reps), "--sizes"] + [str(s) for s in sizes]
        env = dict(os.environ, TINYCONV_DIST_TIMEOUT=str(max(10, int(timeout))), PYTHONUNBUFFERED="1")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env, cwd=Path(__file__).resolve().parent.parent,
                                start_new_session=True)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the launcher and both ranks
            proc.communicate()
            raise RuntimeError(f"the all-reduce measurement ran past {timeout:g} s: {' '.join(cmd)}")
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"`{' '.join(cmd)}` failed ({proc.returncode}):\n{stdout}\n{stderr}")
        result = json.loads(out.read_text())
        result["load_average"] = os.getloadavg()[0]
        return result


# --- measurement 2: per-layer compute -------------------------------------------------------
def reference_step(path=REFERENCE, runner="numba", batch=BATCH):
    """Seconds of the whole AlexNet("original") train step in the benchmark results."""
    case = f"alexnet(original) train step b{batch}"
    for r in json.loads(Path(path).read_text())["results"]:
        if r["case"] == case and r["runner"] == runner:
            return r["median_ms"] / 1e3
    raise KeyError(f"{path} has no {runner} row {case!r}; run python -m benchmarks --suite models")


def time_alexnet_step(batch=BATCH, backend="numba", steps=4):
    """One process training AlexNet("original") as the benchmark's train step does (SGD with
    momentum), with a hook stamping when each layer's gradients are ready. Returns medians
    over `steps` (after one warm-up): {"step_s", "backward_s", "ready_s": {layer: s after backward
    started, the layer's last tensor}}."""
    import tinyconv as tc
    F = tc.nn.functional
    by_path = {v: k for k, v in PATHS.items()}
    rng = np.random.default_rng(0)
    with tc.use_backend(backend):
        tc.manual_seed(0)
        model = tc.models.alexnet(variant="original", num_classes=1000)
        opt = tc.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
        x = tc.tensor(rng.standard_normal((batch, 3, 227, 227)).astype(np.float32))
        y = tc.tensor(rng.integers(0, 1000, batch))
        weighted = {path: layer for layer, path in PATHS.items()}
        stamps = {}

        def stamp(layer):
            def hook(g):
                stamps[layer] = time.perf_counter()
            return hook

        def forward():
            # Sequential by hand, to hook each weighted layer's *input*: its gradient exists the
            # moment that layer's backward (weight gradient included) is done. Leaf hooks would
            # not do: tinyconv's backward visits the parameters only after the whole graph.
            h = x
            for prefix, seq in (("features", model.features), ("classifier", model.classifier)):
                if prefix == "classifier":
                    h = F.flatten(h, 1)
                for i, m in enumerate(seq):
                    layer = weighted.get(f"{prefix}.{i}")
                    if layer is not None and h.requires_grad:
                        h.register_hook(stamp(layer))
                    h = m(h)
            return h

        leaf_stamps = []  # what DistributedDataParallel's hooks see: the parameters' gradients
        for prm in model.parameters():
            prm.register_hook(lambda g: leaf_stamps.append(time.perf_counter()))

        runs = []
        for _ in range(steps + 1):
            stamps.clear()
            leaf_stamps.clear()
            t0 = time.perf_counter()
            loss = F.cross_entropy(forward(), y)
            opt.zero_grad()
            t1 = time.perf_counter()
            loss.backward()
            t2 = time.perf_counter()
            opt.step()
            t3 = time.perf_counter()
            stamps["conv1"] = t2  # its input is the data: its gradients are the last of backward
            if set(stamps) != set(LAYERS):
                raise RuntimeError(f"gradient hooks fired for {sorted(stamps)}, expected {LAYERS}")
            runs.append({"step_s": t3 - t0, "backward_s": t2 - t1,
                         "ready_s": {k: v - t1 for k, v in stamps.items()},
                         "first_param_hook_s": min(leaf_stamps) - t1})
    runs = runs[1:]
    return {"steps": len(runs), "backend": backend, "batch": batch, "params": alexnet_params(model),
            "step_s": statistics.median(r["step_s"] for r in runs),
            "backward_s": statistics.median(r["backward_s"] for r in runs),
            "first_param_hook_s": statistics.median(r["first_param_hook_s"] for r in runs),
            "ready_s": {k: statistics.median(r["ready_s"][k] for r in runs) for k in LAYERS}}


def scaled_to(measured, step_s):
    """The measured step's shape (backward share, when each gradient is ready) on a step of
    `step_s`: the reference time comes from a quiet machine, the shape from this process."""
    k = step_s / measured["step_s"]
    return {"step_s": step_s, "backward_s": measured["backward_s"] * k,
            "ready_s": {n: t * k for n, t in measured["ready_s"].items()}}


def alexnet_params(model):
    """[(layer, nbytes)] of AlexNet("original")'s trainable tensors in registration order."""
    by_path = {v: k for k, v in PATHS.items()}
    out = []
    for name, p in model.named_parameters():
        layer = by_path.get(name.rsplit(".", 1)[0])
        if layer is None:
            raise ValueError(f"alexnet: parameter {name} belongs to no known layer")
        out.append((layer, int(p.numel() * p.dtype.itemsize)))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.scaling", description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=7, help="all-reduce repetitions a size (median)")
    ap.add_argument("--max-mb", type=float, default=256, help="largest all-reduce message, MB")
    ap.add_argument("--timeout", type=float, default=110, help="seconds before mpiexec is killed")
    ap.add_argument("--latency-us", type=float,
                    default=5.0, help="wire latency of a network ring step, us (an assumption, "
                    "typical of RDMA fabrics; default 5)")
    ap.add_argument("--steps", type=int, default=4, help="AlexNet steps timed here (median)")
    ap.add_argument("--measure-batch", type=int, default=BATCH,
                    help="batch of the step timed here (its shape is scaled to the reference step of "
                    f"batch {BATCH}; smaller only to test the script quickly)")
    ap.add_argument("--step", choices=("reference", "here"), default="reference",
                    help="the step time: the benchmark results' (quiet machine; the measured "
                    "per-layer shape scaled to it) or the one measured here")
    ap.add_argument("--out", default=str(RESULTS / "scaling-2core"), help="path stem of .json/.png")
    ap.add_argument("--worker-out", help=argparse.SUPPRESS)
    ap.add_argument("--sizes", type=int, nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker_out:
        return _worker(args)

    started = time.monotonic()
    sizes = sizes_up_to(int(args.max_mb * 2 ** 20))
    ar = measure_allreduce(sizes, args.reps, args.timeout)
    alpha, beta = fit_alpha_beta([r["bytes"] for r in ar["rows"]], [r["median_s"] for r in ar["rows"]])
    ar["fit"] = {"alpha_s": alpha, "beta_bytes_per_s": beta}
    print(f"all-reduce, 2 ranks, shared memory ({ar['library']}, load average {ar['load_average']:.1f}):")
    for r in ar["rows"]:
        print(f"  {r['bytes'] / 2 ** 20:>10.4f} MB  {r['median_s'] * 1e3:>10.3f} ms  "
              f"{r['bytes'] / r['median_s'] / 1e9:>7.2f} GB/s")
    print(f"  fit: alpha {alpha * 1e6:.1f} us, beta {beta / 1e9:.2f} GB/s")

    if args.measure_batch < 1 or args.steps < 1:
        raise SystemExit(f"--measure-batch and --steps must be >= 1, got {args.measure_batch}, {args.steps}")
    if args.step == "here" and args.measure_batch != BATCH:
        raise SystemExit(f"--step here predicts batch {BATCH} a rank: it needs --measure-batch {BATCH}")
    measured = time_alexnet_step(batch=args.measure_batch, steps=args.steps)
    ref_step = reference_step()
    shape = scaled_to(measured, ref_step) if args.step == "reference" else dict(measured)
    params = measured.pop("params")
    model = {"batch": BATCH, "params": params, **{k: shape[k] for k in ("step_s", "backward_s", "ready_s")}}
    step = model["step_s"]
    total = sum(b for _, b in params)
    fc = sum(b for lay, b in params if lay.startswith("fc"))
    print(f"\nAlexNet(original): {total / 4e6:.1f}M parameters, FC {fc / 4e6:.1f}M ({100 * fc / total:.0f}%)")
    print(f"  one process, batch {measured['batch']}, numba, measured here (median of {measured['steps']}, load average "
          f"{os.getloadavg()[0]:.1f}): step {measured['step_s'] * 1e3:.0f} ms, backward "
          f"{measured['backward_s'] * 1e3:.0f} ms; {REFERENCE.name}: step {ref_step * 1e3:.0f} ms")
    print(f"  model ({args.step} step): step {step * 1e3:.0f} ms, backward {model['backward_s'] * 1e3:.0f} ms; "
          "gradients ready after backward starts:")
    for name in reversed(LAYERS):
        nbytes = sum(b for lay, b in params if lay == name)
        print(f"    {name:<6} {model['ready_s'][name] * 1e3:7.1f} ms   {nbytes / 2 ** 20:7.1f} MB")
    first = measured["first_param_hook_s"] / measured["backward_s"]
    print(f"  parameter gradient hooks (what DistributedDataParallel starts buckets from) fire first at "
          f"{100 * first:.0f}% of the backward here: tinyconv's backward reaches the parameters "
          f"{'after the whole graph, so its buckets do not overlap yet' if first > 0.9 else 'during backward'}")
    fc_bwd = model["ready_s"]["fc6"]
    print(f"  the FC layers: {100 * fc / total:.0f}% of the gradient bytes, {100 * fc_bwd / model['backward_s']:.0f}% "
          f"of the backward ({fc_bwd * 1e3:.0f} of {model['backward_s'] * 1e3:.0f} ms): their gradients are "
          "ready first, and the conv layers' backward can hide their reduction")
    buckets = make_buckets(params)
    print(f"  {len(buckets)} gradient buckets of <= {BUCKET_CAP_MB:g} MB: "
          + ", ".join(f"{'+'.join(sorted(n))} {s / 2 ** 20:.1f}" for n, s in buckets))

    if not args.latency_us >= 0:
        raise SystemExit(f"--latency-us must be >= 0, got {args.latency_us}")
    lat = args.latency_us * 1e-6
    links = {"shm": (beta, 0.0, alpha)}  # the fit already holds the 2-rank ring's steps
    links.update({f"{g} Gb/s": (gbps(g), lat, alpha) for g in BANDWIDTHS_GBPS})
    pred = predict(model, links)
    report = table(pred)
    print(f"\nevery collective: the measured overhead alpha {alpha * 1e6:.0f} us; networks: + "
          f"{lat * 1e6:g} us (assumed) a ring step; shm = the measured link ({beta / 1e9:.2f} GB/s), "
          "meaningful at 2 ranks only\n")
    print(report)
    conv_bwd = model["backward_s"] - fc_bwd
    fc_comm = {f"{g} Gb/s": ring_allreduce_time(fc, RANKS[-1], gbps(g), lat, alpha) for g in BANDWIDTHS_GBPS}
    print(f"\nthe FC gradients ({fc / 2 ** 20:.0f} MB) all-reduced over {RANKS[-1]} ranks vs the backward: FC "
          f"{fc_bwd * 1e3:.0f} ms, conv layers {conv_bwd * 1e3:.0f} ms (the part that can hide them)")
    for label, t in fc_comm.items():
        print(f"  {label:<9} {t * 1e3:7.1f} ms = {t / fc_bwd:5.1f} x the FC backward, {t / conv_bwd:5.2f} x the conv backward")

    out = Path(args.out)
    result = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "what": __doc__.split("\n")[0],
        "allreduce": ar,
        "compute": {"batch": BATCH, "step_ms": step * 1e3, "step_from": args.step,
                    "reference_step_ms": ref_step * 1e3, "reference": f"{REFERENCE.name} numba "
                    f"'alexnet(original) train step b{BATCH}'", "measured_here": measured,
                    "load_average": os.getloadavg()[0], "backward_ms": model["backward_s"] * 1e3,
                    "ready_ms": {k: v * 1e3 for k, v in model["ready_s"].items()},
                    "param_bytes": total, "fc_param_bytes": fc,
                    "buckets": [{"layers": sorted(n), "bytes": s} for n, s in buckets]},
        "model": {"allreduce": "overhead + 2(p-1)/p * bytes / bandwidth + 2(p-1) * latency",
                  "allgather": "overhead + (p-1) * (bytes_per_rank / bandwidth + latency)",
                  "network_latency_s": lat, "links": {k: {"bandwidth_bytes_per_s": v[0], "latency_s": v[1], "overhead_s": v[2]}
                                                     for k, v in links.items()},
                  "bucket_cap_mb": BUCKET_CAP_MB},
        "predictions": pred,
        "fc_allreduce_ms": {"ranks": RANKS[-1], **{k: v * 1e3 for k, v in fc_comm.items()}},
        "table": report,
        "wall_seconds": round(time.monotonic() - started, 1),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    plot(result, out.with_suffix(".png"))
    print(f"\nwrote {out.with_suffix('.json')} and {out.with_suffix('.png')}")
    return result


if __name__ == "__main__":
    main()
