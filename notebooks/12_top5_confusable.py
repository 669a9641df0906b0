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
# # Chapter 12 — Top-1, top-5 and confusable classes
#
# ImageNet's 1,000 classes include near-twins — a Siberian husky and an Alaskan malamute —
# that even people mix up. AlexNet's paper therefore reported the **top-5** error next to the
# top-1 error: a prediction counts as right if the true class is among the five classes the
# network ranks highest. A simple probability model says what to expect. Suppose the classes
# come in groups of $g$ that cannot be told apart, the network finds the right *group* with
# probability $a$, and inside the group it can only guess. Then
#
# $$ \text{top-}k \approx a \cdot \frac{\min(k, g)}{g} \qquad (k \le g), $$
#
# so top-1 is $a/g$ while top-$g$ (and top-5, when $g \le 5$) recovers the full $a$: top-5
# measures whether the network understood *what kind* of thing it saw.
#
# Here we build such classes on purpose and check the model against the measurement.

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
# ## 1. Digits with invisible sub-classes
#
# Each MNIST digit $d$ is split into $g$ classes $d\,g + v$, with $v$ drawn at random
# independently of the image: the $g$ classes of one digit are perfectly confusable (nothing in
# the image tells them apart), while different digits are not. With $g = 2$ there are 20
# classes in pairs; with $g = 4$, 40 classes in groups of four.

# %%
full = data.MNIST(train=True)
test_set = data.MNIST(train=False)
keep = np.concatenate([np.flatnonzero(full.targets == d)[:200] for d in range(10)])
x_train = full.data[keep, None].astype(np.float32) / 255
x_test = test_set.data[:, None].astype(np.float32) / 255
transform = data.Compose([data.Pad(2), data.Normalize(data.MNIST_MEAN, data.MNIST_STD)])
rng = np.random.default_rng(0)

results = {}
t0 = time.perf_counter()
for g in (2, 4):
    y_train = full.targets[keep] * g + rng.integers(0, g, len(keep))
    y_test = test_set.targets * g + rng.integers(0, g, len(test_set))
    tc.manual_seed(0)
    model = lenet5(num_classes=10 * g)
    opt = SGD(model.parameters(), lr=0.03, momentum=0.9)
    loader = data.DataLoader(data.TensorDataset(x_train, y_train), batch_size=32, shuffle=True,
                             seed=0, transform=transform)
    for epoch in range(4):
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    logits, _ = calibrate.predict_logits(
        model, data.DataLoader(data.TensorDataset(x_test, y_test), batch_size=500, transform=transform))
    results[g] = (logits, y_test)
print(f"2 models trained in {time.perf_counter() - t0:.1f} s")

# %% [markdown]
# ## 2. Prediction against measurement
#
# The group accuracy $a$ is measured from the same network: add its probabilities within each
# group and take the most probable group. The refined prediction also credits the true class
# when its group is ranked second (or lower) but $k$ is large enough to reach into it: with the
# group ranked $r$-th, the top $k$ hold $\min(\max(k - (r-1)g, 0), g)$ of its $g$ members, each
# equally likely to be the true one.

# %%
ks = np.arange(1, 11)
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), sharey=True)
for ax, (g, (logits, y)) in zip(axes, results.items()):
    probs = calibrate.softmax_with_temperature(logits)
    measured = np.array(metrics.topk_accuracy(logits, y, k=tuple(ks)))
    group_p = probs.reshape(len(y), 10, g).sum(2)
    true_group = y // g
    a = float((group_p.argmax(1) == true_group).mean())
    simple = a * np.minimum(ks, g) / g
    rank = (group_p > group_p[np.arange(len(y)), true_group][:, None]).sum(1)  # 0 = ranked first
    refined = np.array([np.mean(np.clip(k - rank * g, 0, g) / g) for k in ks])
    ax.plot(ks, 100 * measured, "o-", label="measured top-k")
    ax.plot(ks, 100 * simple, "--", label="model: a min(k, g) / g")
    ax.plot(ks, 100 * refined, ":", lw=2, label="model with group ranks")
    ax.set(title=f"groups of g = {g} ({10 * g} classes); a = {100 * a:.1f}%", xlabel="k", xticks=ks)
    print(f"g = {g}: top-1 {100 * measured[0]:.1f}% (model {100 * simple[0]:.1f}%), "
          f"top-{g} {100 * measured[g - 1]:.1f}% (model {100 * simple[g - 1]:.1f}%), "
          f"top-5 {100 * measured[4]:.1f}% (refined model {100 * refined[4]:.1f}%); "
          f"largest gap measured vs refined model over k = 1..10: {100 * np.abs(measured - refined).max():.1f} points")
axes[0].set_ylabel("accuracy (%)")
axes[0].legend(fontsize=8)
fig.tight_layout()
print(f"notebook ran in {time.perf_counter() - t_start:.1f} s")

# %% [markdown]
# **Takeaways.** When classes come in confusable groups, top-1 accuracy is capped near
# $a/g$ however good the features are, and top-$k$ with $k \ge g$ shows the accuracy at the level
# the network can actually resolve. The printed gaps say how closely this two-line probability
# model tracks a real network's rankings.
