"""Softmax kernels: the Numba flavour against the NumPy reference, both against closed forms
computed in float64, and both finite for logits of any size."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinyconv.kernels.cpu import softmax as cpu
from tinyconv.kernels.reference import softmax as ref

FLAVOURS = [pytest.param(ref, id="reference"), pytest.param(cpu, id="cpu")]


def close(actual, expected, scale=None):
    """float64 to 1e-10, float32 to 1e-5, with an absolute floor scaled to the data (or to
    `scale`, the size of the values the result was computed from)."""
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    rtol = 1e-10 if expected.dtype == np.float64 else 1e-5
    if scale is None:
        scale = float(np.abs(expected).max()) if expected.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * max(scale, 1.0))


@st.composite
def rows(draw, min_classes=1):
    n, c = draw(st.integers(0, 6)), draw(st.integers(min_classes, 9))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    scale = draw(st.sampled_from([0.1, 3.0, 100.0, 1e4]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return (scale * rng.standard_normal((n, c))).astype(dtype), rng, scale


@given(rows(min_classes=0))
def test_log_softmax_cpu_matches_reference(case):
    x, rng, scale = case
    y = cpu.log_softmax_forward(x)
    close(y, ref.log_softmax_forward(x), scale)
    assert np.isfinite(y).all() and (y <= 0).all()
    gy = rng.standard_normal(x.shape).astype(x.dtype)
    close(cpu.log_softmax_backward(gy, y), ref.log_softmax_backward(gy, y))


@given(rows(min_classes=0))
def test_softmax_cpu_matches_reference(case):
    x, rng, _ = case
    y = cpu.softmax_forward(x)
    close(y, ref.softmax_forward(x))
    if x.shape[1]:
        close(y.sum(axis=1), np.ones(x.shape[0], dtype=x.dtype))
    gy = rng.standard_normal(x.shape).astype(x.dtype)
    close(cpu.softmax_backward(gy, y), ref.softmax_backward(gy, y))


@given(rows(), st.sampled_from([0.0, 0.1, 0.5, 1.0]))
def test_cross_entropy_cpu_matches_reference(case, eps):
    x, rng, scale = case
    n, c = x.shape
    target = rng.integers(0, c, n).astype(np.int64)
    loss, logp = cpu.cross_entropy_forward(x, target, eps)
    loss_ref, logp_ref = ref.cross_entropy_forward(x, target, eps)
    assert loss.shape == (n,) and loss.dtype == x.dtype and logp.dtype == x.dtype
    close(loss, loss_ref, scale)
    close(logp, logp_ref, scale)
    gloss = rng.standard_normal(n).astype(x.dtype)
    g = cpu.cross_entropy_backward(gloss, logp, target, eps)
    close(g, ref.cross_entropy_backward(gloss, logp_ref, target, eps))


def exact_log_softmax(x):
    """Closed form in float64 (only for logits small enough that exp cannot overflow)."""
    x = x.astype(np.float64)
    return np.log(np.exp(x) / np.exp(x).sum(axis=1, keepdims=True))


@pytest.mark.parametrize("k", FLAVOURS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_against_closed_forms(k, dtype, rng):
    x = rng.standard_normal((5, 7)).astype(dtype)
    logp = exact_log_softmax(x)
    close(k.log_softmax_forward(x), logp.astype(dtype))
    close(k.softmax_forward(x), np.exp(logp).astype(dtype))
    # gradients as Jacobian-vector products: J_softmax = diag(p) - p p^T
    gy = rng.standard_normal(x.shape)
    p = np.exp(logp)
    jvp = np.einsum("nij,nj->ni", np.eye(7) * p[:, :, None] - p[:, :, None] * p[:, None, :], gy)
    close(k.softmax_backward(gy.astype(dtype), p.astype(dtype)), jvp.astype(dtype))
    jvp_log = np.einsum("nij,ni->nj", np.eye(7) - p[:, None, :], gy)
    close(k.log_softmax_backward(gy.astype(dtype), logp.astype(dtype)), jvp_log.astype(dtype))
    # cross-entropy with smoothing: -sum_j q_j log p_j, q = (1-eps) onehot + eps/C
    t = np.array([0, 6, 3, 3, 1])
    q = 0.8 * np.eye(7)[t] + 0.2 / 7
    loss, lp = k.cross_entropy_forward(x, t, 0.2)
    close(loss, -(q * logp).sum(axis=1).astype(dtype))
    gloss = rng.standard_normal(5)
    close(k.cross_entropy_backward(gloss.astype(dtype), lp, t, 0.2),
          (gloss[:, None] * (p - q)).astype(dtype))


@pytest.mark.parametrize("k", FLAVOURS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_logits_stay_finite(k, dtype):
    # exp(1e4) overflows both dtypes: only the max-subtracted form gets these right
    x = np.array([[1e4, 0.0, -1e4], [1e4, 1e4 - 1, 1e4 - 2], [-1e4, -1e4, -1e4]], dtype=dtype)
    t = np.array([1, 0, 2])
    logp = k.log_softmax_forward(x)
    assert np.isfinite(logp).all()
    lse = np.log(1 + np.exp(-1.0) + np.exp(-2.0))
    np.testing.assert_allclose(logp[0], [0, -1e4, -2e4], rtol=1e-6)
    np.testing.assert_allclose(logp[1], [-lse, -1 - lse, -2 - lse], rtol=1e-3 if dtype == np.float32 else 1e-10)
    np.testing.assert_allclose(logp[2], -np.log(3), rtol=1e-6)
    np.testing.assert_allclose(k.softmax_forward(x).sum(axis=1), 1, rtol=1e-6)
    for eps in (0.0, 0.3):
        loss, lp = k.cross_entropy_forward(x, t, eps)
        g = k.cross_entropy_backward(np.ones(3, dtype=dtype), lp, t, eps)
        assert np.isfinite(loss).all() and np.isfinite(g).all()
        np.testing.assert_allclose(g.sum(axis=1), 0, atol=1e-6)  # softmax minus a distribution
    np.testing.assert_allclose(k.cross_entropy_forward(x, t, 0.0)[0][0], 1e4, rtol=1e-6)


@pytest.mark.parametrize("k", FLAVOURS)
def test_minus_inf_logit_without_smoothing_gives_finite_loss(k):
    # a masked-out class: with eps = 0 its -inf log-probability never enters the loss
    x = np.array([[2.0, -np.inf, 0.5]])
    loss, logp = k.cross_entropy_forward(x, np.array([0]), 0.0)
    expected = -(2.0 - np.log(np.exp(2.0) + np.exp(0.5)))
    np.testing.assert_allclose(loss, [expected], rtol=1e-12)
    g = k.cross_entropy_backward(np.ones(1), logp, np.array([0]), 0.0)
    assert np.isfinite(g).all() and g[0, 1] == 0


@pytest.mark.parametrize("k", FLAVOURS)
def test_nan_in_a_row_poisons_only_that_row(k):
    x = np.array([[1.0, np.nan, 2.0], [np.nan, 0.0, 1.0], [0.0, 1.0, 2.0]])
    for y in (k.log_softmax_forward(x), k.softmax_forward(x)):
        assert np.isnan(y[:2]).all() and np.isfinite(y[2]).all()


@pytest.mark.parametrize("k", FLAVOURS)
def test_empty_shapes(k):
    assert k.log_softmax_forward(np.zeros((0, 4))).shape == (0, 4)
    assert k.softmax_forward(np.zeros((3, 0), dtype=np.float32)).shape == (3, 0)
    loss, logp = k.cross_entropy_forward(np.zeros((0, 4)), np.zeros(0, dtype=np.int64), 0.1)
    assert loss.shape == (0,) and logp.shape == (0, 4)
