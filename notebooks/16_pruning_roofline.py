# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 16 — Pruning, and when sparsity becomes speed
#
# Most weights of a trained network are small, and many can be removed. Han et al. (2015,
# *Learning both Weights and Connections for Efficient Neural Networks*) pruned the smallest
# magnitudes and retrained the rest, in several rounds, and reported **12× fewer weights for
# LeNet-5 and 9× for AlexNet with no loss of accuracy**. That is a claim about *size*. Whether a
# pruned network is also *faster* is another question: a zero that is still stored in a dense
# matrix is multiplied like any other number, and a sparse format pays for every kept weight with
# an index and for every multiply with an irregular memory access.
#
# This chapter:
#
# 1. trains LeNet-5 and prunes it by magnitude with `tinyconv.nn.utils.prune` (PyTorch's API):
#    once without retraining, then iteratively with retraining to ≥ 90% sparsity;
# 2. stores the pruned layers in CSR (`tinyconv.sparse.to_sparse`) and checks they compute the
#    same outputs;
# 3. builds a **roofline** of this machine (peak GFLOP/s, memory bandwidth) and uses it to
#    predict at which sparsity a CSR kernel beats the dense GEMM — then compares with
#    measurements.

# %%
import copy
import json
import time
from pathlib import Path

import tinyconv as tc
import numpy as np
import matplotlib.pyplot as plt

import tinyconv.nn.utils.prune as prune
from tinyconv import data, optim
from tinyconv.models import lenet5
from tinyconv.pruning import layer_sparsity, prunable, prune_and_retrain
from tinyconv.train import evaluate, fit

t_start = time.perf_counter()
tc.manual_seed(0)
transform = data.Compose([data.Pad(2), data.Normalize(data.MNIST_MEAN, data.MNIST_STD)])
train_set, test_set = data.MNIST(train=True), data.MNIST(train=False)
train_loader = data.DataLoader(train_set, batch_size=64, shuffle=True, seed=0, transform=transform)
test_loader = data.DataLoader(test_set, batch_size=500, transform=transform)
print(f"{len(train_set)} training and {len(test_set)} held-out digits")

# %% [markdown]
# ## 1. A dense LeNet-5
#
# Eight epochs of SGD with momentum, the learning rate cut tenfold for the last two.

# %%
model = lenet5()
opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
sched = optim.lr_scheduler.StepLR(opt, step_size=6, gamma=0.1)
fit(model, opt, train_loader, test_loader, 8, scheduler=sched, log=lambda *a, **k: None)
dense_acc = evaluate(model, test_loader)["accuracy"]
n_weights = sum(m.weight.numel() for _, m in prunable(model))
print(f"dense LeNet-5: {n_weights:,} conv + linear weights, held-out accuracy {100 * dense_acc:.1f}%")

# %% [markdown]
# ## 2. Magnitude pruning, once, without retraining
#
# `prune.global_unstructured` ranks the magnitudes of all conv and linear weights together and
# zeroes the smallest fraction. The weight becomes `weight_orig * weight_mask`, recomputed by a
# forward pre-hook — exactly PyTorch's layout (its masks equal ours, see `tests/nn/test_prune.py`).

# %%
def pruned_copy(amount):
    m = copy.deepcopy(model)
    prune.global_unstructured([(l, "weight") for _, l in prunable(m)],
                              pruning_method=prune.L1Unstructured, amount=amount)
    return m


levels = [0.5, 0.8, 0.9, 0.95, 0.98]
oneshot = {s: evaluate(pruned_copy(s), test_loader)["accuracy"] for s in levels}
print("sparsity   accuracy (no retraining)")
for s, a in oneshot.items():
    print(f"{100 * s:>6.0f}%   {100 * a:6.1f}%   ({a - dense_acc:+.1%})")
m90 = pruned_copy(0.9)
print("\nper layer at 90% global:", {k: f"{100 * v:.0f}%" for k, v in layer_sparsity(m90).items()})
print("state_dict keys of the first conv:", [k for k in m90.state_dict() if k.startswith("features.0")])

