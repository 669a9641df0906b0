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
# # Chapter 8 — What weight sharing buys: a locally connected LeNet-5
#
# A convolution makes two assumptions about images: features are **local** (a unit looks at a
# small window) and **the same everywhere** (one filter, slid over every position). A *locally
# connected* layer keeps the first assumption and drops the second: every output position has
# its own filter. LeNet-5's first layer then has $28 \cdot 28 \cdot 6 \cdot (25 + 1) = 122{,}304$
# parameters instead of $6 \cdot (25 + 1) = 156$.
#
# `nn.LocallyConnected2d(in_channels, out_channels, input_size, kernel_size)` is that layer, with
# reference (NumPy) and Numba kernels. Here we put it in place of LeNet-5's first convolution and
# compare: parameters, accuracy, training time, and what happens when the test digits move by a
# few pixels.

# %%
import time

import tinyconv as tc
import numpy as np
import matplotlib.pyplot as plt

import tinyconv.nn.functional as F
from tinyconv import data, nn
from tinyconv.models import count_parameters, lenet5
from tinyconv.optim import SGD
from tinyconv.train import evaluate

t_start = time.perf_counter()

# %% [markdown]
# ## 1. The layer
#
# Output position $(i, j)$ of channel $o$ is
# $y_{o,i,j} = b_{o,i,j} + \sum_{c,u,v} W_{i,j,o,c,u,v}\, x_{c,\,i s + u,\,j s + v}$:
# a convolution whose weight carries the position indices $i, j$ too. With all $W_{i,j}$ equal
# it *is* a convolution — a quick check:

# %%
rng = np.random.default_rng(0)
x = tc.tensor(rng.standard_normal((2, 1, 32, 32)).astype(np.float32))
w_conv = rng.standard_normal((6, 1, 5, 5)).astype(np.float32)
w_local = np.broadcast_to(w_conv, (28, 28, 6, 1, 5, 5)).copy()
diff = F.locally_connected2d(x, tc.tensor(w_local)).numpy() - F.conv2d(x, tc.tensor(w_conv)).numpy()
print("shared filters: largest difference from conv2d =", float(np.abs(diff).max()))

# %% [markdown]
# ## 2. Two LeNet-5s

# %%
def lenet5_local():
    model = lenet5()
    model.features[0] = nn.LocallyConnected2d(1, 6, input_size=32, kernel_size=5)
    return model


for name, make in (("LeNet-5 (conv1 = convolution)", lenet5), ("LeNet-5 (conv1 = locally connected)", lenet5_local)):
    m = make()
    print(f"{name:<38} conv1 {count_parameters(m.features[0]):>7,} parameters, total {count_parameters(m):>7,}")

# %% [markdown]
# ## 3. Training
#
# Both train on the same 2,000 digits (200 per class) for 3 epochs with SGD (learning rate 0.03,
# momentum 0.9), from the same seed, and are tested on the 1,000 held-out digits.

# %%
full = data.MNIST(train=True)
test_set = data.MNIST(train=False)
keep = np.concatenate([np.flatnonzero(full.targets == d)[:200] for d in range(10)])
train_set = data.TensorDataset(full.data[keep, None].astype(np.float32) / 255, full.targets[keep])
transform = data.Compose([data.Pad(2), data.Normalize(data.MNIST_MEAN, data.MNIST_STD)])


def shifted(dx, dy):
    """The test images moved dx pixels right and dy down (zeros come in at the edge)."""
    img = np.zeros((len(test_set), 1, 28, 28), np.float32)
    src = test_set.data.astype(np.float32) / 255
    h, w = 28 - abs(dy), 28 - abs(dx)
    img[:, 0, max(dy, 0):max(dy, 0) + h, max(dx, 0):max(dx, 0) + w] = \
        src[:, max(-dy, 0):max(-dy, 0) + h, max(-dx, 0):max(-dx, 0) + w]
    return data.DataLoader(data.TensorDataset(img, test_set.targets), batch_size=500, transform=transform)


models, seconds = {}, {}
for name, make in (("convolution", lenet5), ("locally connected", lenet5_local)):
    tc.manual_seed(0)
    model = make()
    initial = model.features[0].weight.numpy().copy()
    opt = SGD(model.parameters(), lr=0.03, momentum=0.9)
    loader = data.DataLoader(train_set, batch_size=64, shuffle=True, seed=0, transform=transform)
    for epoch in range(3):
        t0 = time.perf_counter()
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        seconds[name] = time.perf_counter() - t0  # the last epoch: compilation is behind us
    models[name] = model
    if name == "locally connected":
        W0 = initial
    print(f"{name:<18} test accuracy {100 * evaluate(model, shifted(0, 0))['accuracy']:.1f}%, "
          f"last epoch {seconds[name]:.2f} s")

