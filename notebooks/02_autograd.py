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
# # Chapter 2 — Autograd and gradient checking
#
# Training a network means computing the gradient of one number, the loss, with respect to
# millions of parameters. Reverse-mode automatic differentiation does it at the cost of about one
# extra forward pass: record every operation on a *tape* during the forward pass, then walk the
# tape backwards applying the chain rule. This chapter opens the tape, differentiates a small
# graph by hand to see that `.backward()` does nothing more, and then asks how we can *trust*
# a hand-written backward — the question every kernel in tinyconv must answer.

# %%
import tinyconv as tc
import numpy as np
import matplotlib.pyplot as plt

import tinyconv.nn.functional as F

tc.manual_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The tape
#
# Every differentiable operation in tinyconv is a `Function` with a `forward` and a `backward`
# that work on raw arrays. Applying it to tensors that require gradients returns a tensor that
# remembers its creator: which `Function`, the context the forward saved, and the input tensors.
# Those links form a graph — the tape. Here is a small one: a layer of two tanh neurons on a
# three-number input, and a scalar "loss" that weighs the two outputs with fixed numbers $v$,
#
# $$ a = Wx + b, \qquad y = \tanh(a), \qquad L = \sum_k v_k\, y_k . $$

# %%
x = tc.tensor(np.array([1.5, -0.5, 2.0]), requires_grad=True)
W = tc.tensor(np.array([[0.2, -1.0, 0.7], [-0.4, 0.3, 0.1]]), requires_grad=True)
b = tc.tensor(np.array([0.1, -0.2]), requires_grad=True)
v = tc.tensor(np.array([1.0, -2.0]))

a = W @ x + b
y = F.tanh(a)
L = (y * v).sum()

names = {id(x): "x", id(W): "W", id(b): "b", id(v): "v (no grad)"}


def show_tape(t, depth=0):
    """Print the graph below t. tinyconv keeps a tensor's creator in `t._node`:
    (Function class, saved context, input tensors); leaves have none."""
    if t._node is None:
        print("    " * depth + f"{names.get(id(t), 'leaf')}  {t.shape}")
        return
    fn, _, inputs = t._node
    print("    " * depth + f"{fn.__name__}  -> {t.shape}")
    for inp in inputs:
        show_tape(inp, depth + 1)


show_tape(L)

# %% [markdown]
# Reading bottom-up: `MatMul` forms $Wx$, `Add` adds the bias, `Tanh` squashes, `Mul` weighs by
# $v$ and `Sum` reduces to the scalar $L$. `L.backward()` starts from $\partial L/\partial L = 1$
# and visits the nodes in reverse order, each one turning the gradient of its output into
# gradients of its inputs:
#
# $$
# \frac{\partial L}{\partial y} = v,\qquad
# \delta = \frac{\partial L}{\partial a} = v \odot (1 - y^2),\qquad
# \frac{\partial L}{\partial W} = \delta\, x^\top,\qquad
# \frac{\partial L}{\partial x} = W^\top \delta,\qquad
# \frac{\partial L}{\partial b} = \delta .
# $$
#
# The same lines by hand, and then by the tape:

# %%
yv = np.tanh(W.numpy() @ x.numpy() + b.numpy())
delta = v.numpy() * (1 - yv ** 2)
by_hand = {"x": W.numpy().T @ delta, "W": np.outer(delta, x.numpy()), "b": delta}

L.backward()
for name, t in (("x", x), ("W", W), ("b", b)):
    print(f"dL/d{name}: by hand {np.round(by_hand[name], 6).tolist()}\n        tape    {np.round(t.grad.numpy(), 6).tolist()}")
    assert np.allclose(by_hand[name], t.grad.numpy(), rtol=1e-12)

