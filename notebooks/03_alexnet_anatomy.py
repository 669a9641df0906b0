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
# # Chapter 3 — The anatomy of AlexNet
#
# AlexNet (Krizhevsky, Sutskever and Hinton, 2012) won ImageNet's 1,000-class competition by a
# wide margin with five convolutional layers and three fully connected ones, about 60 million
# parameters, trained on two GTX 580 GPUs with 3 GB each. This chapter dissects the network that
# tinyconv builds as `alexnet("original")`: where its parameters and its arithmetic live, how far
# each layer sees, and what three of its design choices — the large strided first filter, grouped
# convolutions, and local response normalization — actually do.

# %%
import tinyconv as tc
import numpy as np
import matplotlib.pyplot as plt

import tinyconv.nn.functional as F
from tinyconv.models import alexnet
from tinyconv.summary import summarize

tc.manual_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Where the parameters live, and where the arithmetic goes
#
# `summarize` traces the model on one $3 \times 227 \times 227$ image and reports, for every layer,
# its output shape, parameter count and multiply-accumulates (MACs).

# %%
model = alexnet("original")
s = summarize(model, (3, 227, 227))


def paper_names(rows):
    """The paper's names (conv1..conv5, fc6..fc8) for the model's Conv2d and Linear rows."""
    learnable = [r["name"] for r in rows if r["layer"] in ("Conv2d", "Linear")]
    return {n: (f"conv{i + 1}" if i < 5 else f"fc{i + 1}") for i, n in enumerate(learnable)}


short = paper_names(s["rows"])
layers = [r for r in s["rows"] if r["layer"] in ("Conv2d", "Linear")]
print(f"{'layer':<7}{'module':<14}{'output':<16}{'params':>12}{'MACs':>16}")
for r in layers:
    print(f"{short[r['name']]:<7}{r['name']:<14}{str(r['output']):<16}{r['params']:>12,}{r['macs']:>16,}")
print(f"\ntotal parameters {s['total_params']:,}; fully connected {s['fc_params']:,} "
      f"= {100 * s['fc_share']:.1f}%")
conv_macs = sum(r["macs"] for r in layers if r["layer"] == "Conv2d")
print(f"convolutions do {100 * conv_macs / s['total_macs']:.1f}% of the {s['total_macs']:,} MACs per image")

# %%
from matplotlib.patches import Patch

