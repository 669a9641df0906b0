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
# # Chapter 11 — Transfer learning: what to freeze
#
# A network trained on one task has learned features — strokes, corners, loops — that are
# useful for related tasks too. To solve a new task with few labelled examples we can keep
# (*freeze*) the lower layers and retrain only the upper ones. How many to freeze is a
# trade-off: freeze too much and the fixed features may not fit the new task (too little
# plasticity); retrain too much and the few new examples overwrite what the network knew
# (*catastrophic forgetting*) and may overfit.
#
# The classic small experiment: train LeNet-5 on digits 0-4, transfer it to digits 5-9 with a
# few labelled examples per digit, freezing 0, 1, 2, 3 or 4 of its blocks, and measure the
# accuracy on 5-9 (the new task) and on 0-4 (what was forgotten). tinyconv:
# `nn.utils.freeze(module, up_to=k)` sets `requires_grad=False` on the first k children's
# parameters; the optimizers skip frozen parameters.

# %%
import time

import tinyconv as tc
import numpy as np
import matplotlib.pyplot as plt

import tinyconv.nn.functional as F
from tinyconv import data, metrics, nn
from tinyconv.autograd import no_grad
from tinyconv.models import lenet5
from tinyconv.optim import SGD

t_start = time.perf_counter()
full = data.MNIST(train=True)
test_set = data.MNIST(train=False)
transform = data.Compose([data.Pad(2), data.Normalize(data.MNIST_MEAN, data.MNIST_STD)])


def subset(ds, digits, per_digit=None, offset=0):
    idx = np.concatenate([np.flatnonzero(ds.targets == d)[offset:None if per_digit is None else offset + per_digit]
                          for d in digits])
    return ds.data[idx, None].astype(np.float32) / 255, ds.targets[idx]


def train(model, x, y, epochs, lr, seed):
    opt = SGD([p for p in model.parameters() if p.requires_grad], lr=lr, momentum=0.9)
    loader = data.DataLoader(data.TensorDataset(x, y), batch_size=32, shuffle=True, seed=seed,
                             transform=transform)
    for _ in range(epochs):
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()


def accuracy(model, x, y, head=None):
    """Accuracy of the features followed by `head` (default: the model's own classifier)."""
    model.eval()
    with no_grad():
        loader = data.DataLoader(data.TensorDataset(x, y), batch_size=500, transform=transform)
        preds = []
        for xb, _ in loader:
            h = model.flatten(model.features(xb))
            for i in range(4):                         # fc1, ReLU, fc2, ReLU
                h = model.classifier[i](h)
            out = (head or model.classifier[4])(h)
            preds.append(out.numpy().argmax(1))
    model.train()
    return metrics.accuracy(np.concatenate(preds), y)

# %% [markdown]
# ## 1. The source task: digits 0-4
#
# LeNet-5 with five outputs, trained on 400 images of each of digits 0-4 for 4 epochs.

# %%
x_src, y_src = subset(full, range(5))
x_old_test, y_old_test = subset(test_set, range(5))
tc.manual_seed(0)
source = lenet5(num_classes=5)
t0 = time.perf_counter()
train(source, x_src, y_src, epochs=4, lr=0.03, seed=0)
print(f"trained on {len(y_src)} images in {time.perf_counter() - t0:.1f} s; "
      f"accuracy on the 500 test images of 0-4: {100 * accuracy(source, x_old_test, y_old_test):.1f}%")

# %% [markdown]
# ## 2. The target task: digits 5-9 with 20 labelled images each
#
# For each $k$ we copy the source network, give it a new five-way output layer for digits 5-9,
# freeze its first $k$ blocks, and train on 100 images (20 per digit) for 15 epochs. The blocks,
# bottom to top: conv1 (+ReLU, pool), conv2 (+ReLU, pool), fc1 (+ReLU), fc2 (+ReLU); the new
# head always trains. The old five-way head is kept aside, untouched: putting it back on the
# fine-tuned layers measures how much of digits 0-4 survived.

