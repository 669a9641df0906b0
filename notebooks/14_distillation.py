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
# # Chapter 14 — Knowledge distillation: a small student learns from a big teacher
#
# A trained network knows more than its top-1 answers. Its softmax also ranks the *wrong*
# classes: a given 7 may look a little like a 1 and not at all like a 6. Hinton, Vinyals and
# Dean (2015) called these small probabilities "dark knowledge" and proposed to pass them on to
# a smaller network, the *student*, by training it to match the teacher's softened output
# distribution as well as the true labels. A temperature $T$ softens both softmaxes,
# $\mathrm{softmax}(z/T)$: at $T = 1$ the teacher is nearly one-hot, at larger $T$ the ranking of
# the wrong classes becomes visible. The loss, for student logits $s$, teacher logits $t$ and
# label $y$:
#
# $$ L = \alpha\,T^2\,\mathrm{KL}\big(\mathrm{softmax}(t/T)\,\|\,\mathrm{softmax}(s/T)\big)
#        + (1-\alpha)\,\mathrm{CE}(s, y). $$
#
# The $T^2$ keeps the soft term's gradient, which shrinks like $1/T^2$, on the same scale as
# the hard term's when $T$ changes. `F.distillation_loss(student_logits, teacher_logits, target,
# T=4.0, alpha=0.9)` computes it in one fused pass with three max-subtracted log-softmaxes;
# `tinyconv distill --teacher CKPT --student lenet5-small` runs it from the command line.
#
# The experiment: LeNet-5 (61,706 parameters) teaches `lenet5_small` (8,042 parameters, the
# same layers with 4/8 channels and 32/16 hidden units). The student learns from a *transfer
# set* of 500 digits (50 of each), once from the labels alone and once per temperature from
# the teacher, with the same optimiser, seeds and number of epochs. Then Hinton's experiment:
# every 3 is removed from the transfer set — can the student recognise a digit it never saw?

# %%
import time

import tinyconv as tc
import numpy as np
import matplotlib.pyplot as plt

import tinyconv.nn.functional as F
from tinyconv import data, models, optim
from tinyconv.distill import fit_distill, teacher_logits
from tinyconv.train import evaluate

t_start = time.perf_counter()
train_set, test_set = data.MNIST(train=True), data.MNIST(train=False)
transform = data.Compose([data.Pad(2), data.Normalize(data.MNIST_MEAN, data.MNIST_STD)])
x_train = train_set.data[:, None].astype(np.float32) / 255
y_train = np.asarray(train_set.targets)
test_loader = data.DataLoader(test_set, batch_size=500, transform=transform)
y_test = np.asarray(test_set.targets)


def run(model, x, y, soft, epochs, T, alpha, opt, seed=0):
    """fit_distill on (x, y, teacher logits); alpha = 0 is plain cross-entropy on the labels."""
    loader = data.DataLoader(data.TensorDataset(x, y, soft), batch_size=64, shuffle=True, seed=seed,
                             transform=transform)
    return fit_distill(model, opt, loader, test_loader, epochs, T=T, alpha=alpha, log=lambda *a: None)


# %% [markdown]
# ## 1. The teacher
#
# LeNet-5 trained on all 4,000 training images for 4 epochs (SGD, learning rate 0.05, momentum
# 0.9, kept constant; `tinyconv train lenet5` uses the same optimiser and also decays the rate).
# With `alpha=0` the distillation loop is ordinary cross-entropy training, so the teacher goes
# through the same code.

# %%
tc.manual_seed(0)
teacher = models.lenet5()
t0 = time.perf_counter()
no_teacher = np.zeros((len(y_train), 10), np.float32)  # ignored at alpha = 0
run(teacher, x_train, y_train, no_teacher, 4, 1.0, 0.0,
    optim.SGD(teacher.parameters(), lr=0.05, momentum=0.9))
teacher_acc = evaluate(teacher, test_loader)["accuracy"]
soft = teacher_logits(teacher, data.DataLoader(data.TensorDataset(x_train, y_train), batch_size=500,
                                               transform=transform))
