"""conv1d and the 1-D pools: gradients, PyTorch parity (float64, forward and every gradient),
the height-1 view against conv2d, bad input. Runs on the backend TINYCONV_BACKEND selects."""
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import tinyconv as tc
import tinyconv.nn.functional as F


def t64(a, grad=True):
    return tc.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


@st.composite
def conv_cases(draw):
    groups = draw(st.integers(1, 2))
    c, o = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 3))
    k, s, d = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    p = draw(st.integers(0, 2))
    length = draw(st.integers(1, 12))
    assume(d * (k - 1) + 1 <= length + 2 * p)
    return (draw(st.integers(1, 2)), c, length), (o, c // groups, k), s, p, d, groups, draw(st.booleans())


@given(conv_cases(), st.integers(0, 2**32 - 1))
def test_conv1d_gradcheck(case, seed):
    xs, ws, s, p, d, g, bias = case
    rng = np.random.default_rng(seed)
    args = [t64(rng.standard_normal(xs)), t64(rng.standard_normal(ws))]
    if bias:
        args.append(t64(rng.standard_normal(ws[0])))
    assert tc.gradcheck(lambda *a: F.conv1d(*a[:2], a[2] if bias else None, s, p, d, g), args)


@pytest.mark.torch
@given(conv_cases(), st.integers(0, 2**32 - 1))
def test_conv1d_matches_torch_float64(case, seed):
    torch = pytest.importorskip("torch")
    xs, ws, s, p, d, g, bias = case
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(xs), rng.standard_normal(ws)] + ([rng.standard_normal(ws[0])] if bias else [])
    ours = [t64(a) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    y = F.conv1d(ours[0], ours[1], ours[2] if bias else None, s, p, d, g)
    yt = torch.nn.functional.conv1d(theirs[0], theirs[1], theirs[2] if bias else None, s, p, d, g)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    gy = rng.standard_normal(y.shape)
    y.backward(gy)
    yt.backward(torch.from_numpy(gy))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-10)