# %%
x_new, y_new = subset(full, range(5, 10), per_digit=20)
x_new_test, y_new_test = subset(test_set, range(5, 10))
y_new, y_new_test = y_new - 5, y_new_test - 5
BLOCKS = ["conv1", "conv2", "fc1", "fc2"]


def frozen_copy(k):
    model = lenet5(num_classes=5)
    model.load_state_dict(source.state_dict())
    old_head = model.classifier[4]
    model.classifier[4] = nn.Linear(84, 5)               # the new task's output layer
    if k >= 1:
        nn.utils.freeze(model.features, up_to=3 * min(k, 2))      # conv blocks: 3 children each
    if k >= 3:
        nn.utils.freeze(model.classifier, up_to=2 * (k - 2))      # fc blocks: Linear + ReLU
    return model, old_head


rows = []
t0 = time.perf_counter()
for k in range(5):
    tc.manual_seed(1)
    model, old_head = frozen_copy(k)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    train(model, x_new, y_new, epochs=15, lr=0.02, seed=1)
    rows.append((k, trainable, accuracy(model, x_new_test, y_new_test),
                 accuracy(model, x_old_test, y_old_test, head=old_head)))
print(f"5 transfers in {time.perf_counter() - t0:.1f} s")
print(f"{'frozen':<26}{'trainable params':>17}{'5-9 (new)':>11}{'0-4 (old head)':>16}")
for k, n_train, new, old in rows:
    label = ", ".join(BLOCKS[:k]) if k else "nothing"
    print(f"{k} ({label}){'':<{24 - len(label) - 2}}{n_train:>17,}{100 * new:>10.1f}%{100 * old:>15.1f}%")

tc.manual_seed(1)
scratch = lenet5(num_classes=5)
train(scratch, x_new, y_new, epochs=15, lr=0.02, seed=1)
from_scratch = accuracy(scratch, x_new_test, y_new_test)
print(f"for comparison, LeNet-5 trained from scratch on the same 100 images: {100 * from_scratch:.1f}% on 5-9")

# %%
ks = [r[0] for r in rows]
fig, ax = plt.subplots(figsize=(7, 3.8))
ax.plot(ks, [100 * r[2] for r in rows], "o-", label="new task: digits 5-9")
ax.plot(ks, [100 * r[3] for r in rows], "s-", label="old task: digits 0-4 (old head)")
ax.axhline(100 * from_scratch, color="C0", ls=":", label="5-9, trained from scratch")
ax.set(xticks=ks, xticklabels=["0", "1\nconv1", "2\n+conv2", "3\n+fc1", "4\n+fc2"],
       xlabel="frozen blocks", ylabel="test accuracy (%)", ylim=(0, 100))
ax.legend(loc="lower right", fontsize=8)
fig.tight_layout()

# %% [markdown]
# ## 3. Reading the plot
#
# Computed from the table:

# %%
best = max(rows, key=lambda r: r[2])
print(f"best accuracy on the new task with {best[0]} frozen block(s): {100 * best[2]:.1f}% "
      f"({100 * (best[2] - from_scratch):+.1f} points over training from scratch)")
print(f"old task with nothing frozen: {100 * rows[0][3]:.1f}%, with everything but the head frozen: "
      f"{100 * rows[4][3]:.1f}% (the source network scored "
      f"{100 * accuracy(source, x_old_test, y_old_test):.1f}%)")
print(f"notebook ran in {time.perf_counter() - t_start:.1f} s")

# %% [markdown]
# **Takeaways.** Freezing trades plasticity for memory. With everything frozen but the head,
# the features are exactly the source network's, so the old head still works as before and the
# new task must make do with features learned for other digits; with nothing frozen, the few new
# examples reshape every layer. The measured curves above show where that balance lies for
# LeNet-5 moving from 0-4 to 5-9 with 20 examples per digit.