# %% [markdown]
# ## 4. Moving the digits
#
# A convolution is translation-equivariant: shift the input and its feature maps shift with it,
# and the pooling layers absorb part of the shift. A locally connected layer has no such
# property: the filters at the new position of a stroke were trained on whatever appeared
# *there* in the (centred) training digits. We shift every test digit by 1-3 pixels in each of
# the four directions and average the accuracy.

# %%
shifts = [0, 1, 2, 3]
acc = {name: [] for name in models}
for s in shifts:
    moves = [(0, 0)] if s == 0 else [(s, 0), (-s, 0), (0, s), (0, -s)]
    for name, model in models.items():
        acc[name].append(np.mean([evaluate(model, shifted(dx, dy))["accuracy"] for dx, dy in moves]))
print(f"{'shift (px)':<20}" + "".join(f"{s:>8}" for s in shifts))
for name in models:
    print(f"{name:<20}" + "".join(f"{100 * a:>7.1f}%" for a in acc[name]))

fig, axes = plt.subplots(1, 2, figsize=(11, 3.5), gridspec_kw={"width_ratios": [2, 1]})
for name in models:
    axes[0].plot(shifts, [100 * a for a in acc[name]], "o-", label=name)
axes[0].set(xlabel="shift of the test digits (pixels, 4 directions averaged)", ylabel="test accuracy (%)",
            xticks=shifts)
axes[0].legend()
example = shifted(3, 0).dataset.arrays[0][0, 0]
axes[1].imshow(np.concatenate([test_set.data[0] / 255, example], axis=1), cmap="gray_r")
axes[1].set(title="a test digit and its 3-pixel shift", xticks=[], yticks=[])
fig.tight_layout()
for name in models:
    print(f"{name}: accuracy lost at a 2-3 pixel shift = "
          f"{100 * (acc[name][0] - acc[name][2]):.1f} / {100 * (acc[name][0] - acc[name][3]):.1f} points")

# %% [markdown]
# ## 5. What the unshared filters look like
#
# The locally connected layer learned one $5 \times 5$ filter per position and channel. For
# channel 0, the filters of every fourth position, laid out where they sit in the image; then,
# for every position, how far training moved its filters: a position only learns from the
# strokes that pass through it.

# %%
W = models["locally connected"].features[0].weight.numpy()  # (28, 28, 6, 1, 5, 5)
grid = np.ones((7 * 6, 7 * 6)) * np.nan
for a, i in enumerate(range(0, 28, 4)):
    for b, j in enumerate(range(0, 28, 4)):
        f = W[i, j, 0, 0]
        grid[a * 6:a * 6 + 5, b * 6:b * 6 + 5] = (f - f.mean()) / (f.std() + 1e-12)
conv_filter = models["convolution"].features[0].weight.numpy()[0, 0]
fig, axes = plt.subplots(1, 2, figsize=(8, 4), gridspec_kw={"width_ratios": [4, 1]})
axes[0].imshow(grid, cmap="RdBu_r")
axes[0].set(title="locally connected, channel 0: one filter per position", xticks=[], yticks=[])
axes[1].imshow(conv_filter, cmap="RdBu_r")
axes[1].set(title="convolution, filter 0", xticks=[], yticks=[])
fig.tight_layout()

# how far training moved each position's filters (all 6 channels) from their initial values
moved = np.sqrt(((W - W0) ** 2).sum(axis=(2, 3, 4, 5)))
fig, ax = plt.subplots(figsize=(4, 3.5))
im = ax.imshow(moved, cmap="viridis")
fig.colorbar(im, ax=ax)
ax.set(title="|W - W_init| per output position", xticks=[], yticks=[])
fig.tight_layout()
print(f"filters moved {moved[10:18, 10:18].mean():.3f} on average in the central 8x8 positions, "
      f"{np.concatenate([moved[:3].ravel(), moved[-3:].ravel()]).mean():.3f} in the top and bottom 3 rows")
print(f"notebook ran in {time.perf_counter() - t_start:.1f} s")

# %% [markdown]
# **Takeaways.** Weight sharing is a prior: "what is worth detecting here is worth detecting
# everywhere". It divides the first layer's parameters by $28 \times 28$, lets every training
# digit teach every position's filter, and makes the features move with the digit. The numbers
# above measure what dropping it costs on this data — in parameters, in accuracy, and under
# translation. Locally connected layers still have their place where positions really differ
# (DeepFace used them on aligned faces, where the eyes are always in the same place).
