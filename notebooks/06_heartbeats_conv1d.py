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
# # Chapter 6 — One dimension: a LeNet for heartbeats
#
# Nothing in a convolution cares that an image has two axes. Local connections, shared weights
# and pooling only need a signal whose neighbouring samples belong together, and an
# electrocardiogram (ECG) — the heart's voltage over time — is such a signal. Squash LeNet's
# $5 \times 5$ filters into 1-D filters that slide along time, and the same machine classifies
# heartbeats. The one design question that is new is *how long* the filters and pools must be:
# a neuron that is supposed to judge a heartbeat has to see a whole heartbeat.
#
# This chapter builds the pieces: a synthetic ECG from a published dynamical model, `conv1d`
# as `conv2d` on a height-1 image, a 1-D LeNet whose receptive fields we measure in
# milliseconds, and a training run that tells normal beats from two kinds of premature beats.

# %%
import time

import tinyconv as tc
import numpy as np
import matplotlib.pyplot as plt

import tinyconv.nn.functional as F
from tinyconv import data, metrics, models, nn
from tinyconv.data import ecg
from tinyconv.optim import SGD
from tinyconv.train import evaluate, fit

t_start = time.perf_counter()
print("backend:", tc.get_backend())

# %% [markdown]
# ## 1. A heart in three equations
#
# McSharry, Clifford, Tarassenko and Smith (2003) generate realistic ECGs with a point that
# circles the unit circle once per heartbeat at angular speed $\omega = 2\pi / RR$ ($RR$: the
# time between two beats) while its height $z$ is pushed up or down whenever the phase
# $\theta$ passes one of five waves $i \in \{P, Q, R, S, T\}$:
#
# $$ \dot z = -\omega \sum_i a_i\, \Delta\theta_i\, e^{-\Delta\theta_i^2 / 2 b_i^2} - (z - z_0(t)),
#    \qquad \Delta\theta_i = (\theta - \theta_i) \bmod 2\pi . $$
#
# Integrated over a beat, each term is a Gaussian bump of height $a_i b_i^2$ and width
# $b_i/\omega$ seconds centred at phase $\theta_i$; $z_0$ is a slow respiratory baseline wander.
# (The factor $\omega$ is ours: it keeps wave heights independent of the heart rate.)
# `tinyconv.data.ecg.synthesize` integrates it with forward Euler at 500 Hz and averages down to
# 125 Hz. The wave parameters are the paper's Table 1:

# %%
for name, th, a, b in zip("PQRST", ecg.THETA, ecg.A, ecg.B):
    print(f"{name}: theta = {th / np.pi:+.3f} pi, a = {a:+5.2f}, b = {b:.2f}  ->  "
          f"height a*b^2 = {a * b * b:+.3f}, width at 75 bpm = {1000 * b / (2 * np.pi / 0.8):.0f} ms")

rng = np.random.default_rng(0)
rr = 0.8 * (1 + 0.03 * rng.standard_normal(14))
r_times = np.concatenate([[0.0], np.cumsum(rr)])[None, :] - 0.8
a = np.tile(ecg.A, (1, r_times.shape[1], 1))
b = np.tile(ecg.B, (1, r_times.shape[1], 1))
theta = np.tile(ecg.THETA, (1, r_times.shape[1], 1))
z = ecg.synthesize(r_times, a, b, theta, duration=8.0, fs=125, resp_amplitude=0.04)[0]
t = np.arange(len(z)) / 125

fig, axes = plt.subplots(1, 2, figsize=(12, 3), gridspec_kw={"width_ratios": [3, 1]})
axes[0].plot(t, z, lw=1)
axes[0].set(xlabel="time (s)", ylabel="z (model units)", title="8 s of synthetic sinus rhythm at ~75 bpm")
beat_t = r_times[0, 3]
sel = (t > beat_t - 0.4) & (t < beat_t + 0.45)
axes[1].plot(1000 * (t[sel] - beat_t), z[sel], lw=1.5)
for name, th in zip("PQRST", ecg.THETA):
    ms = 1000 * th / (2 * np.pi / rr[2])
    k = np.argmin(np.abs(1000 * (t[sel] - beat_t) - ms))
    axes[1].annotate(name, (1000 * (t[sel] - beat_t)[k], z[sel][k]), textcoords="offset points",
                     xytext=(0, 6 if name in "PRT" else -12), ha="center")
axes[1].set(xlabel="ms from the R peak", title="one beat")
fig.tight_layout()

