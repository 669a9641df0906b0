"""max_pool2d, avg_pool2d, adaptive_avg_pool2d: gradients, PyTorch parity, ties, bad input.
Runs on the backend TINYCONV_BACKEND selects."""
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import tinyconv as tc
import tinyconv.nn.functional as F


def t64(a, grad=True):
    return tc.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def distinct(shape, rng):
    """Values spaced 1 apart in random order: no ties, and finite differences (eps 1e-6) never
    change which element is the maximum."""
    return rng.permutation(int(np.prod(shape))).reshape(shape).astype(np.float64)


@st.composite
def windows(draw):
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    assume(h + 2 * padding[0] >= kernel[0] and w + 2 * padding[1] >= kernel[1])
    return (draw(st.integers(1, 2)), draw(st.integers(1, 2)), h, w), kernel, stride, padding


# --- gradients -----------------------------------------------------------------------------------
@given(windows(), st.integers(0, 2**32 - 1))
def test_max_pool_gradcheck(case, seed):
    shape, kernel, stride, padding = case
    x = t64(distinct(shape, np.random.default_rng(seed)))
    assert tc.gradcheck(lambda a: F.max_pool2d(a, kernel, stride, padding), [x])


@given(windows(), st.integers(0, 2**32 - 1))
def test_avg_pool_gradcheck(case, seed):
    shape, kernel, stride, padding = case
    x = t64(np.random.default_rng(seed).standard_normal(shape))
    assert tc.gradcheck(lambda a: F.avg_pool2d(a, kernel, stride, padding), [x])


@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 7), st.integers(1, 7), st.integers(0, 2**32 - 1))
def test_adaptive_avg_pool_gradcheck(h, w, oh, ow, seed):
    x = t64(np.random.default_rng(seed).standard_normal((2, 2, h, w)))
    assert tc.gradcheck(lambda a: F.adaptive_avg_pool2d(a, (oh, ow)), [x])


@pytest.mark.parametrize("pool", ["max", "avg"])
def test_overlapping_windows_gradcheck(pool, rng):
    # AlexNet's 3x3 stride 2: neighbouring windows share a row and a column
    x = t64(distinct((1, 2, 9, 7), rng))
    fn = F.max_pool2d if pool == "max" else F.avg_pool2d
    assert tc.gradcheck(lambda a: fn(a, 3, 2), [x])
    assert tc.gradcheck(lambda a: fn(a, 3, 2, 1), [x])


# --- PyTorch parity ------------------------------------------------------------------------------
def torch_pair(x):
    torch = pytest.importorskip("torch")
    return torch, torch.tensor(x, requires_grad=True)


def assert_parity(ours_fn, theirs_fn, x, rng):
    """Forward and input gradient, float32, against PyTorch."""
    torch, xt = torch_pair(x)
    xa = tc.tensor(x, requires_grad=True)
    y, yt = ours_fn(xa), theirs_fn(xt)
    assert y.shape == tuple(yt.shape) and y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(gy)
    yt.backward(torch.from_numpy(gy))
    np.testing.assert_allclose(xa.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kernel,stride,padding", [(3, 2, 0), (3, 2, 1), ((2, 3), (1, 2), (1, 0)),
                                                   (2, None, 0), ((3, 1), 1, (1, 0))])
