"""A roofline for this machine and where tinyconv's sparse (CSR) kernels sit on it.

    python -m benchmarks.roofline            # ~1 minute on 2 cores; writes results/roofline-<n>core.*

Measures
  - peak compute: a float32 GEMM through NumPy's BLAS (4096^2 x 2048, default threads),
  - memory bandwidth: a STREAM-style triad a = b + s*c over arrays far larger than the caches
    (Numba prange, 3 x 4 bytes counted per element, as STREAM does),
  - the CSR kernel's own compute roof, per layer: the same kernel on a cache-resident problem of
    the layer's geometry (its axpy inner loops, as long as the batch for linear and an output
    row for conv, cannot reach GEMM's peak: every multiply-add also loads and stores the output),
then times dense (tinyconv's numba GEMM kernels) and sparse (kernels/cpu/sparse.py) forward
passes of LeNet-5- and AlexNet-sized linear and conv layers at 50/80/90/95/98% sparsity.

The model: a kernel takes max(flops / compute roof, bytes / bandwidth), plus, for CSR, the
fixed cost of a call with no stored weight (measured on the layer's input). For CSR,
flops = 2 * nnz * columns and bytes = nnz * (4 value + 4 index) + 8 * (rows + 1) plus the
activations it reads and writes (the direct sparse conv builds no im2col columns); the dense
kernels get 2 * M * K * columns flops at the GEMM peak and M * K * 4 weight bytes. Predicted
speed-up = measured dense time / predicted sparse time; the table says whether the measured
speed-up lies on the same side of 1 (the roof where sparsity starts to pay) as the prediction.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
from numba import njit, prange

from tinyconv.kernels.cpu import conv as dense_conv
from tinyconv.kernels.cpu import linear as dense_linear
from tinyconv.kernels.cpu import sparse
from tinyconv.sparse import CSRMatrix

SPARSITIES = (0.5, 0.8, 0.9, 0.95, 0.98)
RESULTS = Path(__file__).resolve().parent / "results"

# name, kind, weight shape, input shape, conv (stride, padding, groups)
LAYERS = [
    ("LeNet-5 conv2 (b256)", "conv", (16, 6, 5, 5), (256, 6, 14, 14), ((1, 1), (0, 0), 1)),
    ("LeNet-5 fc1 (b256)", "linear", (120, 400), (256, 400), None),
    ("AlexNet conv2 (b2)", "conv", (256, 48, 5, 5), (2, 96, 27, 27), ((1, 1), (2, 2), 2)),
    ("AlexNet fc6 (b16)", "linear", (4096, 9216), (16, 9216), None),
]


def best_time(fn, budget=0.25, least=3, most=50):
    """Smallest wall time of repeated calls (after one warm-up): at least `least` calls, more
    while the total stays under `budget` seconds."""
    fn()
    times, start = [], time.perf_counter()
    while len(times) < most and (len(times) < least or time.perf_counter() - start < budget):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


@njit(parallel=True, cache=True)
def _triad(a, b, c, s):
    for i in prange(a.shape[0]):
        a[i] = b[i] + s * c[i]


def probe_peak():
    a = np.random.default_rng(0).standard_normal((4096, 4096), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((4096, 2048), dtype=np.float32)
    t = best_time(lambda: a @ b, budget=1.0, least=3, most=5)
    return 2 * 4096 * 4096 * 2048 / t


def probe_bandwidth(n=16 * 2**20):
    b, c = np.ones(n, np.float32), np.full(n, 2.0, np.float32)
    a = np.empty_like(b)
    t = best_time(lambda: _triad(a, b, c, np.float32(3.0)), budget=1.0, least=5, most=20)
    return 3 * 4 * n / t


def _csr_call(kind, csr, x, b, wshape, conv):
    if kind == "linear":
        return lambda: sparse.sparse_linear_forward(x, csr.indptr, csr.indices, csr.values, b)
    return lambda: sparse.sparse_conv2d_forward(x, csr.indptr, csr.indices, csr.values, b,
                                                wshape[2:], conv[0], conv[1], (1, 1))


def probe_csr_compute(kind, wshape, xshape, conv):
    """GFLOP/s of the CSR kernel where nothing has to come from memory but the layer's own
    activations: the layer's geometry and input working set (its inner loops as long as the
    batch for linear and an output row for conv), only a few output rows at half density."""
    rng = np.random.default_rng(2)
    if kind == "linear":
        w = rng.standard_normal((64, wshape[1])).astype(np.float32)
        x = rng.standard_normal(xshape).astype(np.float32)
    else:  # one group's input channels: what a work item of the real layer reads
        w = rng.standard_normal((8,) + tuple(wshape[1:])).astype(np.float32)
        x = rng.standard_normal((xshape[0], wshape[1]) + tuple(xshape[2:])).astype(np.float32)
    w[rng.random(w.shape) < 0.5] = 0
    csr = CSRMatrix.from_dense(w.reshape(w.shape[0], -1))
    small = (w.shape, x.shape, conv if conv is None else (conv[0], conv[1], 1))
    _, _, flops, _, _ = layer_model(kind, *small, nnz=csr.nnz)
    t = best_time(_csr_call(kind, csr, x, None, wshape, conv), budget=0.2)
    fixed = probe_overhead(kind, w.shape, x.shape, None if conv is None else (conv[0], conv[1], 1), x, None)
    return flops / max(t - fixed, 1e-9)  # the weights' work alone: the fixed cost is modelled apart


def probe_overhead(kind, wshape, xshape, conv, x, b):
    """Seconds of a CSR call on the layer's real input with no stored weight at all: the fixed
    cost (transposes, padding, filling the output with the bias, starting the threads) that a
    roofline of the weights' work leaves out and a small layer cannot hide."""
    rows = wshape[0]
    cols = int(np.prod(wshape[1:])) * (1 if conv is None else conv[2])
    empty = CSRMatrix(np.zeros(rows + 1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32),
                      (rows, cols))
    return best_time(_csr_call(kind, empty, x, b, wshape, conv), budget=0.1)