# %% [markdown]
# ## 2. Normal and premature beats
#
# Arrhythmias change a beat's *timing* and its *shape*. `data.Heartbeats` draws records from
# simulated people (each with their own heart rate between 55 and 95 bpm, wave sizes, noise and
# breathing) in which some beats are premature:
#
# * **S — premature atrial contraction (PAC):** the beat comes early (72% of the normal RR),
#   started by an abnormal focus in the atria, so its P wave is inverted; the QRS is normal.
# * **V — premature ventricular contraction (PVC):** the beat comes earlier (62%), starts in the
#   ventricle, so it has no P wave, a wide QRS and a large T wave of opposite polarity, and is
#   followed by a compensatory pause: the two intervals around it add up to two normal ones.
#
# Each sample is a 256-sample window (2.05 s) centred on one beat's R peak, standardised to zero
# mean and unit variance. Training and test beats come from different simulated people.

# %%
train_set, test_set = data.Heartbeats(train=True), data.Heartbeats(train=False)
print(train_set)
print(test_set)
counts = np.bincount(test_set.targets, minlength=3)
chance = counts.max() / counts.sum()
print(f"class balance (test): " + ", ".join(f"{c} {100 * n / counts.sum():.1f}%" for c, n in zip(ecg.CLASSES, counts)))
print(f"chance level: always answering the majority class 'N' scores {100 * chance:.1f}%")

fig, axes = plt.subplots(1, 3, figsize=(12, 2.8), sharey=True)
ms = (np.arange(256) - 128) * 8
for c, ax in enumerate(axes):
    windows = train_set.data[train_set.targets == c, 0]
    for w in windows[:12]:
        ax.plot(ms, w, color="0.75", lw=0.6)
    ax.plot(ms, np.median(windows, axis=0), color="C3", lw=1.8, label="median")
    ax.set(title=ecg.CLASS_NAMES[c], xlabel="ms from the beat's R peak")
axes[0].legend(loc="lower left")
fig.tight_layout()

# %% [markdown]
# The medians show what a classifier can use: a PAC's neighbour R peak sits closer on the left
# (it came early), a PVC's QRS is wide with a deep inverted T after it and a long pause before
# the next beat.
#
# ## 3. A 1-D convolution is a 2-D convolution of height one
#
# `F.conv1d` views the signal $(N, C, L)$ as an image $(N, C, 1, L)$ and the filter
# $(O, C, K)$ as $(O, C, 1, K)$, and calls `conv2d` with stride $(1, s)$, padding $(0, p)$ and
# dilation $(1, d)$. The reshapes are free and differentiable, so every backend's convolution
# kernels — and their tests — serve both. The pools work the same way (`max_pool1d`,
# `avg_pool1d`). Checked against a direct loop:

# %%
x = train_set.data[:2]                                 # (2, 1, 256)
w = rng.standard_normal((3, 1, 9)).astype(np.float32)
y = F.conv1d(tc.tensor(x), tc.tensor(w), stride=2, padding=4, dilation=1).numpy()
xp = np.pad(x, ((0, 0), (0, 0), (4, 4)))
loop = np.array([[[np.dot(xp[n, 0, 2 * i:2 * i + 9], w[o, 0]) for i in range(y.shape[2])]
                  for o in range(3)] for n in range(2)])
print("output", y.shape, "- largest difference from the loop:", float(np.abs(y - loop).max()))

# %% [markdown]
# ## 4. LeNet-1D and its receptive fields
#
# `models.lenet1d()` keeps LeNet-5's plan — convolution, pooling, convolution, pooling, a third
# convolution (LeNet's C5), then two fully connected layers — with 1-D filters of 9, 9 and 5
# samples and pools of 4.
#
# A unit's **receptive field** is the stretch of input it depends on. Going up one layer with
# kernel $k$ and stride $s$ adds $(k-1)\,j$ samples, where $j$ (the *jump*) is the product of
# all strides below; a pool of 4 multiplies the jump by 4. At 125 Hz one sample is 8 ms.

# %%
model = models.lenet1d()
r, j, rows = 1, 1, []
for name, m in model.features.named_children():
    if isinstance(m, nn.Conv1d):
        k, s, d = m.kernel_size[0], m.stride[0], m.dilation[0]
    elif isinstance(m, nn.MaxPool1d):
        k, s, d = m.kernel_size, m.stride, 1
    else:
        continue
    r += (k - 1) * d * j
    j *= s
    rows.append((name, type(m).__name__, k, s, r, j))
print(f"{'layer':<10}{'kernel':>7}{'stride':>7}{'RF (samples)':>14}{'RF (ms)':>9}{'jump (ms)':>11}")
for name, kind, k, s, r_, j_ in rows:
    print(f"{kind + ' ' + name:<14}{k:>3}{s:>7}{r_:>14}{r_ * 8:>9}{j_ * 8:>11}")