# %% [markdown]
# They agree to the last bit, because they *are* the same arithmetic. This is the whole trick of
# reverse mode: each node only needs its own local derivative, and the chain rule glues them.
# Notice the shapes: the gradient of every tensor has that tensor's shape, and the weight
# gradient is an outer product of the backward signal $\delta$ with the forward input $x$ —
# the pattern every layer repeats, convolutions included. The cost is memory: the forward must
# keep whatever its backward needs (tanh keeps its output $y$, `MatMul` keeps $W$ and $x$) until
# the backward pass has used it.
#
# ## 2. Checking a backward with finite differences
#
# A hand-written backward can be wrong in ways no type checker sees: a missing transpose, an
# off-by-one in a window, a forgotten term. The independent witness is the definition of the
# derivative itself. The **central difference**
#
# $$
# \frac{f(x + h) - f(x - h)}{2h} = f'(x) + \frac{h^2}{6} f'''(x) + O(h^4)
# $$
#
# has a *truncation* error proportional to $h^2$, so small $h$ looks better. But each evaluation
# of $f$ is rounded to a relative precision $u$ ($u = 2^{-24} \approx 6\times10^{-8}$ in float32,
# $2^{-53} \approx 1.1\times10^{-16}$ in float64), and dividing by $2h$ magnifies that *round-off*
# error like $u\,|f| / h$. The total error is smallest near $h^\star \sim u^{1/3}$ and grows on
# both sides: on a log-log plot, a V.
#
# We measure it on a real layer: $L(x) = \langle \tanh(\operatorname{conv2d}(x, w)), v \rangle$,
# differentiated with respect to one input pixel. The exact derivative comes from `backward()` in
# float64.

# %%
x0 = rng.standard_normal((1, 2, 6, 6))
w0 = rng.standard_normal((3, 2, 3, 3)) * 0.5
v0 = rng.standard_normal((1, 3, 4, 4))
pixel = (0, 1, 2, 3)


def loss(x_arr, dtype):
    out = F.tanh(F.conv2d(tc.tensor(x_arr.astype(dtype)), tc.tensor(w0.astype(dtype))))
    return float((out * tc.tensor(v0.astype(dtype))).sum().item())


xt = tc.tensor(x0, requires_grad=True)
(F.tanh(F.conv2d(xt, tc.tensor(w0))) * tc.tensor(v0)).sum().backward()
exact = xt.grad.numpy()[pixel]

hs = np.logspace(-13, 0, 53)
errors = {}
for dtype in (np.float32, np.float64):
    err = []
    for h in hs:
        xp, xm = x0.astype(dtype), x0.astype(dtype)
        xp[pixel] += h
        xm[pixel] -= h
        err.append(abs((loss(xp, dtype) - loss(xm, dtype)) / (2 * h) - exact))
    errors[np.dtype(dtype).name] = np.maximum(err, 1e-18)   # exact zeros would vanish on a log axis

best = {}
for name, err in errors.items():
    i = int(np.argmin(err))
    u = np.finfo(name).eps / 2
    best[name] = err[i]
    print(f"{name}: best h = {hs[i]:.0e} (u^(1/3) = {u ** (1 / 3):.0e}), "
          f"best error = {err[i]:.1e} (relative {err[i] / abs(exact):.1e})")
print(f"float32's best is {best['float32'] / best['float64']:.0e} times float64's")

# %% [markdown]
# To draw the two asymptotes we fit one constant to each branch of each curve: $c\,h^2$ to the
# right of the minimum, $c\,u/h$ to the left (where the step is still representable).

# %%
fig, ax = plt.subplots(figsize=(7.5, 4.4))
for color, (name, err) in zip(("C0", "C1"), errors.items()):
    ax.loglog(hs, err, "o-", ms=3, color=color, label=name)
    i, u = int(np.argmin(err)), np.finfo(name).eps / 2
    right = slice(i + 4, None)
    left = (hs < hs[i] / 30) & (err < abs(exact) / 2)
    c_trunc = np.median(err[right] / hs[right] ** 2)
    c_round = np.median(err[left] * hs[left] / u)
    ax.loglog(hs[i:], c_trunc * hs[i:] ** 2, ":", color="k", lw=1.2)
    ax.loglog(hs[:i + 1], c_round * u / hs[:i + 1], "--", color=color, lw=1)
ax.plot([], [], ":", color="k", label=r"fit $c\,h^2$ (truncation, both dtypes)")
ax.plot([], [], "--", color="0.4", label=r"fit $c\,u/h$ (round-off)")
ax.axvline(1e-6, color="C3", lw=0.8)
ax.text(1.3e-6, 1e-15, "gradcheck's\ndefault eps", color="C3", fontsize=8)
ax.set_ylim(1e-16, 30)
ax.set_xlabel("step h")
ax.set_ylabel("|central difference − exact derivative|")
ax.set_title("finite-difference error: truncation vs round-off")
ax.legend(fontsize=8, loc="lower left")
fig.tight_layout()

