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
# # Chapter 17 — Eight bits, or four: quantizing LeNet-5
#
# A trained network stores every weight and computes every activation as a 32-bit float. To
# run it on a phone, a car's controller or a sensor, one shrinks it, and the most direct way is
# **quantization**: keep each number as an 8-bit — or even 4-bit — integer plus a shared scale.
# The model becomes 4 to 8 times smaller, a memory bus moves 4 to 8 times more values per
# second, and integer multiply-adds are cheaper in silicon and in energy than float ones.
#
# The price is an approximation. Each rounded number is off by up to half a step, and those
# errors behave much like a small **noise added to the signal**. Follow that noise through the
# network layer by layer and one can *predict* how much of the output it spoils, before running
# the quantized model at all — and then decide, with numbers, between size, speed and accuracy.
#
# This chapter builds all of it with tinyconv:
#
# 1. affine quantization and its integer representation (the same bits as PyTorch);
# 2. post-training static quantization of LeNet-5: observers calibrate activation ranges on a
#    few hundred images, weights get one scale per output channel;
# 3. an **integer-only** forward pass (int8 × int8 → int32 kernels, requantization by an integer
#    multiplier and a shift), checked bit for bit against a float reference;
# 4. fp32 vs int8 vs int4 weights: size, speed, accuracy;
# 5. the additive-noise model's predicted SNR per layer next to the measured one.

# %%
import time

import tinyconv as tc
import numpy as np
import matplotlib.pyplot as plt

import tinyconv.nn.functional as F
from tinyconv import data, models, optim, quantization as Q

t_start = time.perf_counter()

# %% [markdown]
# ## 1. A real number as an integer
#
# Affine quantization stores $x$ as an integer $q$ with a **scale** $s > 0$ and a **zero point**
# $z$ (an integer):
#
# $$ q = \mathrm{clamp}\bigl(\mathrm{round}(z + x / s),\ q_{\min},\ q_{\max}\bigr), \qquad \hat x = (q - z)\, s . $$
#
# `qint8` has $[q_{\min}, q_{\max}] = [-128, 127]$, `quint8` $[0, 255]$. Inside the range the
# error $\hat x - x$ is at most $s/2$; outside it the value is clipped. Rounding is half to
# even, and — a detail one only finds by comparing bits with PyTorch — the zero point is added
# *before* rounding and $x/s$ is computed as $x \cdot (1/s)$ in float32.

# %%
x = np.array([-1.0, -0.26, 0.0, 0.125, 0.3, 0.375, 2.0], np.float32)
q = tc.quantize_per_tensor(x, scale=0.25, zero_point=1, dtype=tc.qint8)
print("x          ", x)
print("int_repr   ", q.int_repr().numpy())
print("dequantize ", q.dequantize().numpy())
print("error      ", q.dequantize().numpy() - x, f"(at most s/2 = {q.q_scale() / 2})")

# %% [markdown]
# 0.125 is exactly half a step: $z + x/s = 1.5$ rounds to the even 2. Per-channel
# quantization gives every slice along an axis its own scale — for a weight tensor, one per
# output channel, so a channel of small weights is not rounded on the grid of the largest:

# %%
w = np.array([[0.02, -0.01, 0.015], [1.5, -2.0, 0.7]], np.float32)
qw = tc.quantize_per_channel(w, scales=np.abs(w).max(1) / 127, zero_points=np.zeros(2, np.int64),
                             axis=0, dtype=tc.qint8)
qt = tc.quantize_per_tensor(w, scale=float(np.abs(w).max() / 127), zero_point=0, dtype=tc.qint8)
print("per channel:", qw.int_repr().numpy().tolist(), " max error row 0:",
      np.abs(qw.dequantize().numpy() - w)[0].max())
print("per tensor: ", qt.int_repr().numpy().tolist(), " max error row 0:",
      np.abs(qt.dequantize().numpy() - w)[0].max())

# %% [markdown]
# ## 2. A LeNet-5 to quantize
#
# Three epochs on the 4,000 real MNIST training digits; the 1,000 test digits are held out.