# %% [markdown]
# One global threshold prunes the layers very differently (the per-layer line above): the
# large fully connected `classifier.0` loses a larger share than the small first convolution —
# the pattern Han et al. saw (fully connected layers are the most redundant). Without
# retraining, accuracy holds up to some sparsity and then falls off a cliff.
#
# ## 3. Iterative pruning with retraining
#
# Three rounds, each removing the same fraction of the weights still alive (the sparsity after
# each is in the table), each followed by two epochs of retraining (the second at a tenth of the
# learning rate). The masks
# keep pruned weights at zero while the survivors adapt. `tinyconv prune CKPT --sparsity 0.9
# --steps 3` runs the same schedule (`tinyconv.pruning.prune_and_retrain`) from the command line.

# %%
pruned = copy.deepcopy(model)
steps = prune_and_retrain(pruned, train_loader, test_loader, 0.9, 3, 2,
                          lambda ps: optim.SGD(ps, lr=0.02, momentum=0.9),
                          make_scheduler=lambda o: optim.lr_scheduler.StepLR(o, step_size=1, gamma=0.1))
rows = [("dense", 0.0, dense_acc, dense_acc)] + [
    (f"step {r['step']}", r["sparsity"], r["accuracy_pruned"], r["accuracy_retrained"]) for r in steps]
print(f"\n{'':8}{'sparsity':>9}{'pruned':>9}{'retrained':>11}")
for name, s, a, b in rows:
    print(f"{name:8}{100 * s:>8.1f}%{100 * a:>8.1f}%{100 * b:>10.1f}%")
final = steps[-1]
kept = round((1 - final["sparsity"]) * n_weights)
print(f"\n{n_weights / kept:.1f}x fewer weights; accuracy {100 * dense_acc:.1f}% -> "
      f"{100 * final['accuracy_retrained']:.1f}% ({100 * (final['accuracy_retrained'] - dense_acc):+.1f} points)")
print(f"one-shot 90% without retraining: {100 * oneshot[0.9]:.1f}%")
se = np.sqrt(dense_acc * (1 - dense_acc) / len(test_set))
print(f"standard error of an accuracy near {100 * dense_acc:.1f}% on {len(test_set)} digits: "
      f"{100 * se:.2f} points; the change after pruning is {(final['accuracy_retrained'] - dense_acc) / se:+.1f} of them")

# %% [markdown]
# On 1,000 test digits one error is 0.1 point, and the binomial standard error (printed above)
# is about half a point, so a change of a few tenths cannot be told from noise. What the table
# shows beyond noise is the order of magnitude: a tenth of LeNet-5's weights does nearly all the
# work of all of them, while the same sparsity in one shot, without retraining, costs more. Han et al. report 12× for LeNet-5 (431K → 36K weights in their larger Caffe variant)
# and 9× for AlexNet (61M → 6.7M); the factor printed above is of the same order.
#
# ## 4. Storing the zeros away: CSR
#
# `prune.remove` makes the pruning permanent; `tinyconv.sparse.to_sparse` then swaps every conv
# and linear layer for a `SparseConv2d` / `SparseLinear` holding its weight in compressed sparse
# row form: per kept weight a value (4 bytes) and a column index (4 bytes), per output row a
# pointer (8 bytes).

# %%
sparse_model = tc.sparse.to_sparse(pruned)
x, _ = next(iter(test_loader))
with tc.no_grad():
    diff = np.abs(sparse_model(x).numpy() - pruned.eval()(x).numpy()).max()
print(f"largest difference between CSR and dense logits on {len(x)} digits: {diff:.2e}")
layers = [m for m in sparse_model.modules() if isinstance(m, (tc.sparse.SparseConv2d, tc.sparse.SparseLinear))]
dense_bytes = 4 * n_weights
csr_bytes = sum(m.weight.nbytes for m in layers)
print(f"weights: dense {dense_bytes / 1024:.0f} KiB, CSR {csr_bytes / 1024:.0f} KiB "
      f"({dense_bytes / csr_bytes:.1f}x smaller, not {n_weights / kept:.0f}x: every kept weight carries an index)")

