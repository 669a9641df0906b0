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
# # Chapter 9 — Dying ReLUs
#
# ReLU, $\max(0, z)$, made deep networks train fast: its gradient is exactly 1 wherever the unit
# is active, so it does not shrink as it travels down the layers. Its gradient is exactly 0
# elsewhere, and that has a price. A unit whose pre-activation $z = w \cdot x + b$ is negative
# for *every* input outputs 0 for every input, receives no gradient for $w$ or $b$, and so stays
# that way: it is **dead**. A large learning-rate step, or a bias initialised too negative, can
# put a unit there.
#
# `tinyconv.dead.dead_units(model, loader)` measures, for every ReLU (and LeakyReLU) layer, the
# fraction of units that are never active over a dataset (a unit of a convolution is one channel:
# all its positions share one filter and bias). `fit(..., track_dead=True)` and
# `tinyconv train lenet5 --track-dead` log it after every epoch.

# %%
import math
import time

import tinyconv as tc
import numpy as np
import matplotlib.pyplot as plt

from tinyconv import data
from tinyconv.dead import dead_units
from tinyconv.models import lenet5
from tinyconv.optim import SGD
from tinyconv.train import fit

t_start = time.perf_counter()
full = data.MNIST(train=True)
test_set = data.MNIST(train=False)
keep = np.concatenate([np.flatnonzero(full.targets == d)[:200] for d in range(10)])
train_set = data.TensorDataset(full.data[keep, None].astype(np.float32) / 255, full.targets[keep])
transform = data.Compose([data.Pad(2), data.Normalize(data.MNIST_MEAN, data.MNIST_STD)])
test_loader = data.DataLoader(test_set, batch_size=500, transform=transform)
plain_loader = data.DataLoader(train_set, batch_size=500, transform=transform)
n = len(train_set)
print(f"{n} training images")

# %% [markdown]
# ## 1. When is a unit dead? A statistical condition
#
# Over the training set a unit's pre-activation $z_j = w_j \cdot x + b_j$ has some mean $\mu_j$
# and standard deviation $\sigma_j$. If $z_j$ were Gaussian, one input would switch the unit on
# with probability $\Phi(\mu_j / \sigma_j)$ ($\Phi$: the standard normal CDF), and $n$
# independent inputs would all leave it off with probability
#
# $$ P(\text{dead}) = \bigl(1 - \Phi(\mu_j / \sigma_j)\bigr)^n . $$
#
# This is close to 1 once $\mu_j/\sigma_j < -\Phi^{-1}(1 - 1/n)$, and close to 0 once
# $\mu_j/\sigma_j$ is a little larger: with $n$ inputs a unit dies when its mean sits more than
# about that many standard deviations below zero. Lowering the bias by $c$ lowers every $\mu_j$
# by $c$. The exact condition is simpler: the unit is dead iff $\max_x z_j(x) \le 0$.
#
# We check the prediction on LeNet-5's first fully connected layer (120 units fed by 400
# features) at initialisation: record $z_j$ for all training images, then lower the biases by
# $c$ and compare the Gaussian prediction with the count of units whose maximum falls below 0.

# %%
tc.manual_seed(0)
model = lenet5()
captured = []
handle = model.classifier[0].register_forward_hook(lambda m, a, out: captured.append(out.numpy().copy()))
dead_units(model, plain_loader)  # one pass over the training set; the hook keeps z
handle.remove()
z = np.concatenate(captured)                               # (n, 120)
mu, sigma, zmax = z.mean(0), z.std(0), z.max(0)
phi = np.vectorize(lambda v: 0.5 * math.erfc(-v / math.sqrt(2)))
threshold = -float(np.interp(1 - 1 / n, phi(np.linspace(0, 6, 6001)), np.linspace(0, 6, 6001)))
print(f"n = {n}: the Gaussian model puts the edge at mu/sigma = {threshold:.2f}")
shifts = np.linspace(0, 1.2 * zmax.max(), 60)
measured = [(zmax - c <= 0).mean() for c in shifts]
predicted = [np.mean((1 - phi((mu - c) / sigma)) ** n) for c in shifts]
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.plot(shifts, 100 * np.array(measured), "o", ms=3, label="measured: max over the data <= 0")
ax.plot(shifts, 100 * np.array(predicted), "-", label="predicted: mean of $(1-\\Phi(\\mu/\\sigma))^n$")
ax.set(xlabel="bias lowered by c", ylabel="dead units (%)", title="LeNet-5, first FC layer, at initialisation")
ax.legend()
fig.tight_layout()
c50 = float(np.interp(0.5, measured, shifts))
i50 = int(np.argmin(np.abs(shifts - c50)))
print(f"measured: half the units are dead once the bias is lowered by c = {c50:.2f}; "
      f"there the Gaussian prediction is {100 * predicted[i50]:.0f}%")
gap = np.max(np.abs(np.array(measured) - np.array(predicted)))
print(f"largest gap between prediction and measurement over the sweep: {100 * gap:.0f} points")
print(f"typical unit: mu = {np.median(mu):+.2f}, sigma = {np.median(sigma):.2f}, "
      f"max/sigma above the mean = {np.median((zmax - mu) / sigma):.2f} (Gaussian expects about {-threshold:.2f})")

