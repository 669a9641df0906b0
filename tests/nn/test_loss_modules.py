"""Loss modules and the element-wise losses against torch.nn, forward and gradients (float64)."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinyconv as tc
from tinyconv import nn
import tinyconv.nn.functional as F


def _torch():
    return pytest.importorskip("torch")


def _compare(ours, theirs, inputs, rng, torch):
    ts = [tc.tensor(a, requires_grad=a.dtype.kind == "f") for a in inputs]
    tt = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in inputs]
    y, yt = ours(*ts), theirs(*tt)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    yt.backward(torch.tensor(g))
    for a, b in zip(ts, tt):
        if b.grad is not None:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_loss_modules_match_torch(reduction, rng):
    torch = _torch()
    x = rng.standard_normal((6, 4)) * 3
    y = rng.standard_normal((6, 4))
    y[0, 0] = x[0, 0]  # a tie: L1's gradient is 0 there in both
    labels = rng.integers(0, 4, 6)
    labels[1] = 3
    probs = rng.random((6, 4))
    w = rng.uniform(0.5, 2, 4)
    pw = rng.uniform(0.5, 3, 4)
    pairs = [
        (nn.MSELoss(reduction=reduction), torch.nn.MSELoss(reduction=reduction), [x, y]),
        (nn.L1Loss(reduction=reduction), torch.nn.L1Loss(reduction=reduction), [x, y]),
        (nn.CrossEntropyLoss(reduction=reduction), torch.nn.CrossEntropyLoss(reduction=reduction), [x, labels]),
        (nn.CrossEntropyLoss(tc.tensor(w), ignore_index=3, reduction=reduction, label_smoothing=0.1),
         torch.nn.CrossEntropyLoss(torch.tensor(w), ignore_index=3, reduction=reduction, label_smoothing=0.1),
         [x, labels]),
        (nn.NLLLoss(tc.tensor(w), reduction=reduction), torch.nn.NLLLoss(torch.tensor(w), reduction=reduction),
         [x, labels]),
        (nn.BCEWithLogitsLoss(reduction=reduction), torch.nn.BCEWithLogitsLoss(reduction=reduction), [x, probs]),
        (nn.BCEWithLogitsLoss(tc.tensor(w), reduction=reduction, pos_weight=tc.tensor(pw)),
         torch.nn.BCEWithLogitsLoss(torch.tensor(w), reduction=reduction, pos_weight=torch.tensor(pw)),
         [x, probs]),
    ]
    for ours, theirs, inputs in pairs:
        _compare(ours, theirs, inputs, rng, torch)
        assert list(ours.state_dict()) == list(theirs.state_dict())


def test_bce_with_logits_is_finite_for_huge_logits():
    torch = _torch()
    x = np.array([-1e4, -50.0, 0.0, 50.0, 1e4])
    y = np.array([1.0, 0.0, 0.5, 1.0, 0.0])
    ours = F.binary_cross_entropy_with_logits(tc.tensor(x), tc.tensor(y), reduction="none")
    theirs = torch.nn.functional.binary_cross_entropy_with_logits(torch.tensor(x), torch.tensor(y), reduction="none")
    assert np.isfinite(ours.numpy()).all()
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)


@given(st.integers(0, 2**31 - 1))
def test_elementwise_losses_gradcheck(seed):
    rng = np.random.default_rng(seed)
    x = tc.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    y = tc.tensor(rng.random((3, 4)), requires_grad=True)
    pw = tc.tensor(rng.uniform(0.5, 2, 4), requires_grad=True)
    tc.gradcheck(lambda x, y: F.mse_loss(x, y, reduction="none"), [x, y])
    tc.gradcheck(lambda x, y, pw: F.binary_cross_entropy_with_logits(x, y, pos_weight=pw), [x, y, pw])
    tc.gradcheck(lambda x: F.l1_loss(x, y.detach() + 0.5, reduction="sum"), [x])


def test_loss_bad_input():
    x = tc.zeros(2, 3)
    with pytest.raises(ValueError, match="must equal input shape"):
        F.mse_loss(x, tc.zeros(3))
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match="does not broadcast"):
        F.binary_cross_entropy_with_logits(x, x, pos_weight=tc.ones(2))
    with pytest.raises(TypeError, match="target must be a Tensor"):
        F.l1_loss(x, np.zeros((2, 3)))