# %% [markdown]
# Both curves are Vs with the predicted slopes: $+2$ on the right (truncation), $-1$ on the left
# (round-off). The minima sit near $u^{1/3}$ — around $10^{-5}$ in float64 and a few times
# $10^{-3}$ in float32 — and the best float32 error is about six orders of magnitude above
# float64's, the ratio of their $u^{2/3}$. For very small $h$ in float32, $x + h$ rounds back to
# $x$, the difference is exactly zero and the error equals the derivative itself: the flat
# plateau on the left.
#
# This is why `tc.gradcheck` refuses float32 inputs. In float64 its default step $10^{-6}$ lands
# near the bottom of the V for well-scaled functions, leaving room for a tolerance of $10^{-5}$;
# in float32 the tolerance would have to be orders of magnitude looser, and the best step would
# depend on the function. A bug that shifts a gradient by a fraction of a percent hides in that
# slack.
#
# `tc.gradcheck` perturbs every element of every input in turn and compares with the analytic
# gradient. A strided, padded convolution, with respect to input, weights and bias at once:

# %%
xg = tc.tensor(rng.standard_normal((1, 2, 5, 5)), requires_grad=True)
wg = tc.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
bg = tc.tensor(rng.standard_normal(3), requires_grad=True)
print("conv2d gradcheck:", tc.gradcheck(lambda a, b_, c: F.conv2d(a, b_, c, stride=2, padding=1), [xg, wg, bg]))

# %% [markdown]
# ## 3. Why gradcheck uses a random upstream gradient
#
# The tempting shortcut is to check the gradient of `f(x).sum()`. That checks $J^\top \mathbf 1$,
# where $J$ is the Jacobian of $f$: a single vector-Jacobian product, against the all-ones
# vector. Any backward $B$ with $B\mathbf 1 = J^\top \mathbf 1$ passes, however wrong it is for
# every other upstream gradient. Permutation bugs are the classic case, because a permutation
# leaves $\mathbf 1$ unchanged.
#
# Take an op that reverses the last axis. Its backward must reverse the incoming gradient too. A
# buggy version forgets — a cousin of the real bug of forgetting to flip the kernel in a
# convolution's input gradient.

# %%
class Flip(tc.Function):
    @staticmethod
    def forward(ctx, a):
        return a[..., ::-1].copy()

    @staticmethod
    def backward(ctx, g):
        return g[..., ::-1].copy()


class BuggyFlip(Flip):
    @staticmethod
    def backward(ctx, g):
        return g.copy()          # forgot to reverse


xf = tc.tensor(rng.standard_normal((2, 5)), requires_grad=True)
print("checked through .sum():    ", tc.gradcheck(lambda a: BuggyFlip.apply(a).sum(), [xf]))
try:
    tc.gradcheck(BuggyFlip.apply, [xf])
except tc.GradcheckError as e:
    print("checked with random upstream gradient:\n", e)
print("the correct Flip:          ", tc.gradcheck(Flip.apply, [xf]))

# %% [markdown]
# With the sum, every upstream gradient entry is the same number, so reversing it changes
# nothing and the bug is invisible. `tc.gradcheck` instead contracts the output with a random
# $v$ and checks $J^\top v$. A wrong backward $B$ passes only if $(B - J^\top) v = 0$, and for a
# random Gaussian $v$ that happens with probability zero unless $B = J^\top$.
#
# ## 4. Kinks: where the derivative does not exist
#
# ReLU and max-pooling are not differentiable everywhere, and finite differences say so.
#
# **ReLU at 0.** $\operatorname{relu}(x) = \max(x, 0)$ has slope 0 on the left and 1 on the right.
# The backward follows the rule "pass the gradient where the output is positive", so at exactly
# $x = 0$ it returns 0. The central difference straddles the kink and returns the average of the
# two one-sided slopes, $\tfrac12$ — and it is wrong not only *at* 0 but anywhere within $h$ of it.

# %%
h = 1e-3
grid = np.linspace(-3 * h, 3 * h, 121)
xr = tc.tensor(grid, requires_grad=True)
F.relu(xr).sum().backward()
analytic = xr.grad.numpy()
numeric = (np.maximum(grid + h, 0) - np.maximum(grid - h, 0)) / (2 * h)
zero = int(np.argmin(np.abs(grid)))
print(f"at x = 0: backward {analytic[zero]}, central difference {numeric[zero]}")

