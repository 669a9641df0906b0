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
# # Chapter 1 — Convolution from scratch
#
# A convolutional layer slides a small bank of filters over an image and, at every position,
# takes a dot product between each filter and the patch beneath it. That one sentence hides
# four questions this chapter answers with code:
#
# 1. **What exactly is computed?** We write the definition as a loop and check tinyconv against it.
# 2. **How big is the output?** We derive the output-size formula and follow AlexNet's
#    $227 \to 55 \to 27 \to 13 \to 6$ chain through the real model.
# 3. **Why share weights?** We count the parameters LeNet-5 saves over a locally connected layer
#    and see what the sharing buys besides size: translation equivariance.
# 4. **How is it computed fast, and what does striding cost?** We turn convolution into a matrix
#    multiply with `im2col`, and watch a stride of 4 fold fine detail into false coarse patterns.

# %%
import tinyconv as tc
import numpy as np
import matplotlib.pyplot as plt

import tinyconv.nn.functional as F
from tinyconv.kernels.reference.conv import im2col
from tinyconv.models import alexnet, lenet5
from tinyconv.summary import summarize

tc.manual_seed(0)
rng = np.random.default_rng(0)
print("backend:", tc.get_backend())

# %% [markdown]
# ## 1. The definition, as a loop
#
# Deep-learning "convolution" is, strictly, cross-correlation: the filter is not flipped. For an
# input $x$ of shape $(N, C, H, W)$, filters $w$ of shape $(O, C, k_h, k_w)$ and a bias $b$, with
# stride $s$, zero padding $p$ and dilation $d$ (the gap between filter taps),
#
# $$
# y[n, o, i, j] = b[o] + \sum_{c=0}^{C-1} \sum_{u=0}^{k_h-1} \sum_{v=0}^{k_w-1}
#     w[o, c, u, v]\; x_{\text{pad}}[n, c,\; s\,i + d\,u,\; s\,j + d\,v].
# $$
#
# The loop below is that equation and nothing else. It is far too slow for real use, which is
# exactly why it is a good witness: there is nowhere for a bug to hide.

