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
# # Chapter 15 — A grayscale first layer: what it saves and what it costs
#
# A colour image has three input planes, a grey one has one. Only the first convolution sees
# the input, so feeding a network grey images changes that one layer: its filters shrink from
# $C_{in} = 3$ to $C_{in} = 1$, and its parameters and multiply-adds (MACs) fall to a third.
# Everything above it is untouched. This is one of the simplest ways to make a network cheaper
# on a small device, and it is free exactly when colour carries no information about the label.
#
# Grey here is the luma of ITU-R BT.601, $L = 0.299\,R + 0.587\,G + 0.114\,B$, the formula of
# torchvision's `Grayscale` and PIL's "L" mode: `tinyconv.data.Grayscale(num_output_channels=1)`.
# `models.alexnet(in_channels=1)` builds AlexNet with a one-plane first layer, and
# `tinyconv summary alexnet --input 1,227,227` prints its table.

# %%
import time

import tinyconv as tc
import numpy as np
import matplotlib.pyplot as plt

from tinyconv import data, models, nn, optim
from tinyconv.summary import summarize
from tinyconv.train import evaluate, fit

t_start = time.perf_counter()

# %% [markdown]
# ## 1. AlexNet: one input plane instead of three
#
# The paper's AlexNet: conv1 has 96 filters of $11 \times 11$ over the input planes, applied at
# $55 \times 55$ positions. The summary runs each model once on a blank image and counts.

# %%
t0 = time.perf_counter()
tc.manual_seed(0)
s3 = summarize(models.alexnet(), (3, 227, 227))
s1 = summarize(models.alexnet(in_channels=1), (1, 227, 227))
conv1_3, conv1_1 = s3["rows"][0], s1["rows"][0]
print(f"{'':<22}{'RGB (3x227x227)':>18}{'grey (1x227x227)':>18}{'saved':>16}")
for what, a, b in [("conv1 parameters", conv1_3["params"], conv1_1["params"]),
                   ("conv1 MACs", conv1_3["macs"], conv1_1["macs"]),
                   ("total parameters", s3["total_params"], s1["total_params"]),
                   ("total MACs", s3["total_macs"], s1["total_macs"])]:
    print(f"{what:<22}{a:>18,}{b:>18,}{a - b:>16,}")
saved_params, saved_macs = s3["total_params"] - s1["total_params"], s3["total_macs"] - s1["total_macs"]
print(f"\nsaved: {100 * saved_params / s3['total_params']:.3f}% of the parameters, "
      f"{100 * saved_macs / s3['total_macs']:.1f}% of the multiply-adds per image  "
      f"({time.perf_counter() - t0:.1f} s)")
assert saved_params == 2 * 96 * 11 * 11 and saved_macs == 2 * 96 * 11 * 11 * 55 * 55

# %% [markdown]
# The two savings differ by two orders of magnitude, and AlexNet's anatomy (chapter 3) says
# why. Parameters live mostly in the fully connected layers (58.6 of 61 million), which never
# see the input, so the 23,232 weights that conv1 drops hardly register. Arithmetic lives in the
# convolutions, and conv1 is applied at more positions than any other layer ($55 \times 55 =
# 3{,}025$): each weight it drops is used three thousand times per image, so the grey input
# removes almost a tenth of the network's multiply-adds. The grey model's whole table (what
`tinyconv summary alexnet --input 1,227,227` prints):

# %%
from tinyconv.summary import format_summary  # noqa: E402

print(format_summary(s1))

# %% [markdown]
# ## 2. A colour task from the digits at hand: coloured MNIST
#
# `data.colored_mnist(...)` paints each digit in one of ten colours. The ten colours are chosen
# with *equal luma* (0.4), so the grayscale transform maps every colour to the same grey and
# leaves exactly the digit's shape: whatever a grayscale model loses, it loses because the colour
# is gone and for no other reason. Two versions:
#
# - **colour informative**: a digit $d$ is always painted in colour $d$ (`informative=True`;
#   `agreement=0.9` would repaint one digit in ten in another colour);
# - **colour uninformative**: every digit's colour is drawn at random (`informative=False`).

# %%
sets = {name: (data.colored_mnist(train=True, informative=inf, seed=1),
               data.colored_mnist(train=False, informative=inf, seed=2))
        for name, inf in [("colour informative", True), ("colour uninformative", False)]}
gray = data.Grayscale()
x_show = sets["colour informative"][0].arrays[0][:10]
fig, axes = plt.subplots(2, 10, figsize=(12, 2.7))
for i in range(10):
    axes[0, i].imshow(x_show[i].transpose(1, 2, 0))
    axes[1, i].imshow(gray(x_show[i:i + 1])[0, 0], cmap="gray", vmin=0, vmax=1)
    for ax in axes[:, i]:
        ax.set(xticks=[], yticks=[])
