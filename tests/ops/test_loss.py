"""log_softmax, softmax, cross_entropy, nll_loss: gradients, PyTorch parity (layouts, label
smoothing, reductions, logits of 1e4), bad input. Runs on the backend TINYCONV_BACKEND selects."""
import warnings

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinyconv as tc
import tinyconv.nn.functional as F


def t64(a, grad=True):
    return tc.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


@st.composite
def shape_and_dim(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    return shape, draw(st.integers(-len(shape), len(shape) - 1))


# --- gradients -----------------------------------------------------------------------------------
@given(shape_and_dim(), st.sampled_from([1.0, 10.0]), st.integers(0, 2**32 - 1))
def test_log_softmax_and_softmax_gradcheck(case, scale, seed):
    shape, dim = case
    x = t64(scale * np.random.default_rng(seed).standard_normal(shape))
    assert tc.gradcheck(lambda a: F.log_softmax(a, dim), [x])
    assert tc.gradcheck(lambda a: F.softmax(a, dim), [x])


@st.composite
def classification(draw):
    n, c = draw(st.integers(1, 5)), draw(st.integers(1, 6))
    spatial = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    return (n, c) + spatial, draw(st.sampled_from(["mean", "sum", "none"]))


@given(classification(), st.sampled_from([0.0, 0.1, 1.0]), st.integers(0, 2**32 - 1))
def test_cross_entropy_gradcheck(case, eps, seed):
    shape, reduction = case
    rng = np.random.default_rng(seed)
    x = t64(3 * rng.standard_normal(shape))
    target = tc.tensor(rng.integers(0, shape[1], (shape[0],) + shape[2:]))
    assert tc.gradcheck(lambda a: F.cross_entropy(a, target, reduction=reduction, label_smoothing=eps), [x])


@given(classification(), st.integers(0, 2**32 - 1))
def test_nll_loss_gradcheck(case, seed):
    shape, reduction = case
    rng = np.random.default_rng(seed)
    x = t64(rng.standard_normal(shape))
    target = tc.tensor(rng.integers(0, shape[1], (shape[0],) + shape[2:]))
    assert tc.gradcheck(lambda a: F.nll_loss(F.log_softmax(a, 1), target, reduction=reduction), [x])


# --- PyTorch parity ------------------------------------------------------------------------------
def parity(ours, theirs, x, rng, rtol=1e-5, atol=1e-6):
    """Forward and input gradient (float32) of ours(tc tensor) vs theirs(torch tensor)."""
    torch = pytest.importorskip("torch")
    xa, xt = tc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yt = ours(xa), theirs(xt)
    assert y.shape == tuple(yt.shape) and y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=rtol, atol=atol)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(gy)
    yt.backward(torch.from_numpy(gy))
    np.testing.assert_allclose(xa.grad.numpy(), xt.grad.numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("shape,dim", [((5,), 0), ((4, 7), 1), ((4, 7), 0), ((4, 7), -1),
                                       ((2, 3, 4, 5), 1), ((2, 3, 4, 5), 3), ((2, 3, 4), -2)])
@pytest.mark.parametrize("name", ["log_softmax", "softmax"])
def test_softmax_family_matches_pytorch(shape, dim, name, rng):
    torch = pytest.importorskip("torch")
    x = (4 * rng.standard_normal(shape)).astype(np.float32)
    parity(lambda a: getattr(F, name)(a, dim), lambda a: getattr(torch, name)(a, dim), x, rng)


@pytest.mark.parametrize("shape", [(), (5,), (4, 6), (2, 3, 4), (2, 3, 4, 2)])
def test_implicit_dim_matches_pytorch(shape, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal(shape).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # PyTorch warns about the implicit choice
        parity(F.log_softmax, torch.nn.functional.log_softmax, x, rng)
        parity(F.softmax, torch.nn.functional.softmax, x, rng)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("eps", [0.0, 0.1, 0.7, 1.0])
def test_cross_entropy_matches_pytorch(reduction, eps, rng):
    torch = pytest.importorskip("torch")
    x = (3 * rng.standard_normal((8, 5))).astype(np.float32)
    target = rng.integers(0, 5, 8)
    parity(lambda a: F.cross_entropy(a, tc.tensor(target), reduction=reduction, label_smoothing=eps),
           lambda a: torch.nn.functional.cross_entropy(a, torch.from_numpy(target),
                                                       reduction=reduction, label_smoothing=eps),
           x, rng)


@pytest.mark.parametrize("shape", [(6,), (2, 4, 3), (2, 4, 3, 5)])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cross_entropy_layouts_match_pytorch(shape, reduction, rng):
    # (C,) with a 0-d target, and (N, C, d1, ...) with (N, d1, ...)
    torch = pytest.importorskip("torch")
    x = rng.standard_normal(shape).astype(np.float32)
    target = rng.integers(0, shape[0] if len(shape) == 1 else shape[1],
                          () if len(shape) == 1 else (shape[0],) + shape[2:])
    parity(lambda a: F.cross_entropy(a, tc.tensor(target), reduction=reduction, label_smoothing=0.2),
           lambda a: torch.nn.functional.cross_entropy(a, torch.from_numpy(np.asarray(target)),
                                                       reduction=reduction, label_smoothing=0.2),
           x, rng)
    parity(lambda a: F.nll_loss(a, tc.tensor(target), reduction=reduction),
           lambda a: torch.nn.functional.nll_loss(a, torch.from_numpy(np.asarray(target)),
                                                  reduction=reduction), x, rng)


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_cross_entropy_with_huge_logits_matches_pytorch(eps, rng):
    torch = pytest.importorskip("torch")
    x = (1e4 * rng.standard_normal((6, 4))).astype(np.float32)
    x[0] = [1e4, 1e4, -1e4, 0]  # a tie at the top
    target = np.array([1, 0, 3, 2, 1, 0])
    loss = F.cross_entropy(tc.tensor(x), tc.tensor(target), label_smoothing=eps)
    assert np.isfinite(loss.item())
    parity(lambda a: F.cross_entropy(a, tc.tensor(target), reduction="none", label_smoothing=eps),
           lambda a: torch.nn.functional.cross_entropy(a, torch.from_numpy(target), reduction="none",
                                                       label_smoothing=eps),
           x, rng, rtol=1e-5, atol=1e-2)  # losses are ~1e4: atol is 1e-6 of that
    for fn in (F.log_softmax, F.softmax):
        y = fn(tc.tensor(x), 1).numpy()
        assert np.isfinite(y).all()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_matches_pytorch(reduction, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((7, 4)).astype(np.float32)
    target = rng.integers(0, 4, 7)
    parity(lambda a: F.nll_loss(a, tc.tensor(target), reduction=reduction),
           lambda a: torch.nn.functional.nll_loss(a, torch.from_numpy(target), reduction=reduction),
           x, rng)


# --- values and behaviour ------------------------------------------------------------------------
def test_cross_entropy_values_by_hand():
    x = t64([[0.0, 0.0, 0.0, 0.0], [2.0, 0.0, 0.0, 0.0]], grad=False)
    t = tc.tensor(np.array([3, 0]))
    second = -(2 - np.log(np.exp(2) + 3))
    np.testing.assert_allclose(F.cross_entropy(x, t, reduction="none").numpy(), [np.log(4), second], rtol=1e-14)
    np.testing.assert_allclose(F.cross_entropy(x, t).item(), (np.log(4) + second) / 2, rtol=1e-14)
    np.testing.assert_allclose(F.cross_entropy(x, t, reduction="sum").item(), np.log(4) + second, rtol=1e-14)
    # eps = 1: the target is uniform, so the label no longer matters
    np.testing.assert_allclose(F.cross_entropy(x, tc.tensor(np.array([0, 1])), reduction="none", label_smoothing=1.0).numpy(),
                               F.cross_entropy(x, t, reduction="none", label_smoothing=1.0).numpy(), rtol=1e-14)


def test_cross_entropy_equals_nll_of_log_softmax(rng):
    x = tc.tensor(rng.standard_normal((5, 3, 2)), requires_grad=True)
    t = tc.tensor(rng.integers(0, 3, (5, 2)))
    a = F.cross_entropy(x, t)
    b = F.nll_loss(F.log_softmax(x, 1), t)
    np.testing.assert_allclose(a.item(), b.item(), rtol=1e-13)
    a.backward()
    ga = x.grad.numpy().copy()
    x.grad = None
    b.backward()
    np.testing.assert_allclose(ga, x.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_target_is_not_differentiable_and_accepts_arrays(rng):
    x = tc.tensor(rng.standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    target_array = np.array([0, 2, 1, 2], dtype=np.int32)  # any integer dtype, Tensor or ndarray
    target = tc.tensor(target_array)
    loss = F.cross_entropy(x, target_array)
    assert loss.dtype == np.float32 and loss.shape == () and not target.requires_grad
    np.testing.assert_allclose(loss.item(), F.cross_entropy(x, target).item(), rtol=1e-7)
    loss.backward()
    assert x.grad.shape == (4, 3)


def test_empty_batch_and_empty_dims(rng):
    x = tc.tensor(np.zeros((0, 5)), requires_grad=True)
    loss = F.cross_entropy(x, tc.tensor(np.zeros(0, dtype=np.int64)), reduction="sum")
    assert loss.item() == 0
    loss.backward()
    assert x.grad.shape == (0, 5)
    y = F.softmax(tc.tensor(np.zeros((3, 0))), 1)
    assert y.shape == (3, 0)
    assert F.log_softmax(tc.tensor(np.zeros((0, 4, 2))), 1).shape == (0, 4, 2)


def test_dim_is_unchanged_layout(rng):
    # normalising along dim 1 of (N, C, H, W): every (n, h, w) column sums to one
    y = F.softmax(tc.tensor(rng.standard_normal((2, 3, 4, 5))), 1).numpy()
    np.testing.assert_allclose(y.sum(axis=1), 1, rtol=1e-14)
    assert y.shape == (2, 3, 4, 5)


# --- bad input -----------------------------------------------------------------------------------
def test_softmax_errors():
    x = tc.tensor(np.zeros((2, 3), dtype=np.float32))
    for fn in (F.softmax, F.log_softmax):
        with pytest.raises(ValueError, match=r"dim 2 is out of range \[-2, 1\] for input of shape \(2, 3\)"):
            fn(x, 2)
        with pytest.raises(TypeError, match="dim must be an int, got 1.0"):
            fn(x, 1.0)
        with pytest.raises(TypeError, match="float32 or float64, got int64"):
            fn(tc.tensor(np.zeros((2, 3), dtype=np.int64)), 1)


def test_cross_entropy_target_errors():
    x = tc.tensor(np.zeros((4, 3), dtype=np.float32))
    for fn in (F.cross_entropy, F.nll_loss):
        with pytest.raises(ValueError, match=r"target value 3 is out of range for 3 classes: class indices must be in \[0, 3\)"):
            fn(x, tc.tensor(np.array([0, 1, 3, 2])))
        with pytest.raises(ValueError, match="target value -1 is out of range"):
            fn(x, tc.tensor(np.array([0, -1, 2, 5])))
        with pytest.raises(ValueError, match=r"target shape \(3,\) does not match input shape \(4, 3\): expected \(4,\)"):
            fn(x, tc.tensor(np.array([0, 1, 2])))
        with pytest.raises(ValueError, match=r"target shape \(4, 1\) does not match"):
            fn(x, tc.tensor(np.zeros((4, 1), dtype=np.int64)))
        if fn is F.nll_loss:
            with pytest.raises(TypeError, match="target must hold integer class indices, got dtype float32"):
                fn(x, tc.tensor(np.zeros(4, dtype=np.float32)))
        else:  # a floating target is a probability target (PyTorch's rule): it needs the input's shape
            with pytest.raises(ValueError, match=r"probability targets must have the input's shape \(4, 3\), got \(4,\)"):
                fn(x, tc.tensor(np.zeros(4, dtype=np.float32)))
        with pytest.raises(TypeError, match="target must be an integer Tensor of class indices, got list"):
            fn(x, [0, 1, 2, 0])
        with pytest.raises(ValueError, match="reduction must be one of"):
            fn(x, tc.tensor(np.zeros(4, dtype=np.int64)), reduction="avg")


def test_cross_entropy_input_errors():
    t = tc.tensor(np.zeros(4, dtype=np.int64))
    with pytest.raises(TypeError, match="input must be float32 or float64, got int64"):
        F.cross_entropy(tc.tensor(np.zeros((4, 3), dtype=np.int64)), t)
    with pytest.raises(ValueError, match="got a 0-d tensor"):
        F.cross_entropy(tc.tensor(np.float32(1.0)), t)
    x = tc.tensor(np.zeros((4, 3), dtype=np.float32))
    for eps in (-0.1, 1.1):
        with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\]"):
            F.cross_entropy(x, t, label_smoothing=eps)
    with pytest.raises(TypeError, match="label_smoothing must be a number"):
        F.cross_entropy(x, t, label_smoothing=None)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("eps", [0.0, 0.3])
@pytest.mark.parametrize("use_weight,ignore", [(True, -100), (False, 1), (True, 2)])
def test_weight_and_ignore_index_match_pytorch(reduction, eps, use_weight, ignore, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((6, 4, 2)).astype(np.float32)
    target = rng.integers(0, 4, (6, 2))
    target[0, 0] = ignore if ignore >= 0 else target[0, 0]
    weight = rng.uniform(0.2, 2.0, 4).astype(np.float32)
    w, wt = (tc.tensor(weight), torch.tensor(weight)) if use_weight else (None, None)
    kw = dict(ignore_index=ignore, reduction=reduction)
    parity(lambda a: F.cross_entropy(a, tc.tensor(target), w, label_smoothing=eps, **kw),
           lambda a: torch.nn.functional.cross_entropy(a, torch.from_numpy(target), wt,
                                                       label_smoothing=eps, **kw), x, rng)
    parity(lambda a: F.nll_loss(F.log_softmax(a, 1), tc.tensor(target), w, **kw),
           lambda a: torch.nn.functional.nll_loss(torch.log_softmax(a, 1), torch.from_numpy(target),
                                                  wt, **kw), x, rng)


def test_weighted_cross_entropy_gradcheck_and_errors(rng):
    x = tc.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    t = tc.tensor(np.array([0, 2, 1, -100, 2]))
    w = tc.tensor(np.array([0.5, 1.0, 2.0]))
    tc.gradcheck(lambda a: F.cross_entropy(a, t, w, label_smoothing=0.1), [x])
    tc.gradcheck(lambda a: F.nll_loss(a, t, w, reduction="sum"), [x])
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\)"):
        F.cross_entropy(x, t, tc.tensor(np.ones(2)))
    with pytest.raises(TypeError, match="reduction= as a keyword"):
        F.cross_entropy(x, t, "sum")
    with pytest.raises(ValueError, match="target value -100 is out of range"):
        F.cross_entropy(x, t, ignore_index=-1)


@pytest.mark.parametrize("shape", [(3, 5), (5,), (2, 4, 3, 3)])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("eps", [0.0, 0.2])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_probability_targets_match_torch(shape, weighted, eps, reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x, t = rng.standard_normal(shape), rng.random(shape)
    w = rng.random(shape[0] if len(shape) == 1 else shape[1]) if weighted else None
    xt, tt = tc.tensor(x, requires_grad=True), tc.tensor(t, requires_grad=True)
    X, T = torch.tensor(x, requires_grad=True), torch.tensor(t, requires_grad=True)
    ours = F.cross_entropy(xt, tt, weight=None if w is None else tc.tensor(w), reduction=reduction,
                           label_smoothing=eps)
    theirs = torch.nn.functional.cross_entropy(X, T, weight=None if w is None else torch.tensor(w),
                                               reduction=reduction, label_smoothing=eps)
    v = rng.standard_normal(theirs.shape)
    ours.backward(tc.tensor(v))
    gx, gt = torch.autograd.grad(theirs, (X, T), torch.tensor(v))
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(xt.grad.numpy(), gx.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tt.grad.numpy(), gt.numpy(), rtol=1e-12, atol=1e-12)