# %%
transform = data.Compose([data.Pad(2), data.Normalize(data.MNIST_MEAN, data.MNIST_STD)])
train_set, test_set = data.MNIST(train=True), data.MNIST(train=False)
tc.manual_seed(0)
model = models.lenet5()
opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
loader = data.DataLoader(train_set, batch_size=64, shuffle=True, seed=0, transform=transform)
t0 = time.perf_counter()
for epoch in range(3):
    for xb, yb in loader:
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
model.eval()
print(f"trained in {time.perf_counter() - t0:.1f} s")

x_test, y_test = (a.numpy() for a in next(iter(data.DataLoader(test_set, batch_size=1000, transform=transform))))
x_cal = next(iter(data.DataLoader(train_set, batch_size=512, shuffle=True, seed=1, transform=transform)))[0].numpy()


def fp32_logits(x):
    with tc.no_grad():
        return model(tc.tensor(x)).numpy()


acc_fp32 = float((fp32_logits(x_test).argmax(1) == y_test).mean())
print(f"fp32 test accuracy {100 * acc_fp32:.2f}%")

# %% [markdown]
# ## 3. Calibration: where do the activations live?
#
# Weights are known after training, activations only when data flows. **Static** quantization
# fixes every activation's scale and zero point in advance: run a few hundred *calibration*
# images through the float network and let an **observer** at every layer output watch the
# values.
#
# - `MinMaxObserver` keeps the smallest and largest value seen: nothing is ever clipped on the
#   calibration set, but one outlier stretches the grid for everybody.
# - `PercentileObserver` keeps a histogram and takes the range between the 0.01-th and the
#   99.99-th percentile: a few values are clipped, the step is finer for the rest.
#
# After a ReLU the range starts at 0, so the zero point lands on $-128$ and the ReLU itself
# becomes the lower bound of a clamp.

# %%
q8 = Q.quantize_static(model, x_cal, observer="minmax")
q8p = Q.quantize_static(model, x_cal, observer="percentile")
names = ["conv1+relu", "pool1", "conv2+relu", "pool2", "flatten", "fc1+relu", "fc2+relu", "fc3"]
print(f"input: scale {q8.input_scale:.5f}, zero point {q8.input_zero_point}")
print(f"{'layer':<12}{'minmax range':>22}{'percentile range':>24}{'zero point':>12}")
for name, a, b in zip(names, q8.layers, q8p.layers):
    if "out_scale" in a:
        lo = lambda L: (-128 - L["out_zero_point"]) * L["out_scale"]
        hi = lambda L: (127 - L["out_zero_point"]) * L["out_scale"]
        print(f"{name:<12}{f'[{lo(a):.2f}, {hi(a):.2f}]':>22}{f'[{lo(b):.2f}, {hi(b):.2f}]':>24}{a['out_zero_point']:>12}")

# %% [markdown]
# ## 4. Integer-only inference
#
# Write a layer's input as $(q_x - z_x)s_x$ and its weights as $q_w s_w[o]$ (symmetric: zero
# point 0, range $[-127, 127]$, one scale per output channel). Then
#
# $$ y[o] = s_x s_w[o] \underbrace{\Bigl(b_q[o] + \sum_k (q_x - z_x)\, q_w[o,k]\Bigr)}_{\text{int32 accumulator}},
#    \qquad b_q[o] = \mathrm{round}\!\left(\frac{b[o]}{s_x s_w[o]}\right). $$
#
# The sum is pure integer arithmetic — int8 × int8 products into an int32 accumulator
# (`kernels/*/quantized.py`). To become the next layer's int8 input it must be multiplied by
# $M[o] = s_x s_w[o] / s_y$, a real number. Integer hardware writes it as $M = M_0 \cdot 2^{-n}$
# with an integer $M_0 \in [2^{30}, 2^{31})$ and applies it as a 64-bit multiply and a rounding
# right shift (TFLite's single-rounding form):
#
# $$ q_y = \mathrm{clamp}\bigl(z_y + ((\mathrm{acc}\cdot M_0 + 2^{n-1}) \gg n),\ z_y \text{ (ReLU) or } -128,\ 127\bigr). $$
#
# Max-pooling works directly on the integers (a max commutes with $q \mapsto (q-z)s$). The last
# layer's accumulator times $s_x s_w$ is the logits.

# %%
L = q8.layers[0]
m_real = L["in_scale"] * L["weight_scale"] / L["out_scale"]
for o in range(2):
    print(f"conv1 channel {o}: M = {m_real[o]:.10f} = {L['multiplier'][o]} * 2^-{L['shift'][o]} "
          f"= {L['multiplier'][o] * 2.0 ** -L['shift'][o]:.10f}")