# %% [markdown]
# **Max-pool ties.** When several elements of a window share the maximum, the output does not
# depend smoothly on any one of them: nudging one up raises the max (slope 1), nudging it down
# leaves the max to the others (slope 0). tinyconv, like PyTorch, routes the whole gradient to the
# *first* maximum in the window; finite differences give every tied element $\tfrac12$.

# %%
xm = tc.tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
F.max_pool2d(xm, 2).sum().backward()
routed = xm.grad.numpy()[0, 0]


def pool_value(a):
    return F.max_pool2d(tc.tensor(a), 2).numpy().sum()


numeric_pool = np.zeros((2, 2))
for idx in np.ndindex(2, 2):
    up, down = np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2))
    up[(0, 0) + idx] += h
    down[(0, 0) + idx] -= h
    numeric_pool[idx] = (pool_value(up) - pool_value(down)) / (2 * h)
print("backward (routing rule):\n", routed)
print("central differences:\n", numeric_pool)

# %%
fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), gridspec_kw={"width_ratios": [1.6, 1, 1]})
ax = axes[0]
ax.plot(grid / h, analytic, "-", lw=2, label="backward (0 at x ≤ 0)")
ax.plot(grid / h, numeric, "--", lw=2, label=f"central difference, h = {h:g}")
ax.set_xlabel("x / h")
ax.set_ylabel("d relu / dx")
ax.set_title("ReLU: the two disagree within h of the kink")
ax.legend(fontsize=8)
for ax, arr, title in ((axes[1], routed, "max-pool backward\n(first maximum wins)"),
                       (axes[2], numeric_pool, "central differences\n(all four tied at 1.0)")):
    ax.imshow(arr, vmin=0, vmax=1, cmap="Blues")
    for (r, c), val in np.ndenumerate(arr):
        ax.text(c, r, f"{val:.2f}", ha="center", va="center", fontsize=12,
                color="w" if val > 0.6 else "k")
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()

# %% [markdown]
# Neither side is "the" gradient: at a kink the function has a set of valid slopes (the
# subdifferential), and the routing rule picks one of them consistently. The numeric answer is
# not even a member of that set in the pooling case — its entries sum to 2, while any valid
# choice sums to 1. So gradcheck *must* fail at a tie:

# %%
ones = tc.tensor(np.ones((1, 1, 4, 4)), requires_grad=True)
try:
    tc.gradcheck(lambda a: F.max_pool2d(a, 2), [ones])
except tc.GradcheckError as e:
    print("tied input:", str(e).splitlines()[1].strip())
jittered = tc.tensor(np.ones((1, 1, 4, 4)) + rng.uniform(0, 0.1, (1, 1, 4, 4)), requires_grad=True)
print("jittered input:", tc.gradcheck(lambda a: F.max_pool2d(a, 2), [jittered]))

# %% [markdown]
# Ties are not an exotic corner case. After a ReLU, every negative pre-activation becomes exactly
# zero, and a pooling window whose inputs were all negative is a four-way tie. For Gaussian
# pre-activations that is $1/2^4 = 1/16$ of all $2 \times 2$ windows:

# %%
pre = rng.standard_normal((8, 16, 32, 32))
act = np.maximum(pre, 0)
windows = act.reshape(8, 16, 16, 2, 16, 2).transpose(0, 1, 2, 4, 3, 5).reshape(-1, 4)
tied = (windows == windows.max(axis=1, keepdims=True)).sum(axis=1) > 1
print(f"windows with a tied maximum: {tied.mean():.4f}  (1/16 = {1 / 16:.4f})")

# %% [markdown]
# This is why tinyconv's tests draw their random inputs *away* from kinks when they check
# gradients (and target ties in separate tests of the routing rule), and why a fixed tie rule
# matters: it makes every backend — NumPy, Numba, CUDA — route the gradient identically.
#
# ## Summary
#
# - The tape records `Function` nodes; `backward()` applies each node's local derivative in
#   reverse order — exactly the chain rule you would write by hand.
# - Central differences have $O(h^2)$ truncation and $O(u/h)$ round-off error; the best step is
#   near $u^{1/3}$, and the best float32 error is about a million times float64's. Gradient
#   checks belong in float64.
# - Checking through `.sum()` tests one vector-Jacobian product; a random upstream gradient tests
#   them all, almost surely catching permutation and transpose bugs.
# - At kinks (ReLU at 0, max-pool ties) finite differences and the backward legitimately disagree;
#   tests avoid kinks, and a fixed routing rule keeps backends consistent.