def prune_magnitude(w, s, rng):
    """`w` with the fraction `s` of smallest magnitudes set to 0 (what global pruning leaves)."""
    flat = np.abs(w).ravel()
    k = int(round(s * flat.size))
    out = w.copy()
    out.reshape(-1)[np.argpartition(flat, k)[:k]] = 0
    return out


def layer_model(kind, wshape, xshape, conv, nnz):
    """(dense flops, dense bytes, sparse flops, sparse bytes, columns) of one forward pass."""
    f = 4
    if kind == "linear":
        m, k = wshape
        cols = xshape[0]
        act = (xshape[0] * k + xshape[0] * m) * f
        return 2 * m * k * cols, m * k * f + act, 2 * nnz * cols, nnz * 8 + (m + 1) * 8 + act, cols
    (stride, padding, groups) = conv
    o, cg, kh, kw = wshape
    n, c, h, wd = xshape
    oh = (h + 2 * padding[0] - kh) // stride[0] + 1
    ow = (wd + 2 * padding[1] - kw) // stride[1] + 1
    cols = n * oh * ow
    io = (n * c * h * wd + n * o * oh * ow) * f     # input read, output written
    dense_flops = 2 * o * cg * kh * kw * cols
    return dense_flops, o * cg * kh * kw * f + io, 2 * nnz * cols, nnz * 8 + (o + 1) * 8 + io, cols


def measure_layer(name, kind, wshape, xshape, conv, peak, bw, rng):
    w = (rng.standard_normal(wshape) / np.sqrt(np.prod(wshape[1:]))).astype(np.float32)
    x = rng.standard_normal(xshape).astype(np.float32)
    b = rng.standard_normal(wshape[0]).astype(np.float32)
    if kind == "linear":
        dense_fn = lambda: dense_linear.linear_forward(x, w, b)  # noqa: E731
    else:
        stride, padding, groups = conv
        dense_fn = lambda: dense_conv.conv2d_forward(x, w, b, stride, padding, (1, 1), groups, "im2col")  # noqa: E731
    t_dense = best_time(dense_fn)
    csr_peak = probe_csr_compute(kind, wshape, xshape, conv)
    t0 = probe_overhead(kind, wshape, xshape, conv, x, b)
    df, dbytes, _, _, _ = layer_model(kind, wshape, xshape, conv, 0)
    rows = []
    for s in SPARSITIES:
        ws = prune_magnitude(w, s, rng)
        csr = CSRMatrix.from_dense(ws.reshape(wshape[0], -1), groups=1 if conv is None else conv[2])
        t_sparse = best_time(_csr_call(kind, csr, x, b, wshape, conv))
        _, _, sf, sbytes, _ = layer_model(kind, wshape, xshape, conv, csr.nnz)
        t_pred = t0 + max(sf / csr_peak, sbytes / bw)
        rows.append({"layer": name, "sparsity": s, "nnz": csr.nnz, "dense_s": t_dense,
                     "dense_flops": df, "dense_bytes": dbytes, "sparse_s": t_sparse,
                     "sparse_flops": sf, "sparse_bytes": sbytes, "predicted_sparse_s": t_pred,
                     "bound": "compute" if sf / csr_peak >= sbytes / bw else "memory",
                     "predicted_speedup": t_dense / t_pred, "measured_speedup": t_dense / t_sparse,
                     "dense_predicted_s": max(df / peak, dbytes / bw), "csr_peak_flops": csr_peak,
                     "overhead_s": t0})
        rows[-1]["agree"] = (rows[-1]["predicted_speedup"] > 1) == (rows[-1]["measured_speedup"] > 1)
    return rows