# %% [markdown]
# The last line is the check of the Gaussian assumption: a unit's largest value over the $n$
# images sits the number of standard deviations above its mean printed there, against the
# Gaussian's expectation next to it. Where the tail of $z$ is lighter or heavier than a
# Gaussian's, the prediction curve shifts left or right of the measurement by that much.
#
# ## 2. Too large a learning rate
#
# One SGD step moves a bias by $-\eta\,\partial L/\partial b$. If a single step pushes
# $\mu_j$ below the edge above, the unit is dead from then on. We train LeNet-5 for two epochs
# with learning rate 0.02 and 0.15 (momentum 0.9), with ReLU and with LeakyReLU (slope 0.01 below
# zero), and record the dead fraction of each activation layer after every epoch. For
# LeakyReLU "dead" means "never positive": such a unit still passes 1% of its gradient and can
# come back.

# %%
runs = {}
t0 = time.perf_counter()
for act in ("relu", "leaky_relu"):
    for lr in (0.02, 0.15):
        tc.manual_seed(0)
        model = lenet5(activation=act)
        opt = SGD(model.parameters(), lr=lr, momentum=0.9)
        loader = data.DataLoader(train_set, batch_size=64, shuffle=True, seed=0, transform=transform)
        before = dead_units(model, plain_loader)
        try:
            history = fit(model, opt, loader, test_loader, 2, track_dead=True, log=lambda s: None)
        except RuntimeError as err:  # a loss that turns NaN stops fit: report it, plot the rest
            print(f"{act}, lr {lr}: {err}")
            continue
        runs[act, lr] = [before] + [h["dead"] for h in history], history[-1]["test_accuracy"]
print(f"4 runs in {time.perf_counter() - t0:.1f} s")
layers = list(next(iter(runs.values()))[0][0])
names = {"features.1": "conv1", "features.4": "conv2", "classifier.1": "fc1", "classifier.3": "fc2"}
print(f"{'activation':<12}{'lr':>6}  " + "".join(f"{names[l]:>8}" for l in layers) + "   test acc   (dead after 2 epochs)")
for (act, lr), (dead, acc) in runs.items():
    print(f"{act:<12}{lr:>6}  " + "".join(f"{100 * dead[-1][l]:>7.0f}%" for l in layers) + f"   {100 * acc:7.1f}%")

fig, axes = plt.subplots(1, 4, figsize=(13, 3), sharey=True)
for ax, layer in zip(axes, layers):
    for (act, lr), (dead, acc) in runs.items():
        ax.plot(range(3), [100 * d[layer] for d in dead], "o-" if act == "relu" else "s--",
                label=f"{act}, lr {lr}")
    ax.set(title=names[layer], xlabel="epoch", xticks=range(3))
axes[0].set_ylabel("dead units (%)")
axes[-1].legend(fontsize=7)
fig.tight_layout()

# %% [markdown]
# ## 3. A negative bias, and what LeakyReLU does about it
#
# Now the cause is planted on purpose: lower the first FC layer's biases by the $c$ that kills
# half of its units at initialisation (measured in section 1, for each activation's own network),
# then train with a moderate learning rate. A dead ReLU unit gets exactly zero gradient, so it can
# only come back if the layers below it change its inputs; a LeakyReLU unit keeps learning.

# %%
def fc1_inputs_max(model):
    captured = []
    h = model.classifier[0].register_forward_hook(lambda m, a, out: captured.append(out.numpy().max(0)))
    dead_units(model, plain_loader)
    h.remove()
    return np.max(captured, axis=0)


planted = {}
for act in ("relu", "leaky_relu"):
    tc.manual_seed(0)
    model = lenet5(activation=act)
    zmax = fc1_inputs_max(model)
    c = float(np.median(zmax))                    # half the units' maxima lie below c
    model.classifier[0].bias.data[...] -= c
    opt = SGD(model.parameters(), lr=0.02, momentum=0.9)
    loader = data.DataLoader(train_set, batch_size=64, shuffle=True, seed=0, transform=transform)
    before = dead_units(model, plain_loader)["classifier.1"]
    history = fit(model, opt, loader, test_loader, 2, track_dead=True, log=lambda s: None)
    planted[act] = [before] + [h["dead"]["classifier.1"] for h in history]
    print(f"{act:<11} bias lowered by {c:.2f}: fc1 dead {', '.join(f'{100 * d:.0f}%' for d in planted[act])} "
          f"(init, epoch 1, epoch 2); test accuracy {100 * history[-1]['test_accuracy']:.1f}%")
print(f"notebook ran in {time.perf_counter() - t_start:.1f} s")

# %% [markdown]
# **Takeaways.** A ReLU unit is dead when its pre-activation is negative on every input; with
# $n$ inputs and a roughly Gaussian pre-activation that happens once its mean sits a few standard
# deviations below zero, and section 1 measures how well that rule of thumb matches the real
# count. A large step or a negative bias puts units there; LeakyReLU's small negative slope
# keeps a gradient flowing so that such units can recover — the measured fractions above show
# how much each of these matters for LeNet-5 on digits.
