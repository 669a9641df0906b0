"""focal_loss: equals cross_entropy at gamma=0, the formula at gamma>0, gradients, stability,
PyTorch parity (class-weighted cross-entropy, and the formula through torch's autograd)."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinyconv as tc
import tinyconv.nn.functional as F


def t64(a, grad=True):
    return tc.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def formula(x, t, gamma, alpha=None):
    """-alpha[t] (1 - p_t)^gamma log p_t, written out in NumPy."""
    z = x - x.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    lpt = logp[np.arange(len(t)), t]
    a = 1.0 if alpha is None else np.asarray(alpha)[t]
    return -a * (1 - np.exp(lpt)) ** gamma * lpt


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gamma_zero_is_cross_entropy_exactly(dtype, reduction, rng):
    x = tc.tensor((rng.standard_normal((17, 5)) * 4).astype(dtype), requires_grad=True)
    t = tc.tensor(rng.integers(0, 5, 17))
    fl = F.focal_loss(x, t, gamma=0, reduction=reduction)
    ce = F.cross_entropy(x, t, reduction=reduction)
    np.testing.assert_array_equal(fl.numpy(), ce.numpy())
    g = rng.standard_normal(fl.shape).astype(dtype)
    fl.backward(g)
    gf = x.grad.numpy().copy()
    x.grad = None
    ce.backward(g)
    np.testing.assert_allclose(gf, x.grad.numpy(), rtol=1e-6 if dtype == np.float32 else 1e-14, atol=1e-7)


@given(st.integers(1, 6), st.integers(2, 5), st.sampled_from([0.5, 1.0, 2.0, 3.7]), st.booleans(),
       st.integers(0, 2**32 - 1))
def test_formula_and_gradcheck(n, c, gamma, weighted, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c)) * 3
    t = rng.integers(0, c, n)
    alpha = rng.uniform(0.1, 2.0, c) if weighted else None
    got = F.focal_loss(t64(x, False), tc.tensor(t), gamma, alpha, reduction="none").numpy()
    np.testing.assert_allclose(got, formula(x, t, gamma, alpha), rtol=1e-12, atol=1e-14)
    assert tc.gradcheck(lambda a: F.focal_loss(a, tc.tensor(t), gamma, alpha, reduction="none"), [t64(x)])


def test_spatial_layout_gradcheck(rng):
    x = t64(rng.standard_normal((2, 3, 4, 5)))
    t = tc.tensor(rng.integers(0, 3, (2, 4, 5)))
    assert F.focal_loss(x, t, reduction="none").shape == (2, 4, 5)
    assert tc.gradcheck(lambda a: F.focal_loss(a, t, 2.0), [x])


def test_huge_logits_stay_finite():
    x = t64([[1e4, 0.0, -1e4], [0.0, 1e4, 0.0], [-1e4, 1e4, 0.0]])
    t = tc.tensor(np.array([0, 1, 0]))
    for gamma in (0.0, 0.5, 2.0):
        loss = F.focal_loss(x, t, gamma, reduction="none")
        loss.backward(np.ones(3))
        assert np.all(np.isfinite(loss.numpy())) and np.all(np.isfinite(x.grad.numpy()))
        # confident and right: zero loss and gradient; confident and wrong: p_t = 0, weight 1
        assert loss.numpy()[0] == 0 and loss.numpy()[2] == pytest.approx(2e4)
        np.testing.assert_allclose(x.grad.numpy()[2], [-1, 1, 0], atol=1e-12)
        x.grad = None


def test_focusing_downweights_easy_samples():
    # an easy sample (p_t ~ 0.97) loses far more of its loss to the focusing factor than a hard one
    x = t64([[4.0, 0.0, 0.0], [0.0, 0.5, 0.0]], grad=False)
    t = tc.tensor(np.array([0, 0]))
    ce = F.cross_entropy(x, t, reduction="none").numpy()
    fl = F.focal_loss(x, t, 2.0, reduction="none").numpy()
    ratio = fl / ce
    assert ratio[0] < 0.002 and ratio[1] > 0.4


def test_module_and_bad_input(rng):
    x = t64(rng.standard_normal((4, 3)), grad=False)
    t = tc.tensor(np.array([0, 1, 2, 1]))
    assert tc.nn.FocalLoss(gamma=1.5)(x, t).item() == F.focal_loss(x, t, 1.5).item()
    with pytest.raises(ValueError, match="gamma"):
        F.focal_loss(x, t, gamma=-1)
    with pytest.raises(ValueError, match="one weight per class"):
        F.focal_loss(x, t, alpha=[1.0, 2.0])
    with pytest.raises(ValueError, match="non-negative"):
        F.focal_loss(x, t, alpha=[1.0, -2.0, 1.0])
    with pytest.raises(ValueError, match="out of range"):
        F.focal_loss(x, tc.tensor(np.array([0, 1, 3, 1])))
    with pytest.raises(ValueError, match="reduction"):
        tc.nn.FocalLoss(reduction="avg")


@pytest.mark.torch
def test_gamma_zero_with_alpha_is_torch_weighted_cross_entropy(rng):
    torch = pytest.importorskip("torch")
    x, t, w = rng.standard_normal((9, 4)), rng.integers(0, 4, 9), rng.uniform(0.2, 3.0, 4)
    ours = t64(x)
    theirs = torch.tensor(x, requires_grad=True)
    loss = F.focal_loss(ours, tc.tensor(t), gamma=0.0, alpha=w, reduction="sum")
    ref = torch.nn.functional.cross_entropy(theirs, torch.from_numpy(t), weight=torch.from_numpy(w),
                                            reduction="sum")
    assert loss.item() == pytest.approx(ref.item(), rel=1e-12)
    loss.backward()
    ref.backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.torch
@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_matches_torch_autograd_of_the_formula(gamma, rng):
    torch = pytest.importorskip("torch")
    x, t = rng.standard_normal((7, 5)) * 3, rng.integers(0, 5, 7)
    ours, theirs = t64(x), torch.tensor(x, requires_grad=True)
    lpt = torch.log_softmax(theirs, 1)[torch.arange(7), torch.from_numpy(t)]
    ref = (-(1 - lpt.exp()) ** gamma * lpt).mean()
    loss = F.focal_loss(ours, tc.tensor(t), gamma)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-12)
    loss.backward()
    ref.backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-12)