axes[0, 0].set_ylabel("RGB")
axes[1, 0].set_ylabel("Grayscale")
fig.tight_layout()
plt.show()
luma = data.COLORED_MNIST_PALETTE @ np.array(data.transforms.Grayscale.WEIGHTS)
print("luma of the ten colours:", np.round(luma, 6))
for name, (tr, _) in sets.items():
    print(f"{name}: {len(tr)} training images, colour = digit for {100 * np.mean(tr.colors == tr.arrays[1]):.1f}%")

# %% [markdown]
# ## 3. The accuracy cost
#
# A small CNN — conv 8@5x5, ReLU, max-pool, conv 16@5x5, ReLU, max-pool, linear — built for 3
# or 1 input planes, trained for 3 epochs on each version (SGD, learning rate 0.02, momentum
# 0.9, same seed), and tested on 1,000 held-out digits coloured the same way.

# %%
def small_cnn(in_channels):
    return nn.Sequential(nn.Conv2d(in_channels, 8, 5), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(16 * 4 * 4, 10))


def normalise(x, rng=None):
    return (x - 0.1) / 0.25  # roughly zero mean and unit spread for these images


results, models_rgb = {}, {}
t0 = time.perf_counter()
for name, (tr, te) in sets.items():
    for mode, in_ch, tf in [("RGB", 3, normalise), ("grey", 1, data.Compose([gray, normalise]))]:
        tc.manual_seed(0)
        model = small_cnn(in_ch)
        train_loader = data.DataLoader(tr, batch_size=64, shuffle=True, seed=0, transform=tf)
        test_loader = data.DataLoader(te, batch_size=500, transform=tf)
        fit(model, optim.SGD(model.parameters(), lr=0.02, momentum=0.9), train_loader, test_loader, 3,
            log=lambda *a: None)
        results[name, mode] = evaluate(model, test_loader)["accuracy"]
        if mode == "RGB":
            models_rgb[name] = model
print(f"4 models trained in {time.perf_counter() - t0:.1f} s; first-layer parameters: RGB "
      f"{sum(p.numel() for p in small_cnn(3)[0].parameters())}, grey "
      f"{sum(p.numel() for p in small_cnn(1)[0].parameters())}; whole model RGB "
      f"{models.count_parameters(small_cnn(3)):,}, grey {models.count_parameters(small_cnn(1)):,}")
print(f"{'':<24}{'RGB':>8}{'grey':>8}{'cost of grey':>14}")
for name in sets:
    rgb, g = results[name, "RGB"], results[name, "grey"]
    print(f"{name:<24}{100 * rgb:>7.1f}%{100 * g:>7.1f}%{100 * (rgb - g):>+12.1f} pts")
cost_inf = results["colour informative", "RGB"] - results["colour informative", "grey"]
cost_un = results["colour uninformative", "RGB"] - results["colour uninformative", "grey"]
print(f"grey costs {100 * cost_inf:.1f} points when colour is informative and {100 * cost_un:.1f} "
      f"when it is not ({'grey is the better one there' if cost_un < 0 else 'RGB is ahead there'})")

# %%
fig, ax = plt.subplots(figsize=(6, 3.2))
w = 0.38
for k, mode in enumerate(["RGB", "grey"]):
    ax.bar(np.arange(2) + (k - 0.5) * w, [100 * results[n, mode] for n in sets], w, label=mode)
ax.set(xticks=range(2), xticklabels=list(sets), ylabel="test accuracy (%)", ylim=(80, 100))
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# When colour names the digit, the RGB network uses it and the grey network, which cannot see
# it, pays the whole difference. When colour is noise, the grey network gives up nothing the
# RGB one could use: the gap (printed above) is then of the size that a different seed moves,
# and the two grey models, whose inputs differ only by float rounding, score alike. One more
# measurement shows what the RGB network learned from the informative colours: test it on
# digits whose colours are random.

# %%
shuffled = data.colored_mnist(train=False, informative=False, seed=3)
acc_shift = evaluate(models_rgb["colour informative"],
                     data.DataLoader(shuffled, batch_size=500, transform=normalise))["accuracy"]
print(f"RGB model trained with informative colour: {100 * results['colour informative', 'RGB']:.1f}% "
      f"on its own test set, {100 * acc_shift:.1f}% when the colours are random; the grey model "
      f"of the same task does not depend on colour at all "
      f"({100 * results['colour informative', 'grey']:.1f}%)")

# %% [markdown]
# The colour was a shortcut: the RGB network leans on it, and when the colour stops matching
# the digit it loses accuracy that the grey network never had to lose. So the trade is: a grey
# first layer saves two thirds of the first layer (for AlexNet about a tenth of all multiply-adds)
# and costs accuracy only to the extent that colour is informative *and stays informative* where
# the model is used.

# %%
print(f"notebook ran in {time.perf_counter() - t_start:.1f} s")