print(f"teacher: {models.count_parameters(teacher):,} parameters, test accuracy "
      f"{100 * teacher_acc:.1f}% on 1,000 held-out digits, trained in {time.perf_counter() - t0:.1f} s")

# %% [markdown]
# ## 2. What the temperature reveals
#
# The teacher's output for one training 7 at four temperatures. As $T$ grows the mass moves from
# the 7 to the other classes, in the teacher's own order of similarity — information a one-hot
# label cannot carry. Below the plot: the probability the teacher gives the true class, averaged
# over all 4,000 training images, at each temperature.

# %%
i7 = int(np.flatnonzero(y_train == 7)[0])
temps = [1, 2, 4, 8]
fig, axes = plt.subplots(1, len(temps) + 1, figsize=(13, 2.4))
axes[0].imshow(x_train[i7, 0], cmap="gray")
axes[0].set(title="input (label 7)", xticks=[], yticks=[])
for ax, T in zip(axes[1:], temps):
    q = F.softmax(tc.tensor(soft[i7:i7 + 1] / T), dim=1).numpy()[0]
    ax.bar(range(10), q, color=["C3" if d == 7 else "C0" for d in range(10)])
    ax.set(title=f"T = {T}", xticks=range(10), ylim=(0, 1))
fig.tight_layout()
plt.show()
order = np.argsort(-soft[i7])
print("teacher's ranking of the classes for this 7:", " > ".join(map(str, order)))
print("second choice's probability at T = 1, 2, 4, 8:",
      ", ".join(f"{F.softmax(tc.tensor(soft[i7:i7 + 1] / T), dim=1).numpy()[0, order[1]]:.2g}" for T in temps))
rows = np.arange(len(y_train))
for T in temps:
    q = F.softmax(tc.tensor(soft / T), dim=1).numpy()
    print(f"T = {T}: mean probability of the true class {q[rows, y_train].mean():.3f}, "
          f"of the most likely wrong class {np.sort(q, 1)[:, -2].mean():.3f}")

# %% [markdown]
# ## 3. Hard labels against the teacher, equal epochs
#
# The transfer set: the first 50 training images of every digit (500 in all). Every student
# trains for 60 epochs with Adam (learning rate 0.003); for a given seed, all students start
# from the same initial weights and see the same batches in the same order, so only the loss
# differs: $\alpha = 0$ (labels only) or $\alpha = 0.9$ at $T \in \{1, 2, 4, 8\}$. Adam is used
# for every student because the soft term's gradient is $\alpha T (p - q)$ per logit, which at the
# start of training (student near uniform, teacher confident) grows with $T$: with SGD at one
# fixed rate the students at larger $T$ would simply take larger steps than the hard-label one.
# Adam's per-weight step size removes that confound. One run can flatter a method (a different
# seed easily moves a student this small by a point or two), so every configuration is trained
# with three seeds.

# %%
EPOCHS, SEEDS = 60, (0, 1, 2)
idx = np.concatenate([np.flatnonzero(y_train == d)[:50] for d in range(10)])
x_tr, y_tr, soft_tr = x_train[idx], y_train[idx], soft[idx]


def student_run(x, y, s, T, alpha, seed=0):
    tc.manual_seed(10 + seed)
    student = models.lenet5_small()
    history = run(student, x, y, s, EPOCHS, T, alpha, optim.Adam(student.parameters(), lr=0.003), seed=seed)
    return student, history


configs = {"hard labels": (1.0, 0.0), **{f"T = {T}": (float(T), 0.9) for T in temps}}
t0 = time.perf_counter()
histories = {name: [student_run(x_tr, y_tr, soft_tr, T, alpha, seed)[1] for seed in SEEDS]
             for name, (T, alpha) in configs.items()}
print(f"{len(configs) * len(SEEDS)} students of {models.count_parameters(models.lenet5_small()):,} "
      f"parameters, {EPOCHS} epochs each, in {time.perf_counter() - t0:.1f} s")