# %%
def conv2d_loops(x, w, b, stride=1, padding=0, dilation=1):
    N, C, H, W = x.shape
    O, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    OH = (H + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    OW = (W + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    y = np.empty((N, O, OH, OW))
    for n in range(N):
        for o in range(O):
            for i in range(OH):
                for j in range(OW):
                    r, c = i * stride, j * stride
                    patch = xp[n, :, r:r + dilation * (kh - 1) + 1:dilation,
                                     c:c + dilation * (kw - 1) + 1:dilation]
                    y[n, o, i, j] = np.sum(patch * w[o]) + b[o]
    return y


x = rng.standard_normal((2, 3, 9, 11))
w = rng.standard_normal((4, 3, 3, 2))          # a non-square kernel, on purpose
b = rng.standard_normal(4)
hyper = dict(stride=2, padding=1, dilation=2)

y_loops = conv2d_loops(x, w, b, **hyper)
y_tc = F.conv2d(tc.tensor(x), tc.tensor(w), tc.tensor(b), **hyper).numpy()
print("output shape:", y_tc.shape)
print("max |loops - tinyconv| =", np.abs(y_loops - y_tc).max())

# %% [markdown]
# The two agree to the last few bits of float64. Everything that follows builds on this.
#
# ## 2. How big is the output?
#
# Along one axis, pad the input of length $n$ with $p$ zeros on each side: length $n + 2p$.
# A filter of $k$ taps spaced $d$ apart spans $d(k-1) + 1$ pixels, so its first tap can sit at
# positions $0, 1, \dots, n + 2p - d(k-1) - 1$. Taking every $s$-th of those positions gives
#
# $$
# n_{\text{out}} = \left\lfloor \frac{n + 2p - d(k-1) - 1}{s} \right\rfloor + 1 .
# $$
#
# The floor matters: when the stride does not divide evenly, the last few input rows are never
# visited. We check the formula against tinyconv's convolution on a few dozen random settings.

# %%
def out_size(n, k, s=1, p=0, d=1):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


checked = 0
for _ in range(40):
    n, k, s, p, d = (int(rng.integers(5, 20)), int(rng.integers(1, 6)), int(rng.integers(1, 5)),
                     int(rng.integers(0, 3)), int(rng.integers(1, 3)))
    if out_size(n, k, s, p, d) < 1:
        continue
    xs = tc.tensor(np.zeros((1, 1, n, n), np.float32))
    ws = tc.tensor(np.zeros((1, 1, k, k), np.float32))
    got = F.conv2d(xs, ws, stride=s, padding=p, dilation=d).shape[-1]
    assert got == out_size(n, k, s, p, d), (n, k, s, p, d, got)
    checked += 1
print(f"formula matches conv2d on {checked} random (n, k, s, p, d) settings")

# %% [markdown]
# ### AlexNet's chain, step by step
#
# AlexNet's first layer reads a $227 \times 227$ RGB image with 96 filters of $11 \times 11$ at
# stride 4 and no padding. (The paper's text says 224; with no padding 224 does not give a whole
# number of positions, as the first line below shows. 227 does.) Max-pooling layers use
# $3 \times 3$ windows at stride 2 — windows that overlap, which the paper credits with a small
# gain over non-overlapping pooling — and obey the same formula.

# %%
print("224 without padding:", (224 - 11) / 4 + 1, "positions -> not an integer")

chain = [("conv1", 11, 4, 0), ("pool1", 3, 2, 0), ("conv2", 5, 1, 2), ("pool2", 3, 2, 0),
         ("conv3", 3, 1, 1), ("conv4", 3, 1, 1), ("conv5", 3, 1, 1), ("pool5", 3, 2, 0)]
n = 227
sides = [n]
for name, k, s, p in chain:
    m = out_size(n, k, s, p)
    print(f"{name}: floor(({n} + 2*{p} - {k})/{s}) + 1 = floor({n + 2 * p - k}/{s}) + 1 = {m}")
    n = m
    sides.append(n)

# %% [markdown]
# Now the real model. `summarize` pushes a zero image through every layer of
# `alexnet("original")` and records each output shape; the spatial sizes of the convolution and
# pooling layers must be the ones we just derived. The last one, $256 \times 6 \times 6 = 9216$
# numbers, is what the first fully connected layer receives.

# %%
alex = alexnet("original")
rows = [r for r in summarize(alex, (3, 227, 227))["rows"] if r["layer"] in ("Conv2d", "MaxPool2d")]
for (name, *_), r, expected in zip(chain, rows, sides[1:]):
    print(f"{name:<6}{r['name']:<13}{r['layer']:<10} output {str(r['output']):<15} formula: {expected}")
    assert r["output"][-1] == expected
channels = [3] + [r["output"][0] for r in rows]
print("flattened:", int(np.prod(rows[-1]["output"])))

# %%
fig, ax = plt.subplots(figsize=(8, 3.2))
labels = ["input"] + [name for name, *_ in chain]
ax.plot(range(len(sides)), sides, "o-", label="spatial side (pixels)")
for i, (s_, c_) in enumerate(zip(sides, channels)):
    ax.annotate(f"{c_}×{s_}×{s_}", (i, s_), textcoords="offset points", xytext=(0, 8),
                ha="center", fontsize=8)
ax.set_yscale("log")
ax.set_xticks(range(len(labels)), labels)
ax.set_ylabel("side length (log)")
ax.set_ylim(3, 600)
ax.set_xlim(-0.6, len(labels) - 0.4)
ax.set_title("AlexNet trades spatial size for channels")
fig.tight_layout()

# %% [markdown]
# Spatial size collapses while the channel count grows: the network exchanges *where* for *what*.
#
# ## 3. Weight sharing versus local connection
#
# A convolution makes two assumptions about images. **Locality**: an output looks only at a small
# patch. **Stationarity**: the same pattern means the same thing wherever it appears, so every
# position uses the *same* filter. A *locally connected* layer keeps locality but drops sharing:
# each output position gets its own private filter.
#
# LeNet-5's first layer has 6 filters of $5 \times 5$ on a $32 \times 32$ image, giving
# $28 \times 28$ outputs per filter. With sharing that costs $6 \cdot (25 + 1) = 156$ parameters.
# Without sharing, each of the $28 \cdot 28$ positions needs its own 25 weights and bias:
# $6 \cdot 28 \cdot 28 \cdot 26 = 122{,}304$.
#
# `im2col` (section 4 explains it) lays each $5 \times 5$ patch out as a column, so a locally
# connected layer is a single `einsum` with one weight vector per (filter, position).

# %%
lenet_rows = summarize(lenet5(), (1, 32, 32))["rows"]
print("LeNet-5 first layer:", lenet_rows[0]["name"], lenet_rows[0]["output"],
      f"{lenet_rows[0]['params']} parameters")

w_local = rng.standard_normal((6, 25, 28 * 28)) * 0.2   # (filter, tap, position)
b_local = rng.standard_normal((6, 28 * 28)) * 0.2
n_local = w_local.size + b_local.size
print(f"locally connected layer: {n_local:,} parameters, {n_local / lenet_rows[0]['params']:.0f}x more")


def locally_connected(x):
    cols = im2col(x, (5, 5), (1, 1), (0, 0), (1, 1))             # (N, 25, 784)
    y = np.einsum("nkp,okp->nop", cols, w_local) + b_local
    return y.reshape(x.shape[0], 6, 28, 28)


# %% [markdown]
# Size is only half the story. Because a convolution applies the same filter everywhere, moving
# the input moves the output by the same amount: it is **translation equivariant**,
# $\operatorname{conv}(\operatorname{shift} x) = \operatorname{shift}(\operatorname{conv} x)$.
# A locally connected layer has no reason to be. We shift a real MNIST digit by 3 pixels down and
# 2 right and compare both layers. (The digit sits in a zero border, so the shift loses nothing.)

# %%
test_set = tc.data.MNIST(train=False)
digit = test_set[int(np.flatnonzero(test_set.targets == 3)[0])][0]
digit = digit.reshape(1, 1, 28, 28).astype(np.float64)
img = np.pad(digit, ((0, 0), (0, 0), (2, 2), (2, 2)))              # 32 x 32, as LeNet-5 expects
shifted = np.roll(img, (3, 2), axis=(2, 3))

w_shared = rng.standard_normal((6, 1, 5, 5)) * 0.2
b_shared = rng.standard_normal(6) * 0.2


def shared(x):
    return F.conv2d(tc.tensor(x), tc.tensor(w_shared), tc.tensor(b_shared)).numpy()


def equivariance_error(layer):
    a = np.roll(layer(img), (3, 2), axis=(2, 3))[..., 5:, 5:]      # compare away from the wrap-around
    b_ = layer(shifted)[..., 5:, 5:]
    return np.abs(a - b_).max() / np.abs(b_).max(), a, b_


err_conv, a_conv, b_conv = equivariance_error(shared)
err_local, a_local, b_local_ = equivariance_error(locally_connected)
print(f"relative error, shared filters:     {err_conv:.1e}")
print(f"relative error, locally connected:  {err_local:.2f}")

# %%
fig, axes = plt.subplots(1, 4, figsize=(11, 3))
panels = [(img[0, 0], "input"), (shifted[0, 0], "input shifted (3, 2)"),
          (np.abs(a_conv - b_conv)[0, 0], f"conv: |shift∘f − f∘shift|\nmax {np.abs(a_conv - b_conv).max():.1e}"),
          (np.abs(a_local - b_local_)[0, 0], f"locally connected\nmax {np.abs(a_local - b_local_).max():.2f}")]
for ax, (im, title) in zip(axes, panels):
    ax.imshow(im, cmap="gray")
    ax.set_title(title, fontsize=9)
    ax.axis("off")
fig.tight_layout()

# %% [markdown]
# The shared filter commutes with the shift exactly (at worst it would differ by rounding); the
# locally connected layer does not. Sharing is therefore not a compression trick but a statement about the world — a
# stroke is a stroke wherever it is — and the 784-fold parameter saving is a consequence of it.
#
# ## 4. im2col: convolution as one matrix multiply
#
# The loop in section 1 does the same small dot product many times. If we copy every receptive
# field into a column of a matrix, all those dot products become a single matrix multiply, which
# BLAS runs near the machine's peak. For one image:
#
# $$
# \underbrace{W}_{O \times (C k_h k_w)} \;\cdot\; \underbrace{\text{cols}(x)}_{(C k_h k_w) \times (OH \cdot OW)}
# \;=\; \underbrace{Y}_{O \times (OH \cdot OW)} .
# $$
#
# Here is `im2col` on a $5 \times 5$ image with a $3 \times 3$ window: nine positions, nine
# columns. Each column is one patch read in row-major order; neighbouring columns share six of
# their nine pixels, because neighbouring patches overlap.

# %%
tiny = np.arange(25, dtype=np.float64).reshape(1, 1, 5, 5)
cols = im2col(tiny, (3, 3), (1, 1), (0, 0), (1, 1))
print("x", tiny.shape, "-> cols", cols.shape)

fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), gridspec_kw={"width_ratios": [1, 1.6]})
axes[0].imshow(tiny[0, 0], cmap="viridis")
axes[0].set_title("image (5×5)")
axes[1].imshow(cols[0], cmap="viridis", aspect="auto")
axes[1].set_title("cols: one 3×3 patch per column")
axes[1].set_xlabel("output position (oh, ow)")
axes[1].set_ylabel("tap (i, j)")
for ax, arr in ((axes[0], tiny[0, 0]), (axes[1], cols[0])):
    for (r, c), v in np.ndenumerate(arr):
        ax.text(c, r, int(v), ha="center", va="center", fontsize=7, color="w")
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()

