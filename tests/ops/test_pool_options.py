"""max_pool2d ceil_mode / dilation and avg_pool2d ceil_mode / count_include_pad / divisor_override
against PyTorch (values, indices, gradients) and finite differences."""
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv import nn


@st.composite
def windows(draw, dilated=False):
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    d = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) if dilated else (1, 1)
    span = [dd * (kk - 1) + 1 for kk, dd in zip(k, d)]  # the window fits the padded input
    h = draw(st.integers(max(1, span[0] - 2 * p[0]), span[0] + 7))
    w = draw(st.integers(max(1, span[1] - 2 * p[1]), span[1] + 7))
    if dilated:
        return (draw(st.integers(1, 2)), draw(st.integers(1, 3)), h, w), k, s, p, d
    return (draw(st.integers(1, 2)), draw(st.integers(1, 3)), h, w), k, s, p


@given(windows(), st.booleans(), st.booleans(), st.sampled_from([None, 3]), st.integers(0, 2**31 - 1))
def test_pool_options_match_torch(case, ceil_mode, count_include_pad, divisor, seed):
    torch = pytest.importorskip("torch")
    shape, k, s, p = case
    rng = np.random.default_rng(seed)
    a = rng.permutation(int(np.prod(shape))).reshape(shape) / 7.0  # distinct: no max ties
    g_max = None
    for name in ("max", "avg"):
        x, xt = tc.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        if name == "max":
            y, i = F.max_pool2d(x, k, s, p, ceil_mode=ceil_mode, return_indices=True)
            yt, it = torch.nn.functional.max_pool2d(xt, k, s, p, ceil_mode=ceil_mode, return_indices=True)
            np.testing.assert_array_equal(i.numpy(), it.numpy())
        else:
            y = F.avg_pool2d(x, k, s, p, ceil_mode, count_include_pad, divisor)
            yt = torch.nn.functional.avg_pool2d(xt, k, s, p, ceil_mode, count_include_pad, divisor)
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-12)
        g_max = rng.standard_normal(y.shape)
        y.backward(g_max)
        yt.backward(torch.tensor(g_max))
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-14)


@given(windows(), st.booleans(), st.integers(0, 2**31 - 1))
def test_pool_options_gradcheck(case, count_include_pad, seed):
    shape, k, s, p = case
    rng = np.random.default_rng(seed)
    x = tc.tensor(rng.permutation(int(np.prod(shape))).reshape(shape) / 7.0, requires_grad=True)
    tc.gradcheck(lambda x: F.max_pool2d(x, k, s, p, ceil_mode=True), [x])
    tc.gradcheck(lambda x: F.avg_pool2d(x, k, s, p, True, count_include_pad), [x])


def test_modules_and_refusals():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(0).standard_normal((1, 2, 7, 7))
    ours = nn.MaxPool2d(2, ceil_mode=True)(tc.tensor(a))
    theirs = torch.nn.MaxPool2d(2, ceil_mode=True)(torch.tensor(a))
    assert ours.shape == (1, 2, 4, 4) == tuple(theirs.shape)
    avg = nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False)(tc.tensor(a))
    np.testing.assert_allclose(avg.numpy(), torch.nn.AvgPool2d(3, 2, 1, ceil_mode=True,
                                                               count_include_pad=False)(torch.tensor(a)).numpy())
    dilated = nn.MaxPool2d(3, 2, 1, dilation=2, ceil_mode=True)
    assert "dilation=2" in repr(dilated)
    np.testing.assert_array_equal(dilated(tc.tensor(a)).numpy(), torch.nn.MaxPool2d(
        3, 2, 1, dilation=2, ceil_mode=True)(torch.tensor(a)).numpy())
    with pytest.raises(ValueError, match="dilation"):
        F.max_pool2d(tc.tensor(a), 2, dilation=0)
    with pytest.raises(ValueError, match="dilation"):
        nn.MaxPool2d(2, dilation=(1, 0))
    with pytest.raises(ValueError, match="kernel extent"):  # 3 taps 4 apart span 9 > 7
        F.max_pool2d(tc.tensor(a), 3, dilation=4)
    with pytest.raises(ValueError, match="divisor_override"):
        F.avg_pool2d(tc.tensor(a), 2, divisor_override=0)