# %% [markdown]
# ## 5. A roofline for this machine
#
# A kernel is limited either by arithmetic or by memory traffic. With a compute roof $P$
# (GFLOP/s) and a bandwidth $B$ (GB/s), a kernel doing $F$ flops over $Q$ bytes takes at least
# $$ t \ge \max\left(\frac{F}{P},\ \frac{Q}{B}\right). $$
# Dense GEMM on LeNet/AlexNet layers sits near the compute roof: every weight is reused for many
# columns. A CSR product does $F = 2\,\mathrm{nnz}\cdot N$ useful flops and reads
# $Q \approx 8\,\mathrm{nnz}$ bytes of weight plus the activations — but its inner loop (a
# scaled row added into an output row, driven by an index) cannot run at GEMM's peak, so its
# own compute roof is lower, and depends on how long those inner loops are (the batch for a
# linear layer, an output row for a convolution). `benchmarks/roofline.py` measures the roofs
# (an sgemm probe, a STREAM-style triad, and per layer the CSR kernel on a cache-resident
# problem of that layer's geometry), times dense and CSR
# forward passes of LeNet-5- and AlexNet-sized layers at 50–98% sparsity, and predicts each CSR
# time from the model. The figures below are **read from its committed output**
# (`benchmarks/results/roofline-2core.json`, measured on the 2-core machine that runs CI).

# %%
root = Path.cwd() if (Path.cwd() / "benchmarks").exists() else Path.cwd().parent
result = json.loads((root / "benchmarks" / "results" / "roofline-2core.json").read_text())
P, B = result["peak_flops"], result["bandwidth"]
print(f"committed measurement: sgemm peak {P / 1e9:.0f} GFLOP/s, triad bandwidth {B / 1e9:.1f} GB/s "
      f"(ridge at {P / B:.1f} flop/byte)")
names = list(dict.fromkeys(r["layer"] for r in result["rows"]))
for name in names:
    r = next(r for r in result["rows"] if r["layer"] == name)
    fixed = f", fixed cost of a call {1e3 * r['overhead_s']:.3f} ms" if "overhead_s" in r else ""
    print(f"  CSR kernel roof, {name}: {r['csr_peak_flops'] / 1e9:.1f} GFLOP/s{fixed}")
print(f"\n{'layer':<22}{'sparsity':>9}{'dense ms':>10}{'CSR ms':>9}{'model ms':>10}{'speed-up':>10}{'predicted':>10}")
for r in result["rows"]:
    print(f"{r['layer']:<22}{100 * r['sparsity']:>8.0f}%{1e3 * r['dense_s']:>10.2f}{1e3 * r['sparse_s']:>9.2f}"
          f"{1e3 * r['predicted_sparse_s']:>10.2f}{r['measured_speedup']:>9.2f}x{r['predicted_speedup']:>9.2f}x")
print(f"\nmeasured speed-up on the side of 1 that the model predicts: {result['agree']} of {result['cases']} cases")

# %% [markdown]
# A live check on this machine, now: one AlexNet-fc7-sized layer (4096 × 4096, batch 16) at 90%
# and 98% sparsity, dense GEMM kernel vs CSR kernel, best of a few calls. The CSR roof for a
# batch of 16 is measured first on a small cache-resident matrix, as the benchmark does.

# %%
from tinyconv.kernels.cpu import linear as dense_k, sparse as sparse_k  # noqa: E402


def best(fn, n=5):
    fn()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts)


rng = np.random.default_rng(0)
xb = rng.standard_normal((16, 4096), dtype=np.float32)
small = rng.standard_normal((64, 512), dtype=np.float32) * (rng.random((64, 512)) < 0.5)
small_csr = tc.sparse.CSRMatrix.from_dense(small)
Pc = 2 * small_csr.nnz * 16 / best(lambda: sparse_k.sparse_linear_forward(
    xb[:, :512].copy(), small_csr.indptr, small_csr.indices, small_csr.values, None), n=20)