# %% [markdown]
# Now the whole convolution from `im2col` plus a matrix multiply, checked against tinyconv's two
# algorithms, `algo="im2col"` and `algo="direct"` (a loop nest that never builds the matrix).
# The check uses stride, padding, dilation and a non-square kernel at once, because those are the
# places an index bug hides.

# %%
x = rng.standard_normal((2, 4, 12, 10))
w = rng.standard_normal((6, 4, 3, 2))
stride, padding, dilation = (2, 1), (1, 2), (2, 1)

cols = im2col(x, (3, 2), stride, padding, dilation)
oh, ow = (out_size(12, 3, 2, 1, 2), out_size(10, 2, 1, 2, 1))
y_mm = (w.reshape(6, -1) @ cols).reshape(2, 6, oh, ow)
print(f"W {w.reshape(6, -1).shape} @ cols {cols.shape} -> {(w.reshape(6, -1) @ cols).shape} -> y {y_mm.shape}")

for dtype in (np.float64, np.float32):
    xt, wt = tc.tensor(x.astype(dtype)), tc.tensor(w.astype(dtype))
    kw = dict(stride=stride, padding=padding, dilation=dilation)
    y_i = F.conv2d(xt, wt, algo="im2col", **kw).numpy()
    y_d = F.conv2d(xt, wt, algo="direct", **kw).numpy()
    print(f"{np.dtype(dtype).name}: |im2col - direct| = {np.abs(y_i - y_d).max():.1e}, "
          f"|direct - matmul by hand| = {np.abs(y_d - y_mm).max():.1e}")