# --- dilation -------------------------------------------------------------------------------------
@given(windows(dilated=True), st.booleans(), st.sampled_from(["distinct", "ties"]), st.integers(0, 2**31 - 1))
def test_dilated_max_pool_matches_torch(case, ceil_mode, kind, seed):
    torch = pytest.importorskip("torch")
    shape, k, s, p, d = case
    rng = np.random.default_rng(seed)
    if kind == "distinct":
        a = rng.permutation(int(np.prod(shape))).reshape(shape) / 7.0
    else:  # few values: ties in most windows, the first maximum must win
        a = rng.integers(0, 3, shape).astype(np.float64)
    x, xt = tc.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, i = F.max_pool2d(x, k, s, p, d, ceil_mode, return_indices=True)
    yt, it = torch.nn.functional.max_pool2d(xt, k, s, p, d, ceil_mode, return_indices=True)
    assert y.shape == tuple(yt.shape)
    np.testing.assert_array_equal(y.numpy(), yt.detach().numpy())
    np.testing.assert_array_equal(i.numpy(), it.numpy())
    g = rng.standard_normal(y.shape)
    y.backward(g)
    inside = (i.numpy() >= 0) & (i.numpy() < shape[2] * shape[3])
    if inside.all():
        yt.backward(torch.tensor(g))
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-14)
    else:  # a window without a real tap points past its plane: PyTorch's backward would write
        # there (heap corruption); ours drops that gradient
        np.testing.assert_allclose(x.grad.numpy().sum(axis=(2, 3)), np.where(inside, g, 0).sum(axis=(2, 3)),
                                   rtol=1e-12, atol=1e-12)


@given(windows(dilated=True), st.booleans(), st.integers(0, 2**31 - 1))
def test_dilated_max_pool_gradcheck(case, ceil_mode, seed):
    shape, k, s, p, d = case
    rng = np.random.default_rng(seed)
    x = tc.tensor(rng.permutation(int(np.prod(shape))).reshape(shape) / 7.0, requires_grad=True)
    # a window without a real tap gives -inf, where finite differences mean nothing
    assume(np.isfinite(F.max_pool2d(x, k, s, p, d, ceil_mode).numpy()).all())
    tc.gradcheck(lambda x: F.max_pool2d(x, k, s, p, d, ceil_mode), [x])


def test_dilated_tie_goes_to_first_tap():
    # taps of the 2x2 window dilated by 2 at (0, 0), (0, 2), (2, 0), (2, 2): all equal to 1
    a = np.array([[1.0, 9.0, 1.0], [9.0, 9.0, 9.0], [1.0, 9.0, 1.0]])
    x = tc.tensor(a.reshape(1, 1, 3, 3) - 9.0 * (a.reshape(1, 1, 3, 3) == 9.0), requires_grad=True)
    y, i = F.max_pool2d(x, 2, 1, 0, 2, return_indices=True)
    assert y.item() == 1.0 and i.item() == 0
    y.backward(np.full((1, 1, 1, 1), 3.0))
    np.testing.assert_array_equal(x.grad.numpy().ravel(), [3, 0, 0, 0, 0, 0, 0, 0, 0])


def test_max_pool1d_dilation_matches_torch():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(3).standard_normal((2, 3, 17))
    x, xt = tc.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, i = F.max_pool1d(x, 3, 2, 1, dilation=3, ceil_mode=True, return_indices=True)
    yt, it = torch.nn.functional.max_pool1d(xt, 3, 2, 1, dilation=3, ceil_mode=True, return_indices=True)
    np.testing.assert_array_equal(y.numpy(), yt.detach().numpy())
    np.testing.assert_array_equal(i.numpy(), it.numpy())
    y.sum().backward()
    yt.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), xt.grad.numpy())
    with pytest.raises(ValueError, match="max_pool1d: kernel extent 19"):  # > 17
        F.max_pool1d(x, 3, dilation=9, padding=0)