empty = tc.sparse.CSRMatrix(np.zeros(4097, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32), (4096, 4096))
t0 = best(lambda: sparse_k.sparse_linear_forward(xb, empty.indptr, empty.indices, empty.values, None))
w = rng.standard_normal((4096, 4096), dtype=np.float32)
t_dense = best(lambda: dense_k.linear_forward(xb, w, None))
print(f"live CSR roof at batch 16: {Pc / 1e9:.1f} GFLOP/s, fixed cost of a call {1e3 * t0:.3f} ms; "
      f"dense 4096x4096 layer {1e3 * t_dense:.2f} ms")
live = []
for s in (0.9, 0.98):
    ws = w * (np.abs(w) > np.quantile(np.abs(w), s))
    csr = tc.sparse.CSRMatrix.from_dense(ws)
    t_csr = best(lambda: sparse_k.sparse_linear_forward(xb, csr.indptr, csr.indices, csr.values, None))
    flops, nbytes = 2 * csr.nnz * 16, 8 * csr.nnz + 8 * 4097 + 4 * 16 * (4096 + 4096)
    pred = t0 + max(flops / Pc, nbytes / B)
    live.append((s, flops, nbytes, t_csr))
    print(f"{100 * s:.0f}%: CSR {1e3 * t_csr:.2f} ms (model {1e3 * pred:.2f} ms): "
          f"speed-up {t_dense / t_csr:.1f}x, predicted {t_dense / pred:.1f}x")

# %%
import sys  # noqa: E402
sys.path.insert(0, str(root))  # the benchmark's own drawing, from the checkout
from benchmarks.roofline import draw  # noqa: E402

fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.6))
draw(result, a, b)
a.scatter([f / q for _, f, q, _ in live], [f / t / 1e9 for _, f, _, t in live], marker="*", s=150,
          color="k", label="fc7 CSR, live run")
a.legend(fontsize=7, loc="lower right")
fig.tight_layout()
plt.show()

# %%
sparse_ai = [r["sparse_flops"] / r["sparse_bytes"] for r in result["rows"]]
dense_ai = {r["layer"]: r["dense_flops"] / r["dense_bytes"] for r in result["rows"]}
left = sum(a < dense_ai[r["layer"]] for a, r in zip(sparse_ai, result["rows"]))
roofs = [r["csr_peak_flops"] for r in result["rows"]]
print(f"CSR points left of their layer's dense point: {left} of {len(sparse_ai)}")
print(f"CSR kernel roofs: {min(roofs) / 1e9:.1f}-{max(roofs) / 1e9:.1f} GFLOP/s, "
      f"{100 * max(roofs) / P:.0f}% of the sgemm peak at most")

# %% [markdown]
# How to read it. Sparsity removes flops, not the activations that must still be read and
# written, so the CSR points sit *left* of the dense ones (lower arithmetic intensity), and the
# CSR kernel's own roof — an indexed axpy per stored weight, loading and storing its output row
# every time — lies far below GEMM's. A CSR layer is therefore faster only once the work it
# removes outweighs the efficiency it loses: the model's break-even is where
# $t_0 + \max(2\,\mathrm{nnz}N/P_c,\ Q/B)$ (with $t_0$ the fixed cost of a call) falls below the
# dense time. The right panel tests the model: where the predicted speed-up (x) is above 1 the
# measured one (o) should be too, and below where it is below; the count above says how often
# that held in the committed run. Timings taken while other jobs share the two cores scatter
# widely, so the live numbers printed here may disagree with the committed ones.
#
# **Han et al.'s 12× and 9× are compression factors**: they count weights, not seconds. Turning
# them into time needs either a sparsity high enough to clear the roofline's break-even, a
# structured sparsity (whole channels, `prune.ln_structured`) that keeps dense GEMMs, or hardware
# built for irregular access.

# %%
print(f"notebook ran in {time.perf_counter() - t_start:.0f} s")
