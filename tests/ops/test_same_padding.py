"""padding="same" with an odd total d*(k-1) (even kernels, dilation): PyTorch pads the extra
row/column at the bottom/right. conv2d, conv1d and the modules against torch (float64 forward and
every gradient) and finite differences."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinyconv as tc
import tinyconv.nn.functional as F

# torch notes that it copies the input for an odd total; that is its business, not a failure
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")


@st.composite
def same_cases(draw):
    """(x shape, w shape, dilation, groups): kernels of both parities, at least one odd total."""
    groups = draw(st.integers(1, 2))
    c, o = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    k = (draw(st.integers(1, 4)), draw(st.integers(2, 4)))
    d = (draw(st.integers(1, 3)), draw(st.sampled_from([1, 3])))  # d*(k-1) odd along W when k is even
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    return (draw(st.integers(1, 2)), c, h, w), (o, c // groups) + k, d, groups


@given(same_cases(), st.booleans(), st.integers(0, 2**31 - 1))
def test_conv2d_same_matches_torch(case, bias, seed):
    torch = pytest.importorskip("torch")
    x_shape, w_shape, dilation, groups = case
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(x_shape), rng.standard_normal(w_shape)]
    if bias:
        arrays.append(rng.standard_normal(w_shape[0]))
    ours = [tc.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    y = F.conv2d(*ours, padding="same", dilation=dilation, groups=groups)
    yt = torch.nn.functional.conv2d(*theirs, padding="same", dilation=dilation, groups=groups)
    assert y.shape == tuple(yt.shape) == (x_shape[0], w_shape[0]) + x_shape[2:]
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    yt.backward(torch.tensor(g))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)


@given(same_cases(), st.integers(0, 2**31 - 1))
def test_conv2d_same_gradcheck(case, seed):
    x_shape, w_shape, dilation, groups = case
    rng = np.random.default_rng(seed)
    x, w, b = (tc.tensor(rng.standard_normal(s), requires_grad=True) for s in (x_shape, w_shape, w_shape[:1]))
    assert tc.gradcheck(lambda *a: F.conv2d(*a, padding="same", dilation=dilation, groups=groups), [x, w, b])


def test_extra_row_and_column_go_bottom_right():
    # a 2x2 kernel of ones: output (i, j) sums x[i:i+2, j:j+2] with zeros past the bottom/right
    x = tc.tensor(np.arange(9.0).reshape(1, 1, 3, 3))
    y = F.conv2d(x, tc.tensor(np.ones((1, 1, 2, 2))), padding="same")
    np.testing.assert_array_equal(y.numpy()[0, 0], [[8, 12, 7], [20, 24, 13], [13, 15, 8]])
    # unbatched input, odd total along H only (dilation 3 on a 2-tall kernel)
    y = F.conv2d(x.reshape(1, 3, 3), tc.tensor(np.ones((1, 1, 2, 1))), padding="same", dilation=(3, 1))
    # total 3: one row above, two below; output row i reads rows i-1 and i+2
    np.testing.assert_array_equal(y.numpy()[0], [[6, 7, 8], [0, 1, 2], [3, 4, 5]])


def test_conv1d_and_modules_same_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    a, k = rng.standard_normal((2, 4, 11)), rng.standard_normal((6, 2, 4))
    x, xt = tc.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    w, wt = tc.tensor(k, requires_grad=True), torch.tensor(k, requires_grad=True)
    y = F.conv1d(x, w, padding="same", dilation=3, groups=2)
    yt = torch.nn.functional.conv1d(xt, wt, padding="same", dilation=3, groups=2)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10)
    y.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(w.grad.numpy(), wt.grad.numpy(), rtol=1e-10)

    ours, theirs = tc.nn.Conv2d(3, 5, (2, 4), padding="same"), torch.nn.Conv2d(3, 5, (2, 4), padding="same")
    ours.weight.data[...] = theirs.weight.detach().numpy()
    ours.bias.data[...] = theirs.bias.detach().numpy()
    img = rng.standard_normal((2, 3, 6, 7)).astype(np.float32)
    np.testing.assert_allclose(ours(tc.tensor(img)).numpy(), theirs(torch.tensor(img)).detach().numpy(),
                               rtol=1e-5, atol=1e-5)
    assert tc.nn.Conv1d(2, 4, 4, padding="same")(tc.tensor(np.zeros((3, 2, 9), np.float32))).shape == (3, 4, 9)