def draw(result, a, b):
    """The roofline (a) and measured vs predicted speed-ups (b) of a result, on given axes."""
    import matplotlib.pyplot as plt
    peak, bw = result["peak_flops"], result["bandwidth"]
    ai = np.logspace(-2, 3, 200)
    a.loglog(ai, np.minimum(peak, ai * bw) / 1e9, "k-", label=f"GEMM roof ({peak / 1e9:.0f} GFLOP/s, {bw / 1e9:.1f} GB/s)")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, layer in enumerate(dict.fromkeys(r["layer"] for r in result["rows"])):
        rs = [r for r in result["rows"] if r["layer"] == layer]
        d = rs[0]
        a.loglog(ai, np.minimum(d["csr_peak_flops"], ai * bw) / 1e9, "--", color=colors[i], lw=0.8)
        a.scatter(d["dense_flops"] / d["dense_bytes"], d["dense_flops"] / d["dense_s"] / 1e9,
                  marker="s", color=colors[i], edgecolor="k")
        a.scatter([r["sparse_flops"] / r["sparse_bytes"] for r in rs],
                  [r["sparse_flops"] / r["sparse_s"] / 1e9 for r in rs], color=colors[i], label=layer)
        sp = [100 * r["sparsity"] for r in rs]
        b.semilogy(sp, [r["measured_speedup"] for r in rs], "o-", color=colors[i], label=f"{layer} measured")
        b.semilogy(sp, [r["predicted_speedup"] for r in rs], "x:", color=colors[i])
    a.set(xlabel="arithmetic intensity (flop / byte)", ylabel="GFLOP/s (useful flops)",
          title="roofline: squares dense, dots CSR 50-98%; dashed: CSR roofs")
    a.legend(fontsize=7, loc="lower right")
    b.axhline(1, color="k", lw=0.8)
    b.set(xlabel="sparsity (%)", ylabel="speed-up of CSR over dense", title="measured (o) vs predicted (x)")
    b.legend(fontsize=7)


def plot(result, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.6))
    draw(result, a, b)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(RESULTS / f"roofline-{os.cpu_count()}core"),
                   help="path prefix of the .json and .png written")
    args = p.parse_args(argv)
    start = time.perf_counter()
    peak, bw = probe_peak(), probe_bandwidth()
    rng = np.random.default_rng(0)
    rows = []
    for layer in LAYERS:
        rows += measure_layer(*layer, peak, bw, rng)
    result = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
              "peak_flops": peak, "bandwidth": bw,
              "ridge_intensity": peak / bw, "rows": rows,
              "agree": sum(r["agree"] for r in rows), "cases": len(rows),
              "seconds": time.perf_counter() - start}
    print(f"peak {peak / 1e9:.1f} GFLOP/s (sgemm), triad bandwidth {bw / 1e9:.1f} GB/s, ridge at "
          f"{peak / bw:.1f} flop/byte")
    for layer in dict.fromkeys(r["layer"] for r in rows):
        r = next(r for r in rows if r["layer"] == layer)
        print(f"  {layer}: CSR kernel roof (its geometry, in cache) {r['csr_peak_flops'] / 1e9:.1f} GFLOP/s, "
              f"fixed cost of a call {1e3 * r['overhead_s']:.3f} ms")
    print(f"{'layer':<22}{'sparsity':>9}{'dense ms':>10}{'CSR ms':>9}{'model ms':>10}{'bound':>8}"
          f"{'speed-up':>10}{'predicted':>10}{'agree':>7}")
    for r in rows:
        print(f"{r['layer']:<22}{100 * r['sparsity']:>8.0f}%{1e3 * r['dense_s']:>10.3f}"
              f"{1e3 * r['sparse_s']:>9.3f}{1e3 * r['predicted_sparse_s']:>10.3f}{r['bound']:>8}"
              f"{r['measured_speedup']:>9.2f}x{r['predicted_speedup']:>9.2f}x{'yes' if r['agree'] else 'NO':>7}")
    print(f"measured speed-up on the predicted side of 1 in {result['agree']}/{result['cases']} cases "
          f"({result['seconds']:.0f} s)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2))
    plot(result, out.with_suffix(".png"))
    print(f"wrote {out}.json, {out}.png")
    return result


if __name__ == "__main__":
    main()