names = [short[r["name"]] for r in layers]
colors = ["C0" if r["layer"] == "Conv2d" else "C1" for r in layers]
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
for ax, key, title in ((axes[0], "params", "parameters"), (axes[1], "macs", "multiply-accumulates per image")):
    vals = np.array([r[key] for r in layers]) / 1e6
    ax.bar(range(len(layers)), vals, color=colors)
    ax.set_xticks(range(len(layers)), names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("millions")
    share = vals / vals.sum()
    for i, (v, f) in enumerate(zip(vals, share)):
        ax.text(i, v, f"{100 * f:.0f}%", ha="center", va="bottom", fontsize=8)
    ax.set_title(title)
axes[0].legend(handles=[Patch(color="C0", label="convolution"), Patch(color="C1", label="fully connected")])
fig.tight_layout()

# %% [markdown]
# The two charts are almost mirror images. The three fully connected layers hold 96% of the
# parameters but do under a tenth of the arithmetic; the five convolutions hold 4% of the
# parameters and do over nine tenths of the work. The reason is reuse: a convolution
# weight is applied at every output position ($55^2 = 3025$ times per image in the first layer),
# a fully connected weight exactly once.
#
# The single largest matrix is the first fully connected layer, $9216 \to 4096$: the flattened
# $256 \times 6 \times 6$ feature map connected to everything. Those 37.7 million numbers are most
# of the network's capacity to memorise its training set, and the paper fights that overfitting
# with dropout on the first two fully connected layers.
#
# ## 2. Global average pooling: a head with 0.4% of the parameters
#
# Later networks (Network in Network, then GoogLeNet and ResNet) replaced the fully connected
# stack by **global average pooling** (GAP): average each of the 256 final feature maps to one
# number, then a single linear layer to the classes,
#
# $$
# \text{logits}_k = b_k + \sum_{c=1}^{256} W_{kc}\, \frac{1}{HW}\sum_{i,j} a_{c,i,j}.
# $$
#
# tinyconv builds this head as `alexnet("gap")`. Compare the two classifiers:

# %%
gap = summarize(alexnet("gap"), (3, 227, 227))
head_orig = s["fc_params"]
head_gap = gap["fc_params"]
print(f"classifier parameters: original {head_orig:,}  GAP {head_gap:,}  "
      f"(= 256 x 1000 + 1000 = {256 * 1000 + 1000:,}; {head_orig / head_gap:.0f}x fewer)")
print(f"whole network:         original {s['total_params']:,}  GAP {gap['total_params']:,}")
for r in gap["rows"][-3:]:
    print(f"  {r['name']:<16}{r['layer']:<20}{str(r['output']):<14}{r['params']:>10,}")

# %% [markdown]
# The classifier shrinks by a factor of over two hundred. Beyond size, GAP changes what the
# network is forced to learn: with no matrix to mix positions, each class score is an average over
# locations of a linear score of the local features, so a feature map must itself say "there is a
# dog here". That constraint is also a regulariser, and it frees the network from a fixed input
# size — the averaging works on any $H \times W$.
#
# ## 3. Receptive fields: one big filter or a stack of small ones
#
# The **receptive field** of a unit is the patch of input pixels that can influence it. Through a
# chain of sliding windows with effective kernel sizes $k_\ell$ and strides $s_\ell$, it grows as
#
# $$
# r_\ell = r_{\ell-1} + (k_\ell - 1)\, j_{\ell-1}, \qquad j_\ell = j_{\ell-1}\, s_\ell,
# $$
#
# where the *jump* $j$ is the distance in input pixels between neighbouring units. The summary
# already tracks both:

# %%
print(f"{'layer':<8}{'module':<14}{'type':<12}{'RF':>6}{'jump':>6}")
for r in s["rows"]:
    if r["layer"] in ("Conv2d", "MaxPool2d"):
        label = short.get(r["name"], "pool")
        print(f"{label:<8}{r['name']:<14}{r['layer']:<12}{r['receptive_field']:>6}{r['jump']:>6}")

# %% [markdown]
# After conv5 and the last pooling, one unit sees a $195 \times 195$ window of the $227 \times 227$
# image; most of that growth comes from the stride-4 first layer, which multiplies every later
# kernel's reach by 4.
#
# VGGNet (2014) made a different trade: only $3 \times 3$ filters, stacked. $n$ stacked
# $3 \times 3$ layers reach $2n + 1$ pixels — the same as one $(2n+1) \times (2n+1)$ filter — with
# $9nC^2$ weights instead of $(2n+1)^2 C^2$ (for $C$ channels in and out), and with a
# non-linearity between each layer.

# %%
C = 256
print(f"{'layers':>7}{'RF':>5}{'stack of 3x3':>16}{'one big filter':>17}{'ratio':>8}")
for n in range(1, 6):
    stack, big = n * 9 * C * C, (2 * n + 1) ** 2 * C * C
    print(f"{n:>7}{2 * n + 1:>5}{stack:>16,}{big:>17,}{big / stack:>8.2f}")

# %% [markdown]
# We can *measure* a receptive field instead of trusting the recursion: back-propagate from one
# output unit and see which input pixels receive a non-zero gradient. Three stacked $3 \times 3$
# convolutions should light up a $7 \times 7$ square. AlexNet's first stage — $11 \times 11$ at
# stride 4, then a $3 \times 3$ pool at stride 2 — should light up $11 + 2 \cdot 4 = 19$ pixels.
# (We use average pooling for the measurement: it has the same windows as max-pooling, but
# passes gradient to every element, so the whole field shows up rather than only the argmax.)

# %%
def input_gradient(forward, size, channels=1):
    x = tc.tensor(np.zeros((1, channels, size, size)), requires_grad=True)
    y = forward(x)
    upstream = np.zeros(y.shape)
    upstream[0, 0, y.shape[2] // 2, y.shape[3] // 2] = 1.0     # one unit in the middle
    y.backward(upstream)
    return np.abs(x.grad.numpy()[0]).sum(axis=0)


def extent(g):
    rows, cols = np.nonzero(g > 0)
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


w3 = [tc.tensor(rng.uniform(0.1, 1, (4, 4 if i else 1, 3, 3))) for i in range(3)]
g_stack = input_gradient(lambda x: F.conv2d(F.conv2d(F.conv2d(x, w3[0]), w3[1]), w3[2]), 15)

w11 = tc.tensor(rng.uniform(0.1, 1, (2, 1, 11, 11)))
g_alex = input_gradient(lambda x: F.avg_pool2d(F.conv2d(x, w11, stride=4), 3, stride=2), 51)

ones3 = tc.tensor(np.ones((1, 1, 3, 3)))


def six_box_layers(x):
    for _ in range(6):
        x = F.conv2d(x, ones3)
    return x


g_deep = input_gradient(six_box_layers, 25)
print("three 3x3 convs:         ", extent(g_stack))
print("11x11/4 conv + 3x3/2 pool:", extent(g_alex))
print("six 3x3 convs:           ", extent(g_deep))

# %%
fig, axes = plt.subplots(1, 4, figsize=(13, 3.3), gridspec_kw={"width_ratios": [1, 1, 1, 1.3]})
for ax, g, title in ((axes[0], g_stack, "three 3×3 convs"),
                     (axes[1], g_alex, "11×11 stride 4 + 3×3 pool stride 2"),
                     (axes[2], g_deep, "six 3×3 convs (all-ones weights)")):
    ax.imshow(g > 0, cmap="Greys")
    h, w_ = extent(g)
    ax.set_title(f"{title}\nreceptive field {h}×{w_}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
mid = g_deep.shape[0] // 2
profile = g_deep[mid] / g_deep[mid].max()
axes[3].bar(np.arange(len(profile)) - len(profile) // 2, profile)
axes[3].set_title("six 3×3 convs: gradient along the middle row", fontsize=9)
axes[3].set_xlabel("offset from centre (pixels)")
fig.tight_layout()

# %% [markdown]
# The measured squares match the recursion. The last panel adds a caution: the receptive field is
# the *support* of the influence, not its shape. Through six box filters the number of paths from
# an input pixel to the centre unit follows a (two-dimensional) binomial distribution, so pixels
# near the edge of the field contribute orders of magnitude less than the centre — the
# *effective* receptive field is much smaller than the theoretical one.
#
# ## 4. Grouped convolution: the wall between the two GPUs
#
# AlexNet's 60 million parameters and their activations did not fit on one 3 GB GPU, so the
# authors split each layer's channels between two GPUs and let the GPUs talk only at some layers.
# In modern terms, conv2, conv4 and conv5 are **grouped convolutions** with `groups=2`: the input
# channels are split in two halves, the output channels too, and output half $g$ is computed only
# from input half $g$. The weight tensor shrinks accordingly to $(O, C/\text{groups}, k, k)$.

# %%
for name, m in model.named_modules():
    if type(m).__name__ == "Conv2d":
        print(f"{short[name]:<7}({name:<12}) groups={m.groups}  weight {m.weight.shape}")

# %% [markdown]
# The wall is exact, and we can see it two ways. **Forward:** put a signal in the first half of
# the input channels only; with `groups=2` the second half of the outputs stays exactly zero.
# **Backward:** the gradient of output channel $o$ with respect to input channel $c$ is exactly
# zero whenever $o$ and $c$ are in different groups. Below, a 4-channel convolution: the
# coupling matrix entry $(o, c)$ is $\sum |\partial y_o / \partial x_c|$, obtained with one
# backward pass per output channel.

# %%
x_sig = np.zeros((1, 4, 8, 8))
x_sig[:, :2] = rng.standard_normal((1, 2, 8, 8))      # signal in group 0's channels only
coupling = {}
for groups in (1, 2):
    wg = tc.tensor(rng.standard_normal((4, 4 // groups, 3, 3)))
    y = F.conv2d(tc.tensor(x_sig), wg, padding=1, groups=groups).numpy()
    print(f"groups={groups}: max |y| per output channel", np.round(np.abs(y).max(axis=(0, 2, 3)), 3))
    m = np.zeros((4, 4))
    for o in range(4):
        xt = tc.tensor(rng.standard_normal((1, 4, 8, 8)), requires_grad=True)
        out = F.conv2d(xt, wg, padding=1, groups=groups)
        upstream = np.zeros(out.shape)
        upstream[:, o] = 1.0
        out.backward(upstream)
        m[o] = np.abs(xt.grad.numpy()).sum(axis=(0, 2, 3))
    coupling[groups] = m

# %%
fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
for ax, groups in zip(axes, (1, 2)):
    m = coupling[groups]
    ax.imshow(m > 0, cmap="Blues", vmin=0, vmax=1.4)
    for (o, c), v in np.ndenumerate(m):
        ax.text(c, o, f"{v:.1f}" if v else "0", ha="center", va="center", fontsize=9)
    ax.set_xlabel("input channel c")
    ax.set_ylabel("output channel o")
    ax.set_title(f"groups={groups}: " + r"$\sum|\partial y_o/\partial x_c|$")
    ax.set_xticks(range(4))
    ax.set_yticks(range(4))
fig.tight_layout()

# %% [markdown]
# With `groups=2` the coupling matrix is block diagonal: the off-diagonal blocks are not small,
# they are exactly zero. Information crosses the wall only at layers with `groups=1`: conv3 and
# the fully connected layers. The paper reports that the two halves specialised — one GPU's
# first-layer filters came out largely colour-agnostic, the other's colour-specific — a visible
# consequence of the wall. Grouping also halves a layer's weights and arithmetic; ResNeXt later
# used many groups on purpose, and depthwise convolutions (one group per channel) take it to the
# limit.
#
# ## 5. Local response normalization: lateral inhibition
#
# After the ReLUs of conv1 and conv2, AlexNet divides each activation by a function of the
# activity of its neighbours *across channels* at the same pixel:
#
# $$
# b^{c} = a^{c} \Big/ \Big(k + \alpha \sum_{c' = c - \lfloor n/2 \rfloor}^{c + \lfloor (n-1)/2 \rfloor} (a^{c'})^2\Big)^{\beta},
# \qquad k = 2,\ n = 5,\ \alpha = 10^{-4},\ \beta = 0.75 .
# $$
#
# This is the paper's form (`convention="paper"`); PyTorch and Caffe divide $\alpha$ by $n$. The
# inspiration is *lateral inhibition* in biological vision: a strongly firing neuron suppresses
# its neighbours, so the winners stand out. The paper credits LRN with 1.4 / 1.2 points of top-1 /
# top-5 error; later networks dropped it for batch normalization.
#
# Experiment: 16 channels at one pixel, all active at 20 (activations in AlexNet are unnormalised
# and often in the tens or hundreds), except channel 8, whose strength $a$ we sweep.

# %%
lrn = dict(size=5, alpha=1e-4, beta=0.75, k=2.0, convention="paper")
strengths = np.linspace(0, 600, 121)
batch = np.full((len(strengths), 16, 1, 1), 20.0)
batch[:, 8, 0, 0] = strengths
out = F.local_response_norm(tc.tensor(batch), **lrn).numpy()[:, :, 0, 0]

base = out[np.argmin(np.abs(strengths - 20))]          # every channel at 20: the neutral state
for c in (9, 10, 11):
    print(f"channel {c} (distance {c - 8}): output {base[c]:.3f} when channel 8 is at 20, "
          f"{out[-1, c]:.3f} when it is at {strengths[-1]:.0f}")
peak = strengths[np.argmax(out[:, 8])]
others = 4 * 20.0 ** 2
print(f"channel 8's own output peaks at a = {peak:.0f}; "
      f"the formula's maximum is at sqrt((k + alpha*{others:.0f}) / (alpha*(2*beta - 1))) = "
      f"{np.sqrt((2 + 1e-4 * others) / (1e-4 * 0.5)):.0f}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
ax = axes[0]
strong = int(np.argmin(np.abs(strengths - 300)))
ch = np.arange(16)
ax.bar(ch - 0.2, base, 0.4, label="all channels at 20")
ax.bar(ch + 0.2, out[strong], 0.4, label=f"channel 8 raised to {strengths[strong]:.0f}")
ax.set_xlabel("channel")
ax.set_ylabel("output after LRN")
ax.set_title("a strong channel suppresses channels 6–10")
ax.legend(fontsize=8)
ax = axes[1]
for c, label in ((8, "channel 8 (the one being raised)"), (9, "channels 9 and 10 (inside its window)"),
                 (11, "channel 11 (outside)")):
    ax.plot(strengths, out[:, c], label=label)
ax.axvline(np.sqrt((2 + 1e-4 * others) / (1e-4 * 0.5)), ls=":", color="0.4")
ax.set_xlabel("input strength of channel 8")
ax.set_ylabel("output after LRN")
ax.set_title("inhibition of the neighbours, saturation of the winner")
ax.legend(fontsize=8)
fig.tight_layout()

# %% [markdown]
# Channels 6 to 10 share channel 8's window and are pushed down several-fold as it grows, while
# channel 11, three channels away, does not notice at all. (Channels 9 and 10 give identical
# curves: each window contains channel 8 and otherwise only channels at 20.) The strong channel
# itself is compressed: its output rises, peaks (dotted line), and then *falls*, because for large
# $a$, $b \approx a / (\alpha a^2)^{0.75} \propto a^{-1/2}$. LRN is therefore a soft competition
# with saturation, not a monotone rescaling — one reason it was hard to tune and easy to replace.
#
# ## Summary
#
# - 96% of AlexNet's parameters sit in the fully connected layers, but over 90% of its
#   arithmetic is in the convolutions: parameters and compute are different budgets.
# - A global-average-pooling head replaces 58.6 million classifier parameters by 257,000.
# - Receptive fields follow $r \mathrel{+}= (k-1)\,j$, $j \mathrel{*}= s$; stacks of $3 \times 3$
#   filters reach as far as one big filter with fewer weights, and influence concentrates in the
#   centre of the field.
# - Grouped convolution builds an exact wall: no value and no gradient crosses between groups.
# - LRN divides by the energy of neighbouring channels: lateral inhibition with saturation.
