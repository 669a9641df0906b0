"""relu, leaky_relu, tanh, sigmoid: gradients, PyTorch parity, Tensor methods, bad input.
Runs on the backend TINYCONV_BACKEND selects."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinyconv as tc
import tinyconv.nn.functional as F

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


def away_from_zero(shape, seed):
    """Values with |x| in [0.1, 2]: central differences (eps 1e-6) never straddle the kink."""
    rng = np.random.default_rng(seed)
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.1, 2.0, shape)


@given(shapes, st.integers(0, 2**32 - 1))
def test_relu_gradcheck(shape, seed):
    x = tc.tensor(away_from_zero(shape, seed), requires_grad=True)
    assert tc.gradcheck(F.relu, [x])


@given(shapes, st.floats(-1.5, 1.5), st.integers(0, 2**32 - 1))
def test_leaky_relu_gradcheck(shape, slope, seed):
    x = tc.tensor(away_from_zero(shape, seed), requires_grad=True)
    assert tc.gradcheck(lambda a: F.leaky_relu(a, slope), [x])


@given(shapes, st.sampled_from([1.0, 4.0]), st.integers(0, 2**32 - 1))
def test_tanh_and_sigmoid_gradcheck(shape, scale, seed):
    x = tc.tensor(scale * np.random.default_rng(seed).standard_normal(shape), requires_grad=True)
    assert tc.gradcheck(F.tanh, [x])
    assert tc.gradcheck(F.sigmoid, [x])


def test_gradcheck_through_a_chain(rng):
    # the saved outputs of one activation feed the next one's backward
    x = tc.tensor(rng.uniform(0.2, 1.5, (3, 4)) * rng.choice([-1, 1], (3, 4)), requires_grad=True)
    assert tc.gradcheck(lambda a: F.sigmoid(F.tanh(F.leaky_relu(a, 0.2)) * 3).relu(), [x])


# --- PyTorch parity ------------------------------------------------------------------------------
CASES = [("relu", lambda a: F.relu(a), "relu", {}),
         ("leaky_default", lambda a: F.leaky_relu(a), "leaky_relu", {}),
         ("leaky_0.2", lambda a: F.leaky_relu(a, 0.2), "leaky_relu", {"negative_slope": 0.2}),
         ("leaky_negative", lambda a: F.leaky_relu(a, -0.5), "leaky_relu", {"negative_slope": -0.5}),
         ("tanh", lambda a: F.tanh(a), "tanh", {}),
         ("sigmoid", lambda a: F.sigmoid(a), "sigmoid", {})]


@pytest.mark.parametrize("name,ours,theirs,kwargs", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("shape", [(7,), (2, 3, 5, 4)])
def test_matches_pytorch(name, ours, theirs, kwargs, shape, rng):
    torch = pytest.importorskip("torch")
    x = (3 * rng.standard_normal(shape)).astype(np.float32)
    x.flat[0] = 0.0  # PyTorch's choice at the kink: relu'(0) = 0, leaky_relu'(0) = slope
    xa, xt = tc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yt = ours(xa), getattr(torch.nn.functional, theirs)(xt, **kwargs)
    assert y.shape == tuple(yt.shape) and y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    gy = rng.standard_normal(shape).astype(np.float32)
    y.backward(gy)
    yt.backward(torch.from_numpy(gy))
    np.testing.assert_allclose(xa.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_extreme_inputs_match_pytorch():
    torch = pytest.importorskip("torch")
    x = np.array([-1e4, -100.0, -20.0, 20.0, 100.0, 1e4, np.inf, -np.inf], dtype=np.float32)
    for ours, theirs in [(F.sigmoid, torch.sigmoid), (F.tanh, torch.tanh), (F.relu, torch.relu)]:
        xa, xt = tc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        y, yt = ours(xa), theirs(xt)
        # atol: PyTorch gives 0 for sigmoid(-100), we give the subnormal 3.8e-44
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-6, atol=1e-37)
        y.backward(np.ones_like(x))
        yt.backward(torch.ones_like(xt))
        np.testing.assert_allclose(xa.grad.numpy(), xt.grad.numpy(), rtol=1e-6, atol=1e-37)
        assert not np.isnan(xa.grad.numpy()).any()


# --- behaviour -----------------------------------------------------------------------------------
def test_tensor_methods_are_the_functions(rng):
    x = tc.tensor(rng.standard_normal((3, 4)).astype(np.float32))
    np.testing.assert_array_equal(x.relu().numpy(), F.relu(x).numpy())
    np.testing.assert_array_equal(x.tanh().numpy(), F.tanh(x).numpy())
    np.testing.assert_array_equal(x.sigmoid().numpy(), F.sigmoid(x).numpy())
    np.testing.assert_array_equal(x.relu().numpy(), np.maximum(x.numpy(), 0))


def test_input_is_never_modified_and_dtype_kept(rng):
    data = rng.standard_normal((4, 5))
    x = tc.tensor(data.copy(), requires_grad=True)
    for fn in (F.relu, F.leaky_relu, F.tanh, F.sigmoid):
        y = fn(x)
        assert y.dtype == np.float64 and y.shape == (4, 5) and y.requires_grad
        y.backward(np.ones((4, 5)))
        np.testing.assert_array_equal(x.numpy(), data)


def test_non_contiguous_input(rng):
    base = rng.standard_normal((6, 8))
    x = tc.tensor(base, requires_grad=True)
    y = F.leaky_relu(x.T, 0.3)  # a transposed view goes through a contiguous copy
    np.testing.assert_allclose(y.numpy(), np.where(base.T > 0, base.T, 0.3 * base.T), rtol=1e-15)
    gy = rng.standard_normal((8, 6))
    y.backward(gy)
    np.testing.assert_allclose(x.grad.numpy(), np.where(base > 0, gy.T, 0.3 * gy.T), rtol=1e-15)


def test_no_graph_under_no_grad(rng):
    x = tc.tensor(rng.standard_normal(5), requires_grad=True)
    with tc.no_grad():
        assert not F.relu(x).requires_grad and not F.sigmoid(x).requires_grad


# --- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", [F.relu, F.leaky_relu, F.tanh, F.sigmoid])
def test_input_errors(fn):
    with pytest.raises(TypeError, match=r"input must be float32 or float64, got int64 \(shape \(2, 3\)\)"):
        fn(tc.tensor(np.zeros((2, 3), dtype=np.int64)))
    with pytest.raises(TypeError, match="input must be a Tensor, got ndarray"):
        fn(np.zeros(3))


def test_negative_slope_must_be_a_number():
    x = tc.tensor(np.zeros(3, dtype=np.float32))
    with pytest.raises(TypeError, match="negative_slope must be a number, got '0.1'"):
        F.leaky_relu(x, "0.1")
    with pytest.raises(TypeError, match="negative_slope must be a number"):
        F.leaky_relu(x, True)


def test_relu_takes_no_inplace_argument():
    with pytest.raises(TypeError):
        F.relu(tc.tensor(np.zeros(3, dtype=np.float32)), inplace=True)