t0 = time.perf_counter()
logits8 = q8(x_test).numpy()
t_int = time.perf_counter() - t0
reference = q8.reference_forward(x_test).numpy()
print(f"integer path on {len(x_test)} images: {t_int:.2f} s (first call compiles the Numba kernels)")
print("integer logits == fake-quant float reference, bit for bit:", np.array_equal(logits8, reference))
assert np.array_equal(logits8, reference)

# %% [markdown]
# The reference runs tinyconv's ordinary float64 `conv2d`, `linear` and `max_pool2d` on the
# integer values: every product and partial sum is an integer far below $2^{53}$, so float64
# gets them exactly, whatever order BLAS sums in; its requantization is
# $\lfloor \mathrm{acc} \cdot M + \tfrac12 \rfloor$ with $M = M_0 2^{-n}$, also exact. Equality
# checks the integer kernels — zero points, padding, bias, shifts, rounding — against an
# independent implementation.
#
# ## 5. fp32 vs int8 vs int4
#
# For 4-bit weights the same recipe uses the range $[-7, 7]$; the values sit in int8 containers
# for the arithmetic and are packed two per byte for storage. Activations stay int8.

# %%
q4 = Q.quantize_static(model, x_cal, observer="minmax", weight_bits=4)
fp32_bytes = sum(p.numpy().nbytes for p in model.parameters())
batch = x_test[:256]


def per_batch(run, repeats=3):
    run(batch)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run(batch)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


table = []
for label, nbytes, run in [("fp32", fp32_bytes, fp32_logits),
                           ("int8 (minmax)", q8.nbytes(), lambda x: q8(x).numpy()),
                           ("int8 (percentile)", q8p.nbytes(), lambda x: q8p(x).numpy()),
                           ("int4 weights, int8 act.", q4.nbytes(), lambda x: q4(x).numpy())]:
    acc = float((run(x_test).argmax(1) == y_test).mean())
    table.append((label, nbytes, acc, per_batch(run)))
print(f"{'model':<25}{'bytes':>9}{'smaller':>9}{'accuracy':>10}{'change':>9}{'ms / 256 images':>17}")
for label, nbytes, acc, sec in table:
    print(f"{label:<25}{nbytes:>9,}{fp32_bytes / nbytes:>8.1f}x{100 * acc:>9.2f}%"
          f"{100 * (acc - acc_fp32):>+8.2f}{1000 * sec:>17.1f}")
acc_int8 = table[1][2]
print(f"int8 (minmax) loses {100 * (acc_fp32 - acc_int8):.2f} points (the goal: at most 0.5)")

# %% [markdown]
# The size column is what the integer model needs: int8 (or packed int4) weights, int32
# biases, and per layer a handful of scales, zero points, multipliers and shifts.
#
# The time column needs care. On this CPU the float path is a few highly tuned float32 GEMMs
# (OpenBLAS, wide vector registers); the integer kernels are plain Numba loops that multiply
# int32 lanes and requantize with a 64-bit multiply per value. They do not use the instructions
# that make int8 arithmetic cheap (AVX-512 VNNI's four-way int8 dot products, ARM's `sdot`, a DSP
# or an NPU), so on a CPU like this one int8 is not expected to be much faster than fp32, and
# the measured ratio (printed below, on a machine that may be busy) says where this run landed.
# What quantization buys on any hardware is memory: weights and activations are 4× smaller in
# int8 — the column that matters when a model must fit in a microcontroller's flash, or its
# working set in a cache.

# %%
ratio = table[1][3] / table[0][3]
print(f"int8 / fp32 time per batch of 256: {ratio:.2f} "
      f"({'int8 faster' if ratio < 1 else 'fp32 faster'} in this run)")

