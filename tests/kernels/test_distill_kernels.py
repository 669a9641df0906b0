"""Distillation-loss kernels: the Numba flavour and the CUDA flavour's CuPy expressions (run on
NumPy through kernels/cuda/emulate, and on a GPU where there is one) against the NumPy
reference, and the reference against the formula written out in float64."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinyconv.kernels.cpu import distill as cpu
from tinyconv.kernels.cuda.emulate import distill as emulated
from tinyconv.kernels.reference import distill as ref


def close(actual, expected, scale=1.0):
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    tol = 1e-10 if expected.dtype == np.float64 else 1e-5
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * max(scale, 1.0))


@st.composite
def cases(draw):
    n, c = draw(st.integers(0, 7)), draw(st.integers(1, 11))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    scale = draw(st.sampled_from([0.1, 3.0, 100.0]))
    T = draw(st.sampled_from([0.5, 1.0, 4.0, 20.0]))
    alpha = draw(st.sampled_from([0.0, 0.3, 0.9, 1.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    s = (scale * rng.standard_normal((n, c))).astype(dtype)
    t = (scale * rng.standard_normal((n, c))).astype(dtype)
    target = rng.integers(0, c, n).astype(np.int64)
    g = rng.standard_normal(n).astype(dtype)
    return s, t, target, T, alpha, g, scale


def check_flavour(k, case):
    s, t, target, T, alpha, g, scale = case
    got, want = k.distillation_forward(s, t, target, T, alpha), ref.distillation_forward(s, t, target, T, alpha)
    # the KL is a difference of log-probabilities (rounded to the dtype in the reference) times
    # T^2: the absolute floor scales with T^2 and the logits' size
    close(got[0], want[0], max(T, 1.0) ** 2 * max(scale, 1.0))
    for a, b in zip(got[1:], want[1:]):
        close(a, b, scale)
    for need in (False, True):
        # both sides from the reference's saved arrays, so only the backward kernels differ
        gs, gt = k.distillation_backward(g, *want[1:], target, T, alpha, need)
        rs, rt = ref.distillation_backward(g, *want[1:], target, T, alpha, need)
        close(gs, rs, max(T, 1.0))
        assert (gt is None) == (not need)
        if need:
            close(gt, rt, scale * max(T, 1.0))


@given(cases())
def test_cpu_matches_reference(case):
    check_flavour(cpu, case)


@pytest.mark.emulated
@given(cases())
def test_cuda_expressions_match_reference_on_the_host(case):
    check_flavour(emulated, case)


@given(cases())
def test_reference_is_the_formula(case):
    s, t, target, T, alpha, g, _ = case
    s64, t64 = s.astype(np.float64), t.astype(np.float64)

    def softmax(x):
        e = np.exp(x - x.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)
    p, q, r = softmax(s64 / T), softmax(t64 / T), softmax(s64)
    n = len(target)
    with np.errstate(all="ignore"):  # only rows without underflow are compared
        kl = (q * (np.log(q) - np.log(p))).sum(1)
        want = alpha * T * T * kl - (1 - alpha) * np.log(r[np.arange(n), target])
    if s.dtype == np.float64 and np.all(q > 0) and np.all(p > 0) and np.all(r > 0):
        np.testing.assert_allclose(ref.distillation_forward(s, t, target, T, alpha)[0], want,
                                   rtol=1e-8, atol=1e-8 * T * T)
    onehot = np.eye(s.shape[1])[target]
    gs_want = (alpha * T * (p - q) + (1 - alpha) * (r - onehot)) * g.astype(np.float64)[:, None]
    _, logp, logq, logr = ref.distillation_forward(s64, t64, target, T, alpha)
    gs, _ = ref.distillation_backward(g.astype(np.float64), logp, logq, logr, target, T, alpha, False)
    np.testing.assert_allclose(gs, gs_want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("k", [ref, cpu, emulated], ids=["reference", "cpu", "emulated"])
def test_underflowing_teacher_probabilities_and_huge_logits_stay_finite(k):
    s = np.array([[1e4, 0.0, -1e4], [0.0, 0.0, 0.0]])
    t = np.array([[-np.inf, 5e3, 0.0], [1e4, -1e4, 0.0]])  # q = 0 exactly in places
    target = np.array([0, 2])
    loss, logp, logq, logr = k.distillation_forward(s, t, target, 1.0, 0.5)
    assert np.all(np.isfinite(loss))
    gs, gt = k.distillation_backward(np.ones(2), logp, logq, logr, target, 1.0, 0.5, True)
    assert np.all(np.isfinite(gs)) and np.all(np.isfinite(gt))
    # row 1: the teacher is certain of class 0, the student uniform: KL = log 3
    assert loss[1] == pytest.approx(0.5 * np.log(3) + 0.5 * np.log(3), rel=1e-12)


@pytest.mark.gpu
@given(cases())
def test_cuda_matches_reference_on_the_device(case):
    cp = pytest.importorskip("cupy")
    from tinyconv.kernels.cuda import distill as cuda

    class OnDevice:  # the cuda flavour with host arrays in and out
        @staticmethod
        def distillation_forward(*args):
            out = cuda.distillation_forward(*(cp.asarray(a) if isinstance(a, np.ndarray) else a for a in args))
            return tuple(cp.asnumpy(a) for a in out)

        @staticmethod
        def distillation_backward(*args):
            out = cuda.distillation_backward(*(cp.asarray(a) if isinstance(a, np.ndarray) else a for a in args))
            return tuple(None if a is None else cp.asnumpy(a) for a in out)
    check_flavour(OnDevice, case)


@pytest.mark.emulated
def test_every_backend_dispatches_to_its_flavour_and_agrees():
    import tinyconv as tc
    import tinyconv.nn.functional as F
    from tinyconv import backend
    rng = np.random.default_rng(0)
    target = tc.tensor(rng.integers(0, 4, 5))
    results = []
    for name, module in [("numpy", "reference"), ("numba", "cpu"), ("cuda-emulated", "cuda.emulate")]:
        s = tc.tensor(rng.standard_normal((5, 4)) if not results else results[0][3], requires_grad=True)
        t = tc.tensor(rng.standard_normal((5, 4)) if not results else results[0][4], requires_grad=True)
        with tc.use_backend(name):
            assert backend.kernels("distill", s.data).__name__ == f"tinyconv.kernels.{module}.distill"
            loss = F.distillation_loss(s, t, target, 3.0, 0.7)
            loss.backward()
        results.append((loss.item(), s.grad.numpy(), t.grad.numpy(), s.numpy(), t.numpy()))
    for loss, gs, gt, _, _ in results[1:]:
        assert loss == pytest.approx(results[0][0], rel=1e-12)
        np.testing.assert_allclose(gs, results[0][1], rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(gt, results[0][2], rtol=1e-10, atol=1e-14)