# %% [markdown]
# Grouped convolutions (chapter 3) split the channels into independent groups; both algorithms
# must agree there too.

# %%
xg = rng.standard_normal((2, 6, 9, 9))
wg = rng.standard_normal((4, 3, 3, 3))      # 2 groups: in 6 -> 2 x 3, out 4 -> 2 x 2
gi = F.conv2d(tc.tensor(xg), tc.tensor(wg), groups=2, padding=1, algo="im2col").numpy()
gd = F.conv2d(tc.tensor(xg), tc.tensor(wg), groups=2, padding=1, algo="direct").numpy()
print(f"groups=2: |im2col - direct| = {np.abs(gi - gd).max():.1e}")

# %% [markdown]
# The price of im2col is memory: every input pixel is copied once per window that covers it,
# roughly $k_h k_w / s^2$ times. For AlexNet's layers the matrix multiply shapes and the blow-up
# factor are:

# %%
convs = [(name, m) for name, m in alex.named_modules() if type(m).__name__ == "Conv2d"]
side_in = [n for (name, *_), n in zip(chain, sides) if name.startswith("conv")]   # each conv's input side
print(f"{'layer':<7}{'W (per group)':>16}{'cols (per group)':>20}{'groups':>8}{'cols / x':>10}")
for i, ((name, m), n) in enumerate(zip(convs, side_in)):
    (k, _), (st, _), (pad, _), g = m.kernel_size, m.stride, m.padding, m.groups
    o = out_size(n, k, st, pad)
    rows_ = m.in_channels // g * k * k
    blowup = m.in_channels * k * k * o * o / (m.in_channels * n * n)
    print(f"conv{i + 1:<3}{str((m.out_channels // g, rows_)):>16}{str((rows_, o * o)):>20}{g:>8}{blowup:>10.1f}")

