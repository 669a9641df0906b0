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
# # Chapter 10 — Does the network know what it does not know? Calibration
#
# A classifier's softmax output looks like a probability. It is **calibrated** if it behaves
# like one: of all the test images it labels with 80% confidence, about 80% should be right.
# Guo, Pleiss, Sun and Weinberger (2017) found that modern networks are often *over-confident*,
# and measured it with the **expected calibration error**: sort the predictions into $M$ bins by
# their confidence (the top probability), and average the gap between each bin's accuracy and
# its mean confidence, weighted by the bin's size,
#
# $$ \mathrm{ECE} = \sum_{m=1}^{M} \frac{|B_m|}{N}\, \bigl|\mathrm{acc}(B_m) - \mathrm{conf}(B_m)\bigr| . $$
#
# Two remedies: **label smoothing** trains towards $1-\varepsilon$ for the true class instead of
# 1, so the network has no reason to push its logits apart without end; **temperature scaling**
# divides the logits of a trained network by one number $T$, fitted on held-out data by
# minimising the negative log-likelihood (NLL). It cannot change a single prediction — the
# largest logit stays the largest — only how sure the network says it is.
#
# tinyconv: `metrics.expected_calibration_error`, `metrics.reliability_diagram`, `metrics.nll`,
# `calibrate.fit_temperature`; `tinyconv train lenet5 --label-smoothing 0.1` prints the ECE.

# %%
import time

import tinyconv as tc
import numpy as np
import matplotlib.pyplot as plt

import tinyconv.nn.functional as F
from tinyconv import calibrate, data, metrics
from tinyconv.models import lenet5
from tinyconv.optim import SGD

t_start = time.perf_counter()

# %% [markdown]
# ## 1. ECE by hand
#
# Four predictions, five bins of width 0.2. The 0.6-confident one (bin (0.4, 0.6]) is wrong;
# the 0.7 and 0.8 ones (bin (0.6, 0.8]) are right; so is the 0.9 one. ECE =
# $\tfrac14 |0 - 0.6| + \tfrac24 |1 - 0.75| + \tfrac14 |1 - 0.9| = 0.3$:

# %%
p = np.array([[0.9, 0.1], [0.6, 0.4], [0.7, 0.3], [0.2, 0.8]])
t = np.array([0, 1, 0, 1])
print("ECE =", metrics.expected_calibration_error(p, t, n_bins=5))

# %% [markdown]
# ## 2. Two LeNet-5s, with and without label smoothing
#
# To see over-confidence on a small budget we let LeNet-5 overfit a little: 1,000 training
# digits (100 per class), 8 epochs. Another 500 training-split digits are held out as the
# *validation* set on which the temperature is fitted; the 1,000 test digits are used only to
# measure.

# %%
full = data.MNIST(train=True)
test_set = data.MNIST(train=False)
order = [np.flatnonzero(full.targets == d) for d in range(10)]
train_idx = np.concatenate([o[:100] for o in order])
val_idx = np.concatenate([o[100:150] for o in order])
as_set = lambda idx: data.TensorDataset(full.data[idx, None].astype(np.float32) / 255, full.targets[idx])
transform = data.Compose([data.Pad(2), data.Normalize(data.MNIST_MEAN, data.MNIST_STD)])
val_loader = data.DataLoader(as_set(val_idx), batch_size=500, transform=transform)
test_loader = data.DataLoader(test_set, batch_size=500, transform=transform)

results = {}
t0 = time.perf_counter()
for eps in (0.0, 0.1):
    tc.manual_seed(0)
    model = lenet5()
    opt = SGD(model.parameters(), lr=0.03, momentum=0.9)
    loader = data.DataLoader(as_set(train_idx), batch_size=32, shuffle=True, seed=0, transform=transform)
    for epoch in range(8):
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb, label_smoothing=eps)
            opt.zero_grad()
            loss.backward()
            opt.step()
    val_logits, val_y = calibrate.predict_logits(model, val_loader)
    test_logits, test_y = calibrate.predict_logits(model, test_loader)
    temperature = calibrate.fit_temperature(val_logits, val_y)
    results[eps] = dict(temperature=temperature, test_y=test_y, test_logits=test_logits,
                        val_nll=(metrics.nll(calibrate.softmax_with_temperature(val_logits), val_y),
                                 metrics.nll(calibrate.softmax_with_temperature(val_logits, temperature), val_y)))