acc = {name: np.array([h[-1]["test_accuracy"] for h in hs]) for name, hs in histories.items()}
for name, a in acc.items():
    train_acc = np.mean([h[-1]["train_accuracy"] for h in histories[name]])
    print(f"{name:>12}: test accuracy {100 * a.mean():.1f}% (seeds: "
          f"{', '.join(f'{100 * v:.1f}' for v in a)}; mean final train accuracy {100 * train_acc:.1f}%)")
print(f"{'teacher':>12}: {100 * teacher_acc:.1f}% with 7.7x the parameters, trained on 8x the data")

# %%
names = list(configs)
fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.5))
for name in names:
    h = histories[name][0]
    a.plot([r["epoch"] for r in h], [100 * r["test_accuracy"] for r in h], label=name,
           lw=2.5 if name == "hard labels" else 1.2, color="k" if name == "hard labels" else None)
a.set(xlabel="epoch", ylabel="test accuracy (%)", title="students on 500 digits (seed 0)", ylim=(60, 100))
a.legend()
b.bar(names, [100 * acc[n].mean() for n in names], color=["0.4"] + ["C0"] * len(temps), alpha=0.6,
      label="mean of 3 seeds")
for k, n in enumerate(names):
    b.plot([k] * len(SEEDS), 100 * acc[n], "k.", ms=8)
b.axhline(100 * teacher_acc, color="C3", ls="--", label="teacher")
b.set(ylabel="final test accuracy (%)", ylim=(80, 100), title=f"after {EPOCHS} epochs (dots: seeds)")
b.legend(loc="lower right")
fig.tight_layout()
plt.show()

# %%
hard = acc["hard labels"]
best = max((n for n in names if n != "hard labels"), key=lambda n: acc[n].mean())
gain = acc[best].mean() - hard.mean()
wins = {n: int(np.sum(acc[n] > hard)) for n in names if n != "hard labels"}
if gain > 0:
    print(f"The best temperature ({best}) beats the hard-label student by {100 * gain:.1f} points on "
          f"average over {len(SEEDS)} seeds, at equal epochs; it wins in {wins[best]} of {len(SEEDS)} "
          f"seed-for-seed comparisons.")
else:
    print(f"No distilled student beat the hard-label student on average: the best ({best}) is "
          f"{100 * -gain:.1f} points behind.")
for n, w in wins.items():
    print(f"{n}: {100 * (acc[n].mean() - hard.mean()):+.1f} points on average, better than the "
          f"hard-label student of the same seed in {w} of {len(SEEDS)}")
spread = max(a.max() - a.min() for a in acc.values())
print(f"largest seed-to-seed spread within one configuration: {100 * spread:.1f} points")

# %% [markdown]
# How to read this. Each test digit is 0.1 points, and the seed-to-seed spread printed above is
# the yardstick: a difference of means smaller than it is not evidence. The soft targets tell
# the student, for every image, how the teacher sees all ten classes — much more information per
# example than one label, which matters most when the transfer set is small, as here: the
# hard-label students fit their 500 images almost perfectly and stop learning anything that
# generalises, while the distilled ones keep a target that still carries information. At
# $T = 1$ the teacher's distribution is concentrated on the true class (section 2's averages), so
# the soft term adds less beyond the label; a higher $T$ exposes the ranking of the wrong
# classes, and here the gain grows from $T = 1$ to $T = 4$ and levels off by $T = 8$. Much higher
# temperatures are not always better: as $T$ grows the soft term approaches matching the
# teacher's logits themselves (Hinton et al., section 2.1), including its very negative ones,
# which carry little useful signal. With a larger transfer set the labels alone carry more, and
# the gap should shrink (this notebook does not measure that).

# %% [markdown]
# ## 4. Dark knowledge: a digit the student never sees
#
# Hinton et al. removed every 3 from the transfer set of their MNIST student; the distilled
# student still learned a lot about 3s from the *other* digits' soft targets — how much each 8
# or 5 looks like a 3 — while a student trained on labels alone cannot output a class it never
# saw as a target. We repeat it on our transfer set (450 digits, no 3) with the labels alone and
# with the teacher at $T = 8$.
#
# The student's output bias for 3 is never pushed up (no 3 is ever the target), so its 3-logit
# starts every comparison handicapped. Hinton et al. therefore also report accuracy after
# raising that one bias. We choose the raise without looking at any label: the smallest shift
# that makes the student call 10% of the 4,000 (unlabelled) training images a 3, the share a
# digit has in MNIST.