rf_c5 = rows[-1][4]
print(f"parameters: {models.count_parameters(model):,}")

print(f"C5 sees {rf_c5} samples = {rf_c5 * 8} ms. Normal RR intervals in the data run from "
      f"{60000 / 95:.0f} ms (95 bpm) to {60000 / 55:.0f} ms (55 bpm)")

# %% [markdown]
# The first convolution sees 72 ms — about one wave (the QRS complex lasts ~80-100 ms); the
# second, 352 ms — a P-QRS-T complex; and each unit of the third (C5) sees 960 ms: one whole
# heartbeat at 62 bpm. Drawn over a median normal beat of the training data:

# %%
normal = np.median(train_set.data[train_set.targets == 0, 0], axis=0)
fig, ax = plt.subplots(figsize=(11, 3))
ax.plot(ms, normal, color="k", lw=1.2)
colors = ["C0", "C2", "C3"]
convs = [row for row in rows if row[1] == "Conv1d"]
for i, (name, kind, k, s, r_, j_) in enumerate(convs):
    half = r_ * 8 / 2
    ax.axvspan(-half, half, ymin=0.05 + 0.3 * i, ymax=0.3 + 0.3 * i, color=colors[i], alpha=0.3,
               label=f"conv {name}: {r_ * 8} ms")
ax.set(xlabel="ms from the R peak", title="receptive field of one unit centred on the R peak")
ax.legend(loc="upper right", fontsize=8)
fig.tight_layout()

# %% [markdown]
# ## 5. Training
#
# Mini-batch SGD with momentum 0.9 and learning rate 0.02 (the 0.05 that suits LeNet-5 on MNIST
# overshoots here) for a few epochs — the same as `tinyconv train ecg1d`.

# %%
tc.manual_seed(0)
model = models.lenet1d()
opt = SGD(model.parameters(), lr=0.02, momentum=0.9)
train_loader = data.DataLoader(train_set, batch_size=32, shuffle=True, seed=0)
test_loader = data.DataLoader(test_set, batch_size=500)
t0 = time.perf_counter()
history = fit(model, opt, train_loader, test_loader, epochs=5)
print(f"trained in {time.perf_counter() - t0:.1f} s")

result = evaluate(model, test_loader)
cm = np.asarray(metrics.confusion_matrix(result["preds"], result["targets"], num_classes=3))
recall = cm.diagonal() / cm.sum(axis=1)
print(f"held-out accuracy {100 * result['accuracy']:.2f}% (chance {100 * chance:.1f}%); recall: " +
      ", ".join(f"{c} {100 * r_:.1f}%" for c, r_ in zip(ecg.CLASSES, recall)))

fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
axes[0].plot([h["epoch"] for h in history], [100 * h["test_accuracy"] for h in history], "o-", label="test")
axes[0].plot([h["epoch"] for h in history], [100 * h["train_accuracy"] for h in history], "s--", label="train")
axes[0].axhline(100 * chance, color="0.5", ls=":", label="majority class")
axes[0].set(xlabel="epoch", ylabel="accuracy (%)")
axes[0].legend()
axes[1].imshow(cm, cmap="Blues")
for (i, k), v in np.ndenumerate(cm):
    axes[1].text(k, i, v, ha="center", va="center", color="w" if v > cm.max() / 2 else "k")
axes[1].set(xticks=range(3), yticks=range(3), xticklabels=ecg.CLASSES, yticklabels=ecg.CLASSES,
            xlabel="predicted", ylabel="true", title="confusion matrix (test)")
fig.tight_layout()

# %% [markdown]
# ## 6. What the first layer learned
#
# Each of the six first-layer filters is 9 samples (72 ms) long: short enough to match one
# wave's slope, which is what edges are to digits.

# %%
wts = model.features[0].weight.numpy()[:, 0]
fig, axes = plt.subplots(1, 6, figsize=(12, 1.8), sharey=True)
for i, ax in enumerate(axes):
    ax.plot(np.arange(9) * 8, wts[i], "o-", ms=3)
    ax.set_title(f"filter {i}", fontsize=9)
    ax.set_xlabel("ms", fontsize=8)
fig.tight_layout()
print(f"notebook ran in {time.perf_counter() - t_start:.1f} s")

# %% [markdown]
# **Takeaways.** A convolution is defined by locality and weight sharing, not by the number of
# axes: tinyconv's 1-D layers are its 2-D kernels on a height-1 view. Choosing filter and pool
# lengths is choosing receptive fields, and for a signal with a natural unit — one heartbeat —
# the layer whose units first see a whole unit (here C5) is where whole-beat features can form.