print(f"2 models trained in {time.perf_counter() - t0:.1f} s")

print(f"{'label smoothing':<17}{'T':>6}{'test acc':>10}{'ECE':>8}{'ECE (T)':>9}{'NLL':>8}{'NLL (T)':>9}{'val NLL':>9}{'val NLL (T)':>12}")
for eps, r in results.items():
    p1 = calibrate.softmax_with_temperature(r["test_logits"])
    pt = calibrate.softmax_with_temperature(r["test_logits"], r["temperature"])
    r.update(p1=p1, pt=pt, ece=metrics.expected_calibration_error(p1, r["test_y"]),
             ece_t=metrics.expected_calibration_error(pt, r["test_y"]))
    print(f"{eps:<17}{r['temperature']:>6.2f}{100 * metrics.accuracy(p1, r['test_y']):>9.1f}%"
          f"{100 * r['ece']:>7.2f}%{100 * r['ece_t']:>8.2f}%{metrics.nll(p1, r['test_y']):>8.3f}"
          f"{metrics.nll(pt, r['test_y']):>9.3f}{r['val_nll'][0]:>9.3f}{r['val_nll'][1]:>12.3f}")
    assert metrics.accuracy(p1, r["test_y"]) == metrics.accuracy(pt, r["test_y"])  # T changes no prediction

# %% [markdown]
# The last two columns are the NLL on the validation set before and after scaling: fitting $T$
# minimises it there, so it can only go down (`fit_temperature` guarantees that). The columns
# before them are measured on the test set, which played no part in fitting. $T > 1$ means the
# network was over-confident and its probabilities are softened; $T < 1$ means the opposite.
#
# ## 3. Reliability diagrams
#
# Each bar is one confidence bin: its height is the bin's accuracy; the diagonal is perfect
# calibration. Bars below the diagonal are over-confidence.

# %%
fig, axes = plt.subplots(1, 4, figsize=(14, 3.4), sharey=True)
panels = [(0.0, "p1", "no smoothing"), (0.0, "pt", "no smoothing, T-scaled"),
          (0.1, "p1", "smoothing 0.1"), (0.1, "pt", "smoothing 0.1, T-scaled")]
for ax, (eps, key, title) in zip(axes, panels):
    r = results[eps]
    d = metrics.reliability_diagram(r[key], r["test_y"], n_bins=15)
    centres = (d["edges"][:-1] + d["edges"][1:]) / 2
    used = d["count"] > 0
    ax.bar(centres[used], d["accuracy"][used], width=1 / 15, edgecolor="k", alpha=0.7, label="accuracy")
    ax.plot(d["confidence"][used], d["confidence"][used], "r.", label="mean confidence")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ece = metrics.expected_calibration_error(r[key], r["test_y"])
    ax.set(title=f"{title}\nECE {100 * ece:.2f}%", xlabel="confidence", xlim=(0, 1), ylim=(0, 1))
axes[0].set_ylabel("accuracy")
axes[0].legend(loc="upper left", fontsize=8)
fig.tight_layout()

# %% [markdown]
# ## 4. What the numbers say
#
# Computed from the table above:

# %%
for eps, r in results.items():
    change = "lowered" if r["ece_t"] < r["ece"] else "did not lower"
    print(f"label smoothing {eps}: temperature scaling (T = {r['temperature']:.2f}) {change} the test ECE, "
          f"{100 * r['ece']:.2f}% -> {100 * r['ece_t']:.2f}%")
print(f"label smoothing 0.1 vs none, before scaling: ECE {100 * results[0.1]['ece']:.2f}% vs "
      f"{100 * results[0.0]['ece']:.2f}%; top-1 accuracy "
      f"{100 * metrics.accuracy(results[0.1]['p1'], results[0.1]['test_y']):.1f}% vs "
      f"{100 * metrics.accuracy(results[0.0]['p1'], results[0.0]['test_y']):.1f}%")
print(f"notebook ran in {time.perf_counter() - t_start:.1f} s")

# %% [markdown]
# **Takeaways.** Accuracy says how often a network is right; calibration says whether its
# confidence can be taken at face value, which matters whenever a decision depends on it (a
# doctor deciding whether to look again). Temperature scaling is almost free — one scalar fitted
# on held-out data, no change to any prediction — and label smoothing acts during training.
# Which of them helps, and by how much, is a measurement, made above for this network and data.
