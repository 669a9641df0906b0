"""The communication model behind `python -m benchmarks.scaling`: predictions, table and chart.

Pure functions of the numbers scaling.py measures (no MPI, no timing here), so tests drive them
with synthetic inputs too.

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
"""
from __future__ import annotations

import numpy as np

RANKS = (2, 4, 8, 16, 32, 64)
BANDWIDTHS_GBPS = (10, 25, 100, 400)
BATCH = 16
BUCKET_CAP_MB = 25.0


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


# --- table and chart -------------------------------------------------------------------------------
def table(pred):
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


def plot(result, path):
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