# %% [markdown]
# AlexNet's first layer turns its 155-thousand-number image into a matrix seven times larger
# (stride 4 spares it most of the $11^2 = 121$ copies); the $5 \times 5$ conv2 at stride 1 inflates
# its input 25-fold, the $3 \times 3$ layers ninefold. tinyconv's `direct` algorithm avoids that
# copy at the cost of a harder-to-optimise loop nest — chapter 5 measures which wins where.
#
# ## 5. What a stride of 4 throws away: aliasing
#
# A stride-$s$ convolution evaluates its filter only at every $s$-th pixel. Whatever the filter
# produces is therefore *sampled* at a rate of $1/s$ samples per pixel, and the sampling theorem
# applies: only frequencies below the Nyquist limit
#
# $$ f^\star = \frac{1}{2s} = \frac{1}{8}\ \text{cycles per pixel for } s = 4 $$
#
# survive intact. A component at frequency $f$ above the limit does not vanish — it reappears
# (*aliases*) at the frequency $|f - m/s|$, for the integer $m$ that brings it into
# $[0, f^\star]$. AlexNet's first layer runs at stride 4, so textures finer than 8 pixels per
# cycle that its filters let through come out as false coarse patterns.
#
# To see this we need no learned filter. A $1 \times 1$ convolution with weight 1 at stride 4 is
# pure subsampling. We feed it gratings $\cos(2\pi f x)$ for 64 frequencies spread over 0 to 0.5
# cycles/pixel (one image row per frequency, batched into one call), and read the frequency of
# each output off the peak of its FFT. (The frequencies avoid exact multiples of $1/8$: a
# component landing exactly on the Nyquist frequency has a phase-dependent amplitude, a
# distraction here.)

# %%
width = 1024
freqs = np.arange(2, 512, 8) / width     # on the FFT grid (exact peaks), never exactly at k/8
pixels = np.arange(width)
gratings = np.cos(2 * np.pi * freqs[:, None] * pixels)  # (65, 1024)
x = tc.tensor(gratings[:, None, None, :].astype(np.float32))   # (65, 1, 1, 1024)


def measured(y, stride):
    """Peak frequency (cycles per *input* pixel) and amplitude of each output row."""
    spec = np.abs(np.fft.rfft(y.reshape(len(y), -1).astype(np.float64), axis=-1))
    m = spec.shape[-1] - 1
    k = spec.argmax(axis=-1)
    amplitude = spec.max(axis=-1) / (2 * m) * np.where((k == 0) | (k == m), 1, 2)
    return k / (2 * m) / stride, amplitude


subsample = tc.tensor(np.ones((1, 1, 1, 1), np.float32))
box = tc.tensor(np.full((1, 1, 1, 4), 0.25, np.float32))      # average each 4-pixel cell first
y_sub = F.conv2d(x, subsample, stride=4).numpy()
y_box = F.conv2d(x, box, stride=4).numpy()
print("input", x.shape, "-> output", y_sub.shape)

f_sub, a_sub = measured(y_sub, 4)
f_box, a_box = measured(y_box, 4)
fold = np.abs(freqs - np.round(freqs * 4) / 4)          # |f - m/s|, m the nearest integer to f*s
print("worst |measured - predicted alias| =", np.abs(f_sub - fold).max())