# %% [markdown]
# ## 6. Quantization noise, predicted layer by layer
#
# Rounding to a grid of step $\Delta$ leaves an error that, when the values spread over many
# steps, behaves like noise uniform on $[-\Delta/2, \Delta/2]$: mean 0, variance $\Delta^2/12$,
# independent of everything else. The quantized LeNet-5 is then the float one plus noise
# sources, and the noise is followed as it flows:
#
# - input rounding adds $s_{in}^2/12$ per pixel;
# - a conv/linear layer maps the incoming noise through its weights: independent errors add in
#   variance, $\sigma^2_{out}[o] = \sum_k w[o,k]^2\, \sigma^2_{in}[k]$;
# - its own weight rounding adds $\frac{\Delta_w[o]^2}{12}\sum_k E[x_k^2]$;
# - a ReLU lets through only the noise of active units (fraction $p[o]$), and rounding its output
#   adds $p[o]\, s_{out}^2/12$ (zeros are exact);
# - max-pooling passes the noise of the element it picks, usually an active one.
#
# Dividing the signal power by the predicted noise power gives a predicted **signal-to-noise
# ratio** per layer, $10\log_{10}(P_{signal}/P_{noise})$ dB. The measurement compares the float
# network's activations with the dequantized integer ones on the same images.

# %%
snr8 = Q.snr_per_layer(model, q8, x_test[:500])
snr4 = Q.snr_per_layer(model, q4, x_test[:500])
snr8p = Q.snr_per_layer(model, q8p, x_test[:500])
print(f"{'layer':<12}{'int8 predicted':>16}{'measured':>10}{'int4 predicted':>16}{'measured':>10}"
      f"{'int8 pct. pred.':>17}{'measured':>10}")
for a, b, c in zip(snr8, snr4, snr8p):
    print(f"{a['name']:<12}{a['predicted_db']:>13.1f} dB{a['measured_db']:>7.1f} dB{b['predicted_db']:>13.1f} dB"
          f"{b['measured_db']:>7.1f} dB{c['predicted_db']:>14.1f} dB{c['measured_db']:>7.1f} dB")

fig, ax = plt.subplots(figsize=(8, 3.8))
pos = np.arange(len(snr8))
for rows, label, colour in [(snr8, "int8, minmax", "C0"), (snr8p, "int8, percentile", "C2"),
                            (snr4, "int4 weights", "C3")]:
    ax.plot(pos, [r["predicted_db"] for r in rows], "--", color=colour, marker="o", mfc="none",
            label=f"{label}: predicted")
    ax.plot(pos, [r["measured_db"] for r in rows], "-", color=colour, marker="o", label=f"{label}: measured")
ax.set_xticks(pos, [r["name"] for r in snr8])
ax.set(ylabel="SNR (dB)", title="Quantization noise through LeNet-5: additive-noise model vs measurement")
low = min(r["measured_db"] for r in snr4)
ax.set_ylim(low - 12, None)  # room for the legend under the curves
ax.legend(fontsize=7, ncol=3, loc="lower center")
ax.grid(alpha=0.3)
fig.tight_layout()

gap8 = max(abs(r["predicted_db"] - r["measured_db"]) for r in snr8)
gap4 = max(abs(r["predicted_db"] - r["measured_db"]) for r in snr4)
print(f"largest gap between prediction and measurement: int8 {gap8:.1f} dB, int4 {gap4:.1f} dB")
print(f"int8 -> int4 weights costs {snr8[-1]['measured_db'] - snr4[-1]['measured_db']:.1f} dB at the logits")

# %% [markdown]
# With min/max ranges the model tracks the measurement layer by layer within a few dB: the
# uniform-noise picture is good enough to reason with. The percentile rows show what it leaves
# out: clipping. The percentile observer narrows the grid, which the model credits (finer step,
# higher predicted SNR), but the values beyond the range are cut, and that error — large, rare,
# not uniform — is not in the model, so the measurement falls below the prediction.
#
# Clipping can be added to the model as one more error source: at every quantization point, the
# mean squared amount by which the float values overshoot the range (measured, like the signal
# power), carried through the layers like the rest (`snr_per_layer(..., clipping=True)`):

# %%
snr8pc = Q.snr_per_layer(model, q8p, x_test[:500], clipping=True)
print(f"{'layer':<12}{'percentile: plain model':>25}{'with clipping':>15}{'measured':>10}")
for a, c in zip(snr8p, snr8pc):
    print(f"{a['name']:<12}{a['predicted_db']:>22.1f} dB{c['predicted_db']:>12.1f} dB{a['measured_db']:>7.1f} dB")
