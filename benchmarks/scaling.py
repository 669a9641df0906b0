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

The model (ring collectives, full-duplex links of `bandwidth` bytes/s, `latency` s a ring step,
plus the measured alpha once a collective: tinyconv's group starts it and polls for its end):
  all-reduce of n bytes over p ranks    alpha + 2(p-1)/p * n / bandwidth + 2(p-1) * latency
  all-gather / reduce-scatter, n a rank alpha + (p-1) * (n / bandwidth + latency)
Data parallel keeps the per-rank batch (weak scaling): a step is the single-process step plus the
gradient all-reduce, bucketed as DistributedDataParallel does (reverse registration order, 25 MB
caps). Without overlap every bucket is reduced after backward; with overlap a bucket starts when
its last gradient is ready (the FC layers' first), one bucket at a time on the link, hidden behind
the backward of the layers below, and only what outlasts backward adds to the step. Efficiency =
single-process step / predicted step. The paper's 2-way split runs global batch 2 x 16 with half of
every layer on each rank (compute = one single-process step of 16), plus the activation exchanges
at the figure's cross-GPU arrows (forward all-gathers, backward reduce-scatters) on the critical
path; its efficiency is defined the same way, against 2 single-process steps. The measured
shared-memory case ("shm") uses the fitted beta as the link (its fit holds the ring's steps, so
latency 0); the networks' wire latency a ring step is --latency-us (assumed, default 5 us).

    python -m benchmarks.scaling [--reps 7] [--max-mb 256] [--timeout 110] [--steps 4] [--step reference|here]
                                [--latency-us 5] [--measure-batch 16]

Writes benchmarks/results/scaling-2core.{json,png} and prints the tables.
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

RESULTS = Path(__file__).resolve().parent / "results"
REFERENCE = RESULTS / "cpu-2core-reference.json"
RANKS = (2, 4, 8, 16, 32, 64)
BANDWIDTHS_GBPS = (10, 25, 100, 400)
BATCH = 16
BUCKET_CAP_MB = 25.0
# AlexNet("original") layers in forward order: module path, and the input of each in the split
LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")
PATHS = {"conv1": "features.0", "conv2": "features.4", "conv3": "features.8", "conv4": "features.10",
         "conv5": "features.12", "fc6": "classifier.1", "fc7": "classifier.4", "fc8": "classifier.6"}


# --- the communication model ----------------------------------------------------------------
def ring_allreduce_time(nbytes, p, bandwidth, latency, overhead=0.0):
    """Seconds for a ring all-reduce of `nbytes` over `p` ranks: bandwidth in bytes/s, latency
    per ring step, overhead once per collective (starting it and noticing that it finished)."""
    _check_link(p, bandwidth, latency, overhead)
    if p == 1 or nbytes == 0:
        return 0.0
    return overhead + 2 * (p - 1) / p * nbytes / bandwidth + 2 * (p - 1) * latency


def ring_allgather_time(nbytes_per_rank, p, bandwidth, latency, overhead=0.0):
    """Seconds for a ring all-gather (or reduce-scatter) where each rank owns `nbytes_per_rank`."""
    _check_link(p, bandwidth, latency, overhead)
    if p == 1 or nbytes_per_rank == 0:
        return 0.0
    return overhead + (p - 1) * (nbytes_per_rank / bandwidth + latency)


def _check_link(p, bandwidth, latency, overhead):
    if int(p) != p or p < 1:
        raise ValueError(f"ranks must be a positive integer, got {p!r}")
    if not bandwidth > 0:
        raise ValueError(f"bandwidth must be positive bytes/s, got {bandwidth!r}")
    if not (latency >= 0 and overhead >= 0):
        raise ValueError(f"latency and overhead must be >= 0 s, got {latency!r} and {overhead!r}")


def gbps(g):
    """Bytes/s of a link of `g` gigabits per second."""
    return g * 1e9 / 8


def fit_alpha_beta(nbytes, seconds, small=64 * 2 ** 10, large=2 ** 20):
    """(alpha s, beta bytes/s) of t = alpha + n / beta, fitted per regime: alpha is the median
    time of the messages of at most `small` bytes (latency-bound), beta the least-squares slope
    of t - alpha over the messages of at least `large` bytes (bandwidth-bound: the gradient
    buckets are 15-144 MB, so the large end must be right; one fit over five decades is not)."""
    n = np.asarray(nbytes, dtype=float)
    t = np.asarray(seconds, dtype=float)
    if n.shape != t.shape or n.ndim != 1:
        raise ValueError(f"fit_alpha_beta: nbytes and seconds must be equal-length lists, got "
                         f"{n.shape} and {t.shape}")
    lo, hi = n <= small, n >= large
    if not lo.any() or not hi.any():
        raise ValueError(f"fit_alpha_beta: need messages of <= {small} and >= {large} bytes, got "
                         f"{n.astype(int).tolist()}")
    alpha = float(np.median(t[lo]))
    slope = float(np.dot(n[hi], t[hi] - alpha) / np.dot(n[hi], n[hi]))
    if not slope > 0:
        raise ValueError(f"fit_alpha_beta: the times do not grow with size ({t.tolist()})")
    return alpha, 1.0 / slope


def make_buckets(params, cap_mb=BUCKET_CAP_MB):
    """DistributedDataParallel's packing: params [(layer, nbytes)] in registration order, taken in
    reverse, cut into buckets of at most cap_mb MB (a larger tensor gets a bucket of its own).
    Returns [(layers set, nbytes)] in reduction order."""
    cap = cap_mb * 2 ** 20
    buckets, cur, size = [], [], 0
    for layer, nbytes in reversed(params):
        if cur and size + nbytes > cap:
            buckets.append((cur, size))
            cur, size = [], 0
        cur.append(layer)
        size += nbytes
    if cur:
        buckets.append((cur, size))
    return [(set(layers), size) for layers, size in buckets]


def data_parallel_step(model, p, bandwidth, latency, overlap, cap_mb=BUCKET_CAP_MB, overhead=0.0):
    """Predicted seconds of one data-parallel step at the per-rank batch of `model`.

    model: {"step_s": the single-process step, "backward_s": its backward, "ready_s": {layer:
    seconds after backward started when the layer's gradients are all ready}, "params":
    [(layer, nbytes)] in registration order}.
    """
    step, backward, ready = model["step_s"], model["backward_s"], model["ready_s"]
    if not 0 < backward <= step:
        raise ValueError(f"backward ({backward!r} s) must be positive and within the step ({step!r} s)")
    buckets = make_buckets(model["params"], cap_mb)
    comm = [ring_allreduce_time(size, p, bandwidth, latency, overhead) for _, size in buckets]
    if not overlap:
        return step + sum(comm)
    link = 0.0  # one bucket at a time on the link, each from when its last gradient is ready
    for (names, _), t in zip(buckets, comm):
        link = max(link, max(ready[n] for n in names)) + t
    return step - backward + max(backward, link)


def split_exchanges(batch, num_classes=1000):
    """(what, bytes each rank sends) of the paper's 2-way split at `batch` images, float32: the
    forward all-gathers; backward sends the same bytes back (reduce-scatter) except for the scores,
    whose gradient every rank already holds whole."""
    f = 4 * batch
    half = num_classes // 2 + num_classes % 2  # rank 0's share, the larger
    rows = [("conv1 LRN halo (4 of 48 maps, 55x55)", 4 * 55 * 55 * f, True),
            ("conv2 LRN halo (4 of 128 maps, 27x27)", 4 * 27 * 27 * f, True),
            ("conv3 input (128 x 13 x 13 a rank)", 128 * 13 * 13 * f, True),
            ("fc6 input (128 x 6 x 6 a rank)", 128 * 6 * 6 * f, True),
            ("fc7 input (2048 a rank)", 2048 * f, True),
            ("fc8 input (2048 a rank)", 2048 * f, True),
            (f"scores ({half} classes a rank)", half * f, False)]
    return [{"what": w, "bytes": int(b), "backward_too": bb} for w, b, bb in rows]


def model_split_step(model, bandwidth, latency, exchanges, overhead=0.0):
    """Predicted seconds of one step of the 2-way split at global batch 2 x per-rank batch."""
    comm = sum(ring_allgather_time(e["bytes"], 2, bandwidth, latency, overhead)
               * (2 if e["backward_too"] else 1) for e in exchanges)
    return model["step_s"] + comm


def predict(model, links, ranks=RANKS, cap_mb=BUCKET_CAP_MB, two_ranks_only=("shm",)):
    """Every prediction: links is {label: (bandwidth bytes/s, latency s a ring step, overhead s a
    collective)}; the links in two_ranks_only (this machine's shared memory) get 2 ranks alone."""
    exchanges = split_exchanges(2 * model["batch"])
    step = model["step_s"]
    out = {"data_parallel": [], "model_split": []}
    for label, (bw, lat, over) in links.items():
        for p in ((2,) if label in two_ranks_only else ranks):
            row = {"link": label, "ranks": p}
            for overlap in (False, True):
                t = data_parallel_step(model, p, bw, lat, overlap, cap_mb, over)
                key = "overlap" if overlap else "no_overlap"
                row[f"step_ms_{key}"] = 1e3 * t
                row[f"efficiency_{key}"] = step / t
            out["data_parallel"].append(row)
        t = model_split_step(model, bw, lat, exchanges, over)
        out["model_split"].append({"link": label, "ranks": 2, "step_ms": 1e3 * t,
                                   "efficiency": step / t,
                                   "exchange_ms": 1e3 * (t - step)})
    out["split_exchanges"] = exchanges
    return out


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


# --- report -------------------------------------------------------------------------------
def _table(pred):
    lines = ["data parallel, per-rank batch %d: efficiency without / with bucketing+overlap" % BATCH,
             "link      " + "".join(f"{p:>14d}" for p in RANKS)]
    links = list(dict.fromkeys(r["link"] for r in pred["data_parallel"]))
    for link in links:
        rows = [r for r in pred["data_parallel"] if r["link"] == link]
        lines.append(f"{link:<10}" + "".join(f"{r['efficiency_no_overlap']:>8.3f}/{r['efficiency_overlap']:.3f}"
                                             for r in rows))
    lines.append("step ms without / with overlap")
    for link in links:
        rows = [r for r in pred["data_parallel"] if r["link"] == link]
        lines.append(f"{link:<10}" + "".join(f"{r['step_ms_no_overlap']:>8.0f}/{r['step_ms_overlap']:<5.0f}"
                                             for r in rows))
    lines.append("paper's 2-way model split (global batch %d): step ms, exchange ms, efficiency" % (2 * BATCH))
    for r in pred["model_split"]:
        dp = next(d for d in pred["data_parallel"] if d["link"] == r["link"] and d["ranks"] == 2)
        lines.append(f"{r['link']:<10}{r['step_ms']:>9.1f}{r['exchange_ms']:>9.2f}{r['efficiency']:>8.3f}"
                     f"   (data parallel, 2 ranks: {dp['efficiency_no_overlap']:.3f} / {dp['efficiency_overlap']:.3f})")
    return "\n".join(lines)


def _plot(result, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    pred, ar = result["predictions"], result["allreduce"]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 6))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    net = [f"{g} Gb/s" for g in BANDWIDTHS_GBPS]
    for i, link in enumerate(net):
        rows = [r for r in pred["data_parallel"] if r["link"] == link]
        ps = [r["ranks"] for r in rows]
        ax.plot(ps, [r["efficiency_overlap"] for r in rows], "-o", color=colors[i],
                label=f"{link}, bucketed + overlap")
        ax.plot(ps, [r["efficiency_no_overlap"] for r in rows], "--", color=colors[i],
                label=f"{link}, after backward")
        split = next(r for r in pred["model_split"] if r["link"] == link)
        ax.plot([2], [split["efficiency"]], "*", ms=13, color=colors[i], mec="k")
    shm = [r for r in pred["data_parallel"] if r["link"] == "shm"]
    ax.plot([2], [shm[0]["efficiency_overlap"]], "s", color="k", label="measured shared memory, data parallel")
    ax.plot([2], [shm[0]["efficiency_no_overlap"]], "s", color="k", mfc="none",
            label="measured shared memory, after backward")
    shm_split = next(r for r in pred["model_split"] if r["link"] == "shm")
    ax.plot([2], [shm_split["efficiency"]], "*", ms=13, color="k", label="* = paper's 2-way split")
    ax.set_xscale("log", base=2)
    ax.set_xticks(RANKS, [str(p) for p in RANKS])
    lowest = min(min(r["efficiency_no_overlap"] for r in pred["data_parallel"]),
                 min(r["efficiency"] for r in pred["model_split"]))
    ax.set_ylim(max(0.0, lowest - 0.1), 1.02)
    ax.set_xlabel("ranks")
    ax.set_ylabel("parallel efficiency")
    ax.set_title(f"AlexNet data parallel, batch {BATCH}/rank, step {result['compute']['step_ms']:.0f} ms (numba, 2 cores)")
    handles, labels = ax.get_legend_handles_labels()
    ax.grid(alpha=0.3)
    n = np.array([r["bytes"] for r in ar["rows"]], dtype=float)
    t = np.array([r["median_s"] for r in ar["rows"]])
    bx.loglog(n, t * 1e3, "o", label="measured (median, 2 ranks)")
    alpha, beta = ar["fit"]["alpha_s"], ar["fit"]["beta_bytes_per_s"]
    grid = np.geomspace(n.min(), n.max(), 50)
    bx.loglog(grid, (alpha + grid / beta) * 1e3, "-",
              label=f"fit: {alpha * 1e6:.0f} us + n / {beta / 1e9:.2f} GB/s")
    bx.set_xlabel("message bytes (float32)")
    bx.set_ylabel("all-reduce ms")
    bx.set_title(f"all-reduce over shared memory ({ar['library']})")
    bx.legend(fontsize=8)
    bx.grid(alpha=0.3, which="both")
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.13, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
    table = _table(pred)
    print(f"\nevery collective: the measured overhead alpha {alpha * 1e6:.0f} us; networks: + "
          f"{lat * 1e6:g} us (assumed) a ring step; shm = the measured link ({beta / 1e9:.2f} GB/s), "
          "meaningful at 2 ranks only\n")
    print(table)
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
        "table": table,
        "wall_seconds": round(time.monotonic() - started, 1),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    _plot(result, out.with_suffix(".png"))
    print(f"\nwrote {out.with_suffix('.json')} and {out.with_suffix('.png')}")
    return result


if __name__ == "__main__":
    main()