# %% [markdown]
# Every measured frequency equals the predicted alias exactly. The plot shows the famous
# zig-zag: below $1/8$ the output frequency tracks the input; above it, the output frequency
# turns around and *decreases* as the input gets finer, down to almost zero for gratings whose
# period is close to the stride (near $1/4$ cycles/pixel): a fine texture seen as a flat field.

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
ax = axes[0]
ax.plot(freqs, fold, "-", color="0.7", lw=3, label="predicted alias $|f - m/4|$")
ax.plot(freqs, f_sub, "o", ms=4, label="measured (FFT peak)")
ax.axvline(1 / 8, ls="--", color="C3", label="Nyquist $1/8$")
ax.set_xlabel("input frequency (cycles/pixel)")
ax.set_ylabel("apparent frequency (cycles/pixel)")
ax.set_title("stride-4 subsampling folds frequencies")
ax.set_ylim(0, 0.175)
ax.legend(fontsize=8, loc="upper center", ncol=2)

ax = axes[1]
theory_box = np.abs(np.sinc(4 * freqs) / np.sinc(freqs))   # |sum of 4 taps| / 4
ax.plot(freqs, a_sub, "o", ms=4, label="1×1 weight 1 (pure subsampling)")
ax.plot(freqs, a_box, "s", ms=4, label="1×4 box average, stride 4")
ax.plot(freqs, theory_box, "-", color="0.6", lw=1, label="box response $|\\sin 4\\pi f / 4\\sin \\pi f|$")
ax.axvline(1 / 8, ls="--", color="C3")
ax.set_xlabel("input frequency (cycles/pixel)")
ax.set_ylabel("output amplitude")
ax.set_title("a pre-filter damps, but does not remove, aliases")
ax.legend(fontsize=7)

ax = axes[2]
f0 = 0.2
i0 = int(np.argmin(np.abs(freqs - f0)))
xs = np.linspace(0, 40, 801)
ax.plot(xs, np.cos(2 * np.pi * freqs[i0] * xs), color="0.6", lw=1, label=f"input, f = {freqs[i0]:.3f}")
ax.plot(np.arange(0, 41, 4), y_sub[i0, 0, 0, :11], "o", color="C1", label="stride-4 samples")
ax.plot(xs, np.cos(2 * np.pi * f_sub[i0] * xs), "--", color="C1", label=f"what they look like, f = {f_sub[i0]:.3f}")
ax.set_xlabel("pixel")
ax.set_title("a fine grating seen at stride 4")
ax.set_ylim(-1.15, 2.1)
ax.legend(fontsize=7, loc="upper center", ncol=2)
fig.tight_layout()

# %%
above = freqs > 1 / 8
print(f"box filter, first frequency above 1/8 ({freqs[above][0]:.3f}): amplitude {a_box[above][0]:.2f} "
      f"(theory {theory_box[above][0]:.2f})")

# %% [markdown]
# The middle panel shows the remedy and its limit. Averaging each 4-pixel cell before sampling
# (a box filter, the crudest low-pass) nearly kills the frequencies that alias to zero and damps
# the rest, but just above $1/8$ more than half of the amplitude still leaks through and folds
# (printed above). A learned $11 \times 11$ filter can suppress more, but nothing forces it to:
# AlexNet's stride-4 first layer is a deliberate trade of fidelity for speed, and later networks
# replaced it with smaller strides and small kernels stacked deeper (chapter 3).
#
# ## Summary
#
# - A convolution is a sliding dot product; the loop definition is the reference every fast
#   version is checked against.
# - Output size: $\lfloor (n + 2p - d(k-1) - 1)/s \rfloor + 1$. AlexNet's $227 \to 55 \to 27 \to 13
#   \to 6$ follows from it, layer by layer.
# - Weight sharing cuts LeNet-5's first layer from 122,304 to 156 parameters and makes the layer
#   commute with shifts.
# - im2col turns convolution into one GEMM, $W_{O \times Ck^2} \cdot \text{cols}_{Ck^2 \times OH\,OW}$,
#   at the cost of copying each pixel about $k^2/s^2$ times.
# - Striding is sampling: above $1/(2s)$ cycles/pixel, detail folds back as false low frequencies.