def test_max_pool_matches_pytorch(kernel, stride, padding, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    assert_parity(lambda a: F.max_pool2d(a, kernel, stride, padding),
                  lambda a: torch.nn.functional.max_pool2d(a, kernel, stride, padding), x, rng)
    y, idx = F.max_pool2d(tc.tensor(x), kernel, stride, padding, return_indices=True)
    yt, it = torch.nn.functional.max_pool2d(torch.from_numpy(x), kernel, stride, padding,
                                            return_indices=True)
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(idx.numpy(), it.numpy())
    np.testing.assert_array_equal(y.numpy(), yt.numpy())


@pytest.mark.parametrize("kernel,stride,padding", [(3, 2, 0), (3, 2, 1), ((2, 3), (1, 2), (1, 0)),
                                                   (2, None, 0)])
def test_avg_pool_matches_pytorch(kernel, stride, padding, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    assert_parity(lambda a: F.avg_pool2d(a, kernel, stride, padding),
                  lambda a: torch.nn.functional.avg_pool2d(a, kernel, stride, padding), x, rng)


@pytest.mark.parametrize("in_hw,out_size", [((6, 6), 1), ((6, 6), (1, 1)), ((8, 6), (4, 3)),
                                            ((7, 5), (3, 2)), ((5, 7), (4, 6)), ((6, 6), (6, 6)),
                                            ((3, 4), (5, 7)), ((7, 5), (None, 3)), ((7, 5), (2, None))])
def test_adaptive_avg_pool_matches_pytorch(in_hw, out_size, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3) + in_hw).astype(np.float32)
    assert_parity(lambda a: F.adaptive_avg_pool2d(a, out_size),
                  lambda a: torch.nn.functional.adaptive_avg_pool2d(a, out_size), x, rng)


def test_unbatched_input_matches_pytorch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((3, 7, 6)).astype(np.float32)
    assert_parity(lambda a: F.max_pool2d(a, 3, 2, 1),
                  lambda a: torch.nn.functional.max_pool2d(a, 3, 2, 1), x, rng)
    assert_parity(lambda a: F.avg_pool2d(a, 2), lambda a: torch.nn.functional.avg_pool2d(a, 2), x, rng)
    assert_parity(lambda a: F.adaptive_avg_pool2d(a, (2, 4)),
                  lambda a: torch.nn.functional.adaptive_avg_pool2d(a, (2, 4)), x, rng)
    _, idx = F.max_pool2d(tc.tensor(x), 3, 2, 1, return_indices=True)
    _, it = torch.nn.functional.max_pool2d(torch.from_numpy(x), 3, 2, 1, return_indices=True)
    assert idx.shape == tuple(it.shape)
    np.testing.assert_array_equal(idx.numpy(), it.numpy())


# --- ties: max-pool routes the gradient to the first maximum, as PyTorch does ------------------------
@pytest.mark.parametrize("name", ["all_equal", "plateau", "two_level"])
def test_max_pool_tie_routing_matches_pytorch(name, rng):
    torch = pytest.importorskip("torch")
    if name == "all_equal":
        x = np.ones((1, 2, 6, 7), dtype=np.float32)
    elif name == "plateau":  # a flat top of equal maxima spanning several overlapping windows
        x = rng.standard_normal((1, 2, 7, 7)).astype(np.float32) - 5
        x[:, :, 1:5, 2:6] = 3.0
    else:  # only two values: ties everywhere, in every position of the window
        x = (rng.random((2, 2, 7, 6)) > 0.5).astype(np.float32)
    for kernel, stride, padding in [(3, 2, 0), (3, 2, 1), (2, 1, 1), ((3, 2), (2, 1), (1, 0))]:
        assert_parity(lambda a: F.max_pool2d(a, kernel, stride, padding),
                      lambda a: torch.nn.functional.max_pool2d(a, kernel, stride, padding), x, rng)
        _, idx = F.max_pool2d(tc.tensor(x), kernel, stride, padding, return_indices=True)
        _, it = torch.nn.functional.max_pool2d(torch.from_numpy(x), kernel, stride, padding,
                                               return_indices=True)
        np.testing.assert_array_equal(idx.numpy(), it.numpy())


def test_max_pool_tie_gradient_goes_to_first_only():
    x = t64(np.ones((1, 1, 2, 2)))
    F.max_pool2d(x, 2).backward(np.array([[[[7.0]]]]))
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[7.0, 0.0], [0.0, 0.0]])