gap_plain = np.mean([abs(a["predicted_db"] - a["measured_db"]) for a in snr8p])
gap_clip = np.mean([abs(c["predicted_db"] - c["measured_db"]) for c in snr8pc])
print(f"mean gap to the measurement: {gap_plain:.1f} dB plain, {gap_clip:.1f} dB with clipping")

# %% [markdown]
# Counting the clipped error closes most of the gap. What remains grows towards the output:
# clipping errors all have the same sign (a value above the range is always cut *down*), so
# unlike rounding noise they do not average out through the weights — they add up coherently,
# faster than the variance sum assumes.
#
# ## 7. How many bits do the weights need?
#
# A uniform quantizer gains about 6 dB of SNR per bit ($\Delta$ halves, $\Delta^2/12$ drops by
# 4 = 6.02 dB). Sweep the weight width with int8 activations and watch SNR and accuracy (up to
# 4 bits the weights are stored packed two per byte, above that one per byte):

# %%
bits_list = [2, 3, 4, 5, 6, 7, 8]
sweep = []
for b in bits_list:
    qb = Q.quantize_static(model, x_cal, observer="minmax", weight_bits=b)
    rows = Q.snr_per_layer(model, qb, x_test[:300])
    sweep.append((b, rows[-1]["predicted_db"], rows[-1]["measured_db"],
                  float((qb(x_test).numpy().argmax(1) == y_test).mean()), qb.nbytes()))
for b, pred, meas, acc, nb in sweep:
    print(f"{b} bits: logits SNR predicted {pred:5.1f} dB, measured {meas:5.1f} dB; accuracy {100 * acc:.2f}% "
          f"({100 * (acc - acc_fp32):+.2f}); {nb:,} bytes")
slope = np.polyfit([s[0] for s in sweep[1:5]], [s[2] for s in sweep[1:5]], 1)[0]
print(f"measured SNR gain per weight bit from 3 to 6 bits: {slope:.1f} dB (textbook: 6.02 dB)")

fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.2))
a1.plot(bits_list, [s[1] for s in sweep], "o--", mfc="none", label="predicted")
a1.plot(bits_list, [s[2] for s in sweep], "o-", label="measured")
a1.set(xlabel="weight bits", ylabel="logits SNR (dB)", title="SNR at the output")
a1.legend()
a2.plot(bits_list, [100 * s[3] for s in sweep], "o-")
a2.axhline(100 * acc_fp32, color="k", lw=0.8, ls=":", label="fp32")
a2.set(xlabel="weight bits", ylabel="test accuracy (%)", title="accuracy")
a2.legend()
fig.tight_layout()

# %% [markdown]
# The SNR climbs by a slope near the textbook 6 dB per bit until the int8 activations' own
# noise takes over at the top, while at 2 bits (weights in {-1, 0, 1} times a scale) the
# uniform-noise picture breaks down: most weights round to 0, and the error is anything but
# small and independent. Accuracy saturates long before the SNR does: once the noise is well
# below the margin between the top two logits, no prediction changes.
#
# ## 8. What the numbers say

# %%
print(f"fp32 {100 * acc_fp32:.2f}% in {fp32_bytes:,} bytes; int8 {100 * acc_int8:.2f}% in {q8.nbytes():,} "
      f"bytes ({fp32_bytes / q8.nbytes():.1f}x smaller); int4 weights {100 * table[3][2]:.2f}% in "
      f"{q4.nbytes():,} bytes ({fp32_bytes / q4.nbytes():.1f}x smaller)")
print(f"noise model vs measurement (int8, minmax): within {gap8:.1f} dB at every layer")
print(f"notebook ran in {time.perf_counter() - t_start:.1f} s")

# %% [markdown]
# **Takeaways.** Eight bits are plenty for LeNet-5: calibrated on 512 images, the integer-only
# network keeps the float accuracy within the printed margin at a quarter of the size. Four-bit
# weights cost visibly more SNR, yet on this easy task still little accuracy. The additive-noise
# model — $\Delta^2/12$ per rounding, variances summed through the weights, gated by the ReLUs —
# predicts the measured SNR of every layer within a few dB, so the bit budget of a layer can be
# reasoned about before anything is quantized. What the plain model cannot see is clipping —
# exactly the trade a percentile observer makes — and counting it as one more error source
# brings the prediction most of the way back.