@st.composite
def pool_cases(draw):
    k, s = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    p = draw(st.integers(0, k // 2))
    length = draw(st.integers(1, 12))
    assume(k <= length + 2 * p)
    return (draw(st.integers(1, 2)), draw(st.integers(1, 3)), length), k, s, p


def distinct(shape, rng):
    return rng.permutation(int(np.prod(shape))).reshape(shape).astype(np.float64)


@given(pool_cases(), st.integers(0, 2**32 - 1))
def test_pool1d_gradcheck(case, seed):
    shape, k, s, p = case
    rng = np.random.default_rng(seed)
    assert tc.gradcheck(lambda a: F.max_pool1d(a, k, s, p), [t64(distinct(shape, rng))])
    assert tc.gradcheck(lambda a: F.avg_pool1d(a, k, s, p), [t64(rng.standard_normal(shape))])


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["max", "avg", "adaptive"])
@given(case=pool_cases(), seed=st.integers(0, 2**32 - 1))
def test_pool1d_matches_torch_float64(kind, case, seed):
    torch = pytest.importorskip("torch")
    shape, k, s, p = case
    rng = np.random.default_rng(seed)
    x = distinct(shape, rng) if kind == "max" else rng.standard_normal(shape)
    ours, theirs = t64(x), torch.tensor(x, requires_grad=True)
    tf = torch.nn.functional
    if kind == "max":
        (y, idx), (yt, it) = F.max_pool1d(ours, k, s, p, return_indices=True), tf.max_pool1d(theirs, k, s, p, return_indices=True)
        np.testing.assert_array_equal(idx.numpy(), it.numpy())
    elif kind == "avg":
        y, yt = F.avg_pool1d(ours, k, s, p), tf.avg_pool1d(theirs, k, s, p)
    else:
        y, yt = F.adaptive_avg_pool1d(ours, k + s), tf.adaptive_avg_pool1d(theirs, k + s)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    gy = rng.standard_normal(y.shape)
    y.backward(gy)
    yt.backward(torch.from_numpy(gy))
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_conv1d_is_conv2d_on_a_height_one_image(rng):
    x, w, b = rng.standard_normal((2, 4, 15)), rng.standard_normal((6, 2, 3)), rng.standard_normal(6)
    y1 = F.conv1d(t64(x, False), t64(w, False), t64(b, False), stride=2, padding=1, dilation=2, groups=2)
    y2 = F.conv2d(t64(x[:, :, None], False), t64(w[:, :, None], False), t64(b, False), stride=(1, 2),
                  padding=(0, 1), dilation=(1, 2), groups=2)
    np.testing.assert_array_equal(y1.numpy(), y2.numpy()[:, :, 0])


def test_conv1d_by_hand():
    # one channel, one filter: a plain sliding dot product
    x = np.array([[[1.0, 2.0, 3.0, 4.0, 5.0]]])
    w = np.array([[[1.0, 0.0, -1.0]]])
    y = F.conv1d(t64(x, False), t64(w, False), padding=1)
    np.testing.assert_array_equal(y.numpy(), [[[-2.0, -2.0, -2.0, -2.0, 4.0]]])


def test_unbatched_and_float32(rng):
    x = rng.standard_normal((3, 10)).astype(np.float32)
    w = rng.standard_normal((5, 3, 4)).astype(np.float32)
    y = F.conv1d(tc.tensor(x), tc.tensor(w), padding=0)
    assert y.shape == (5, 7) and y.dtype == np.float32
    assert F.max_pool1d(tc.tensor(x), 2).shape == (3, 5)
    assert F.avg_pool1d(tc.tensor(x), 3, 1, 1).shape == (3, 10)
    ys = F.conv1d(tc.tensor(x), tc.tensor(rng.standard_normal((2, 3, 5)).astype(np.float32)), padding="same")
    assert ys.shape == (2, 10)


def test_bad_input_is_named():
    x = tc.tensor(np.zeros((2, 3, 8)))
    with pytest.raises(ValueError, match="input must be 3-D"):
        F.conv1d(tc.tensor(np.zeros((2, 3, 8, 8))), tc.tensor(np.zeros((4, 3, 3))))
    with pytest.raises(ValueError, match="weight must be 3-D"):
        F.conv1d(x, tc.tensor(np.zeros((4, 3, 3, 3))))
    with pytest.raises(ValueError, match="input has 3 channels"):
        F.conv1d(x, tc.tensor(np.zeros((4, 2, 3))))
    with pytest.raises(ValueError, match="larger than the padded input length"):
        F.conv1d(x, tc.tensor(np.zeros((4, 3, 9))))
    with pytest.raises(ValueError, match="groups"):
        F.conv1d(x, tc.tensor(np.zeros((4, 3, 3))), groups=0)
    with pytest.raises(ValueError, match="stride must be positive"):
        F.conv1d(x, tc.tensor(np.zeros((4, 3, 3))), stride=0)
    with pytest.raises(ValueError, match="1-tuple"):
        F.conv1d(x, tc.tensor(np.zeros((4, 3, 3))), stride=(1, 1))
    with pytest.raises(ValueError, match="at most half of kernel_size"):
        F.max_pool1d(x, 2, padding=2)
    with pytest.raises(ValueError, match="kernel_size 9"):
        F.avg_pool1d(x, 9)


def test_layers(rng):
    conv = tc.nn.Conv1d(2, 4, 5, stride=1, padding=2, dilation=1)
    assert conv.weight.shape == (4, 2, 5) and conv.bias.shape == (4,)
    bound = 1 / np.sqrt(2 * 5)
    assert np.abs(conv.weight.numpy()).max() <= bound
    x = tc.tensor(rng.standard_normal((3, 2, 20)).astype(np.float32))
    y = conv(x)
    assert y.shape == (3, 4, 20)
    expected = F.conv1d(x, conv.weight, conv.bias, padding=2)
    np.testing.assert_array_equal(y.numpy(), expected.numpy())
    assert tc.nn.MaxPool1d(2)(y).shape == (3, 4, 10)
    assert tc.nn.AvgPool1d(4, 2, 1)(y).shape == (3, 4, 10)
    assert tc.nn.AdaptiveAvgPool1d(3)(y).shape == (3, 4, 3)
    assert tc.nn.Conv1d(2, 4, 3, padding="same")(x).shape == (3, 4, 20)
    with pytest.raises(ValueError, match="divisible by groups"):
        tc.nn.Conv1d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="at most half"):
        tc.nn.MaxPool1d(2, padding=2)


@pytest.mark.torch
def test_conv1d_layer_loads_torch_weights(rng):
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Conv1d(3, 5, 4, stride=2, padding=1, dilation=1).double()
    ours = tc.nn.Conv1d(3, 5, 4, stride=2, padding=1, dtype=np.float64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = rng.standard_normal((2, 3, 17))
    np.testing.assert_allclose(ours(t64(x, False)).numpy(), theirs(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-12, atol=1e-12)
