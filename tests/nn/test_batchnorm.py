"""BatchNorm: kernels (reference and Numba) against the formula, gradchecks, and the modules
against torch.nn.BatchNorm1d/2d in train and eval, running statistics and state_dict keys."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinyconv as tc
from tinyconv import nn
import tinyconv.nn.functional as F
from tinyconv.kernels.cpu import batchnorm as cpu
from tinyconv.kernels.reference import batchnorm as ref


def _torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 4), c=st.integers(1, 5), l=st.integers(2, 9),
       training=st.booleans())
def test_kernels_agree_with_each_other_and_the_formula(dtype, tol, seed, n, c, l, training):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, c, l)) * 3 + 1).astype(dtype)
    gy = rng.standard_normal((n, c, l)).astype(dtype)
    w, b = rng.standard_normal(c), rng.standard_normal(c)
    mean, var = ref.batch_norm_stats(x)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(mean, x64.mean(axis=(0, 2)), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(var, x64.var(axis=(0, 2)), rtol=1e-10, atol=1e-12)
    for other, got in zip(ref.batch_norm_stats(x), cpu.batch_norm_stats(x)):
        np.testing.assert_allclose(got, other, rtol=1e-10, atol=1e-12)
    invstd = 1 / np.sqrt(var + 1e-5)
    y_ref = ref.batch_norm_forward(x, mean, invstd, w, b)
    expect = (x64 - mean[:, None]) * invstd[:, None] * w[:, None] + b[:, None]
    # float32 rounds x - mean at the scale of x, and invstd magnifies that rounding (a channel of
    # nearly equal values): the absolute error scales with |x| * invstd * |w|, not with y
    atol = tol * max(1.0, float((np.abs(x64) * invstd[:, None] * np.abs(w)[:, None]).max()))
    np.testing.assert_allclose(y_ref, expect, rtol=tol, atol=atol)
    np.testing.assert_allclose(cpu.batch_norm_forward(x, mean, invstd, w, b), y_ref, rtol=tol, atol=atol)
    assert y_ref.dtype == dtype
    for got, want in zip(cpu.batch_norm_backward(gy, x, mean, invstd, w, training),
                         ref.batch_norm_backward(gy, x, mean, invstd, w, training)):
        np.testing.assert_allclose(got, want, rtol=tol * 10, atol=tol * 10)


@given(seed=st.integers(0, 2**31 - 1), shape=st.sampled_from([(4, 3), (2, 3, 5), (2, 2, 3, 3)]),
       training=st.booleans())
def test_batch_norm_gradcheck(seed, shape, training):
    rng = np.random.default_rng(seed)
    c = shape[1]
    x = tc.tensor(rng.standard_normal(shape), requires_grad=True)
    w = tc.tensor(rng.uniform(0.5, 2, c), requires_grad=True)
    b = tc.tensor(rng.standard_normal(c), requires_grad=True)
    rm, rv = tc.tensor(rng.standard_normal(c)), tc.tensor(rng.uniform(0.5, 2, c))
    tc.gradcheck(lambda x, w, b: F.batch_norm(x, rm.clone() if training else rm,
                                              rv.clone() if training else rv, w, b, training),
                 [x, w, b], atol=1e-6)


@pytest.mark.parametrize("cls,shape", [("BatchNorm2d", (4, 3, 5, 6)), ("BatchNorm1d", (8, 3)),
                                       ("BatchNorm1d", (4, 3, 7))])
@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
def test_module_matches_torch_train_and_eval(cls, shape, momentum):
    torch = _torch()
    rng = np.random.default_rng(7)
    ours = getattr(nn, cls)(3, momentum=momentum, dtype=np.float64)
    theirs = getattr(torch.nn, cls)(3, momentum=momentum, dtype=torch.float64)
    w, b = rng.uniform(0.5, 2, 3), rng.standard_normal(3)
    ours.load_state_dict({"weight": w, "bias": b, "running_mean": np.zeros(3), "running_var": np.ones(3),
                          "num_batches_tracked": np.array(0)})
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(w))
        theirs.bias.copy_(torch.tensor(b))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for step in range(4):
        if step == 3:
            ours.eval()
            theirs.eval()
        a = rng.standard_normal(shape) * 2 + step
        g = rng.standard_normal(shape)
        x, xt = tc.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        y, yt = ours(x), theirs(xt)
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-10)
        ours.zero_grad()
        theirs.zero_grad()
        y.backward(g)
        yt.backward(torch.tensor(g))
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(ours.bias.grad.numpy(), theirs.bias.grad.numpy(), rtol=1e-10, atol=1e-10)
        for k, v in theirs.state_dict().items():
            np.testing.assert_allclose(ours.state_dict()[k], v.numpy(), rtol=1e-10, atol=1e-12)
    assert int(ours.num_batches_tracked.item()) == 3


def test_no_affine_no_running_stats_match_torch():
    torch = _torch()
    a = np.random.default_rng(3).standard_normal((5, 2, 3, 3))
    ours = nn.BatchNorm2d(2, affine=False, track_running_stats=False).double().eval()
    theirs = torch.nn.BatchNorm2d(2, affine=False, track_running_stats=False).double().eval()
    assert list(ours.state_dict()) == list(theirs.state_dict()) == []
    np.testing.assert_allclose(ours(tc.tensor(a)).numpy(), theirs(torch.tensor(a)).numpy(), rtol=1e-10)


def test_batchnorm_float32_and_bad_input():
    bn = nn.BatchNorm2d(3)
    y = bn(tc.tensor(np.random.default_rng(0).standard_normal((2, 3, 4, 4)).astype(np.float32)))
    assert y.dtype == np.float32 and bn.running_mean.dtype == np.float32
    with pytest.raises(ValueError, match="4-D"):
        bn(tc.zeros(2, 3))
    with pytest.raises(ValueError, match="3 channels"):
        bn(tc.zeros(2, 4, 2, 2))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(tc.zeros(1, 3))
    with pytest.raises(ValueError, match="momentum"):
        nn.BatchNorm1d(3, momentum=2.0)
    with pytest.raises(ValueError, match="shape \\(3,\\)"):
        F.batch_norm(tc.zeros(2, 3), tc.zeros(2), tc.ones(2), training=False)