# %%
keep = y_tr != 3
all_train = data.DataLoader(data.TensorDataset(x_train, y_train), batch_size=500, transform=transform)
shifts = np.linspace(0, 30, 301)
dark = {}
t0 = time.perf_counter()
for name, T, alpha in [("hard labels", 1.0, 0.0), ("distilled, T = 8", 8.0, 0.9)]:
    student, _ = student_run(x_tr[keep], y_tr[keep], soft_tr[keep], T, alpha)
    test_logits = teacher_logits(student, test_loader)  # the student's logits: any model works
    train_logits = teacher_logits(student, all_train)
    share = np.array([np.mean(np.argmax(train_logits + b * np.eye(10)[3], 1) == 3) for b in shifts])
    b = shifts[np.argmax(share >= 0.10)] if share.max() >= 0.10 else shifts[-1]
    pred, pred_b = test_logits.argmax(1), (test_logits + b * np.eye(10)[3]).argmax(1)
    dark[name] = {"acc3": np.mean(pred[y_test == 3] == 3), "acc": np.mean(pred == y_test),
                  "shift": b, "acc3_b": np.mean(pred_b[y_test == 3] == 3), "acc_b": np.mean(pred_b == y_test),
                  "others": np.mean(pred[y_test != 3] == y_test[y_test != 3])}
print(f"2 students in {time.perf_counter() - t0:.1f} s; {int(keep.sum())} transfer images, no 3 among them")
for name, r in dark.items():
    print(f"{name:>17}: 3s recognised {100 * r['acc3']:5.1f}% (other digits {100 * r['others']:.1f}%, "
          f"all {100 * r['acc']:.1f}%);  with the 3-bias raised by {r['shift']:.1f}: 3s "
          f"{100 * r['acc3_b']:.1f}%, all {100 * r['acc_b']:.1f}%")

# %%
fig, ax = plt.subplots(figsize=(6, 3.2))
labels = list(dark)
w = 0.38
ax.bar(np.arange(2) - w / 2, [100 * dark[n]["acc3"] for n in labels], w, label="as trained")
ax.bar(np.arange(2) + w / 2, [100 * dark[n]["acc3_b"] for n in labels], w, label="3-bias raised")
ax.set(xticks=range(2), xticklabels=labels, ylabel="test 3s recognised (%)", ylim=(0, 100),
       title="a digit absent from the transfer set")
ax.legend()
fig.tight_layout()
plt.show()
d, h = dark["distilled, T = 8"], dark["hard labels"]
print(f"after the bias raise the distilled student recognises {100 * d['acc3_b']:.1f}% of the 3s it never "
      f"saw, the hard-label student {100 * h['acc3_b']:.1f}%")

# %% [markdown]
# The hard-label student has no reason to ever answer 3: its 3-weights only ever received
# gradient pushing the 3-logit *down*, and no bias shift makes its 3-output pick out 3s. The
# distilled student was told, image by image, how 3-like each 5, 8 or 9 is, so its 3-output
# learned to respond to 3-shaped strokes; once its bias is lifted it recognises a sizeable share
# of the 3s (printed above). In Hinton et al.'s much larger setting (60,000 digits, a student
# with two hidden layers of 800 units) the raised bias brought the never-seen 3s to 98.6%; our
# small student and 450-image transfer set get less of the way there, but the mechanism —
# knowledge of a class carried by the *other* classes' soft targets — is the same.
#
# From the command line, the same experiment on the full training set:
# `tinyconv train lenet5 --out runs/teacher` then
# `tinyconv distill --teacher runs/teacher --student lenet5-small --T 8 --alpha 0.9 --omit-class 3`.

# %%
print(f"notebook ran in {time.perf_counter() - t_start:.1f} s")
