"""distillation_loss: the formula, gradients into student and teacher (gradcheck), limits
(alpha=0 is cross_entropy, alpha=1 is T^2 KL), stability, bad input, and PyTorch parity
against kl_div(log_softmax(s/T), softmax(t/T), reduction="batchmean") * T^2 + cross_entropy."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinyconv as tc
import tinyconv.nn.functional as F


def t64(a, grad=True):
    return tc.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


@given(st.integers(1, 5), st.integers(2, 6), st.sampled_from([0.5, 1.0, 4.0, 10.0]),
       st.sampled_from([0.0, 0.25, 0.9, 1.0]), st.sampled_from(["mean", "sum", "none"]),
       st.booleans(), st.integers(0, 2**32 - 1))
def test_gradcheck_student_and_teacher(n, c, T, alpha, reduction, teacher_grad, seed):
    rng = np.random.default_rng(seed)
    s, t = t64(rng.standard_normal((n, c)) * 3), t64(rng.standard_normal((n, c)) * 3, teacher_grad)
    target = tc.tensor(rng.integers(0, c, n))
    # gradcheck draws a random upstream gradient for reduction="none"
    assert tc.gradcheck(lambda a, b: F.distillation_loss(a, b, target, T, alpha, reduction), [s, t])


def test_alpha_zero_is_cross_entropy_and_alpha_one_is_scaled_kl(rng):
    x, y = rng.standard_normal((6, 4)) * 2, rng.standard_normal((6, 4)) * 2
    target = tc.tensor(rng.integers(0, 4, 6))
    ce = F.cross_entropy(t64(x, False), target).item()
    assert F.distillation_loss(t64(x, False), t64(y, False), target, 3.0, 0.0).item() == \
        pytest.approx(ce, rel=1e-13)
    p = F.log_softmax(t64(x / 3, False), 1).numpy()
    q = F.log_softmax(t64(y / 3, False), 1).numpy()
    kl = (np.exp(q) * (q - p)).sum(1).mean()
    assert F.distillation_loss(t64(x, False), t64(y, False), target, 3.0, 1.0).item() == \
        pytest.approx(9 * kl, rel=1e-12)
    # student equal to the teacher: the soft term and its gradient vanish
    s = t64(y)
    loss = F.distillation_loss(s, t64(y, False), target, 3.0, 1.0)
    loss.backward()
    assert abs(loss.item()) < 1e-14 and np.abs(s.grad.numpy()).max() < 1e-14


def test_teacher_without_grad_gets_none_and_float32_works(rng):
    s = tc.tensor(rng.standard_normal((5, 3)).astype(np.float32), requires_grad=True)
    t = tc.tensor(rng.standard_normal((5, 3)).astype(np.float32))
    loss = F.distillation_loss(s, t, tc.tensor(rng.integers(0, 3, 5)))
    assert loss.dtype == np.float32
    loss.backward()
    assert t.grad is None and s.grad.dtype == np.float32 and s.grad.shape == (5, 3)


def test_huge_logits_stay_finite():
    s = t64([[1e4, 0.0, -1e4], [0.0, 1e4, 0.0]])
    t = t64([[-1e4, 1e4, 0.0], [0.0, 1e4, 0.0]], grad=False)
    loss = F.distillation_loss(s, t, tc.tensor(np.array([0, 1])), T=2.0, alpha=0.5)
    loss.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(s.grad.numpy()))


def test_module_and_bad_input(rng):
    s, t = t64(rng.standard_normal((4, 3)), False), t64(rng.standard_normal((4, 3)), False)
    target = tc.tensor(np.array([0, 1, 2, 1]))
    assert tc.nn.DistillationLoss(T=2.0, alpha=0.5)(s, t, target).item() == \
        F.distillation_loss(s, t, target, 2.0, 0.5).item()
    assert "T=2.0" in repr(tc.nn.DistillationLoss(T=2.0))
    bad = [
        (dict(T=0.0), ValueError, "T .temperature. must be > 0"),
        (dict(T=float("nan")), ValueError, "T must be a finite number"),
        (dict(alpha=1.5), ValueError, r"alpha must be in \[0, 1\]"),
        (dict(alpha=-0.1), ValueError, "alpha"),
        (dict(reduction="batchmean"), ValueError, "reduction"),
    ]
    for kwargs, exc, match in bad:
        with pytest.raises(exc, match=match):
            F.distillation_loss(s, t, target, **kwargs)
    with pytest.raises(ValueError, match=r"teacher_logits shape \(4, 5\) does not match"):
        F.distillation_loss(s, t64(np.zeros((4, 5)), False), target)
    with pytest.raises(TypeError, match="share one dtype"):
        F.distillation_loss(s, tc.tensor(t.numpy().astype(np.float32)), target)
    with pytest.raises(TypeError, match="float32 or float64"):
        F.distillation_loss(s, tc.tensor(np.zeros((4, 3), np.int64)), target)
    with pytest.raises(ValueError, match=r"must be \(N, C\)"):
        F.distillation_loss(s.reshape(12), t.reshape(12), target)
    with pytest.raises(ValueError, match="out of range"):
        F.distillation_loss(s, t, tc.tensor(np.array([0, 1, 3, 1])))
    with pytest.raises(ValueError, match="target shape"):
        F.distillation_loss(s, t, tc.tensor(np.array([0, 1])))
    with pytest.raises(TypeError, match="must be a Tensor"):
        F.distillation_loss(s.numpy(), t, target)
    for kwargs in (dict(T=-1.0), dict(alpha=2.0), dict(reduction="avg")):
        with pytest.raises(ValueError):
            tc.nn.DistillationLoss(**kwargs)


@pytest.mark.torch
@pytest.mark.parametrize("T,alpha,reduction", [(4.0, 0.9, "mean"), (1.0, 0.5, "mean"), (20.0, 0.7, "sum"),
                                               (2.0, 1.0, "mean"), (0.5, 0.0, "mean"), (3.0, 0.9, "none")])
def test_matches_torch_kl_div_formula(T, alpha, reduction, rng):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    n, c = 8, 10
    x, y, target = rng.standard_normal((n, c)) * 4, rng.standard_normal((n, c)) * 4, rng.integers(0, c, n)
    s, t = t64(x), t64(y)
    ts, tt = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
    tgt = torch.from_numpy(target)
    if reduction == "none":  # per sample: kl_div's elementwise terms summed over classes
        kl = tf.kl_div(tf.log_softmax(ts / T, 1), tf.softmax(tt / T, 1), reduction="none",
                       log_target=False).sum(1)
        ref = alpha * kl * T ** 2 + (1 - alpha) * tf.cross_entropy(ts, tgt, reduction="none")
    else:
        kl = tf.kl_div(tf.log_softmax(ts / T, 1), tf.softmax(tt / T, 1),
                       reduction="batchmean" if reduction == "mean" else "sum", log_target=False)
        ref = alpha * kl * T ** 2 + (1 - alpha) * tf.cross_entropy(ts, tgt, reduction=reduction)
    loss = F.distillation_loss(s, t, tc.tensor(target), T, alpha, reduction)
    np.testing.assert_allclose(loss.numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(loss.shape) if reduction == "none" else np.float64(1.0)
    loss.backward(g)
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(s.grad.numpy(), ts.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(t.grad.numpy(), tt.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.torch
def test_matches_torch_float32(rng):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x = (rng.standard_normal((64, 10)) * 5).astype(np.float32)
    y = (rng.standard_normal((64, 10)) * 5).astype(np.float32)
    target = rng.integers(0, 10, 64)
    s = tc.tensor(x, requires_grad=True)
    ts = torch.tensor(x, requires_grad=True)
    ref = 0.9 * 16 * tf.kl_div(tf.log_softmax(ts / 4, 1), tf.softmax(torch.tensor(y) / 4, 1),
                               reduction="batchmean") + 0.1 * tf.cross_entropy(ts, torch.from_numpy(target))
    loss = F.distillation_loss(s, tc.tensor(y), tc.tensor(target))
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5)
    loss.backward()
    ref.backward()
    np.testing.assert_allclose(s.grad.numpy(), ts.grad.numpy(), rtol=1e-4, atol=1e-6)