def test_overlapping_max_gradient_accumulates():
    # the centre 9 is the max of all four overlapping 2x2 windows (stride 1): its gradient sums
    x = t64([[[[1, 2, 3], [4, 9, 5], [6, 7, 8]]]])
    F.max_pool2d(x, 2, 1).backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[0, 0, 0], [0, 10, 0], [0, 0, 0]])


def test_indices_do_not_track_gradients(rng):
    y, idx = F.max_pool2d(tc.tensor(rng.standard_normal((1, 1, 4, 4)), requires_grad=True), 2,
                          return_indices=True)
    assert y.requires_grad and not idx.requires_grad
    np.testing.assert_array_equal(idx.numpy().ravel() // 4 // 2, [0, 0, 1, 1])  # each in its quadrant


# --- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", [F.max_pool2d, F.avg_pool2d])
def test_window_argument_errors(fn):
    x = tc.tensor(np.zeros((1, 1, 4, 5), dtype=np.float32))
    with pytest.raises(ValueError, match=r"kernel extent 7 along H is larger than the padded input \(4 \+ 2\*1\)"):
        fn(x, (7, 2), 1, (1, 0))
    with pytest.raises(ValueError, match="padding should be at most half of kernel_size"):
        fn(x, 3, 1, 2)
    with pytest.raises(ValueError, match="padding should be at most half"):
        fn(x, (4, 2), 1, (1, 2))
    with pytest.raises(ValueError, match="stride must be positive"):
        fn(x, 2, 0)
    with pytest.raises(ValueError, match="stride must be positive"):
        fn(x, 2, (1, -1))
    with pytest.raises(ValueError, match="padding must be non-negative"):
        fn(x, 2, 1, -1)
    with pytest.raises(ValueError, match="kernel_size must be positive"):
        fn(x, 0)
    with pytest.raises(TypeError, match="kernel_size must be an int or a pair"):
        fn(x, 2.5)
    with pytest.raises(ValueError, match="kernel_size must be an int or a pair"):
        fn(x, (2, 2, 2))


@pytest.mark.parametrize("fn", [lambda a: F.max_pool2d(a, 2), lambda a: F.avg_pool2d(a, 2),
                                lambda a: F.adaptive_avg_pool2d(a, 2)])
def test_input_errors(fn):
    with pytest.raises(ValueError, match=r"3-D \(C, H, W\) or 4-D \(N, C, H, W\), got shape \(4, 4\)"):
        fn(tc.tensor(np.zeros((4, 4), dtype=np.float32)))
    with pytest.raises(ValueError, match="got shape"):
        fn(tc.tensor(np.zeros((1, 1, 1, 4, 4), dtype=np.float32)))
    with pytest.raises(TypeError, match="float32 or float64, got int64"):
        fn(tc.tensor(np.zeros((1, 1, 4, 4), dtype=np.int64)))
    with pytest.raises(TypeError, match="must be a Tensor"):
        fn(np.zeros((1, 1, 4, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="non-empty"):
        fn(tc.tensor(np.zeros((1, 1, 0, 4), dtype=np.float32)))


def test_adaptive_output_size_errors():
    x = tc.tensor(np.zeros((1, 1, 4, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="output_size must be positive"):
        F.adaptive_avg_pool2d(x, (0, 2))
    with pytest.raises(ValueError, match="output_size must be an int or a pair"):
        F.adaptive_avg_pool2d(x, (1, 2, 3))
    with pytest.raises(TypeError, match="output_size must hold ints or None"):
        F.adaptive_avg_pool2d(x, (1.5, 2))


def test_default_stride_is_kernel_size(rng):
    x = tc.tensor(rng.standard_normal((1, 2, 6, 9)).astype(np.float32))
    assert F.max_pool2d(x, (2, 3)).shape == (1, 2, 3, 3)
    assert F.avg_pool2d(x, 3).shape == (1, 2, 2, 3)
