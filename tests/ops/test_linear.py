"""linear: gradients over shapes, PyTorch parity, leading batch axes, frozen parameters, bad
input. Runs on the backend TINYCONV_BACKEND selects."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinyconv as tc
import tinyconv.nn.functional as F


@given(st.lists(st.integers(1, 3), max_size=2).map(tuple), st.integers(1, 5), st.integers(1, 5),
       st.booleans(), st.integers(0, 2**32 - 1))
def test_gradcheck(lead, n_in, n_out, with_bias, seed):
    rng = np.random.default_rng(seed)
    x = tc.tensor(rng.standard_normal(lead + (n_in,)), requires_grad=True)
    w = tc.tensor(rng.standard_normal((n_out, n_in)), requires_grad=True)
    if with_bias:
        b = tc.tensor(rng.standard_normal(n_out), requires_grad=True)
        assert tc.gradcheck(F.linear, [x, w, b])
    else:
        assert tc.gradcheck(F.linear, [x, w])


@pytest.mark.parametrize("with_bias", [True, False])
def test_gradcheck_batched_3d_input(with_bias, rng):
    # (batch, sequence, features): the weight gradient sums over both leading axes
    x = tc.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    w = tc.tensor(rng.standard_normal((5, 4)), requires_grad=True)
    b = tc.tensor(rng.standard_normal(5), requires_grad=True)
    assert tc.gradcheck(F.linear, [x, w, b] if with_bias else [x, w])
    assert F.linear(x, w).shape == (2, 3, 5)


@pytest.mark.parametrize("x_shape", [(5,), (8, 5), (2, 3, 5)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_matches_pytorch(x_shape, with_bias, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal((4, 5)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    ours = [tc.tensor(a, requires_grad=True) for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = F.linear(*ours) if with_bias else F.linear(*ours[:2])
    yt = torch.nn.functional.linear(*theirs) if with_bias else torch.nn.functional.linear(*theirs[:2])
    assert y.shape == tuple(yt.shape) and y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-5)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(gy)
    yt.backward(torch.from_numpy(gy))
    for a, at in zip(ours, theirs) if with_bias else zip(ours[:2], theirs[:2]):
        np.testing.assert_allclose(a.grad.numpy(), at.grad.numpy(), rtol=1e-5, atol=1e-5)
    if not with_bias:
        assert ours[2].grad is None


def test_values_by_hand():
    x = tc.tensor(np.array([[1.0, 2.0], [3.0, 4.0], [0.0, -1.0]]))
    w = tc.tensor(np.array([[1.0, 0.0], [1.0, 1.0], [0.5, -2.0]]))
    b = tc.tensor(np.array([10.0, 20.0, 30.0]))
    np.testing.assert_array_equal(F.linear(x, w, b).numpy(),
                                  [[11, 23, 26.5], [13, 27, 23.5], [10, 19, 32]])


def test_frozen_weight_gets_no_gradient(rng):
    x = tc.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    w = tc.tensor(rng.standard_normal((2, 4)))
    b = tc.tensor(rng.standard_normal(2), requires_grad=True)
    F.linear(x, w, b).backward(np.ones((3, 2)))
    assert w.grad is None
    np.testing.assert_allclose(x.grad.numpy(), np.ones((3, 2)) @ w.numpy(), rtol=1e-14)
    np.testing.assert_array_equal(b.grad.numpy(), [3.0, 3.0])


def test_non_contiguous_input_and_bias(rng):
    x = tc.tensor(rng.standard_normal((4, 6)), requires_grad=True)
    w = tc.tensor(rng.standard_normal((3, 4)))
    bias_source = tc.tensor(rng.standard_normal(6))
    b = bias_source[::2]  # a strided view
    y = F.linear(x.T, w, b)
    np.testing.assert_allclose(y.numpy(), x.numpy().T @ w.numpy().T + bias_source.numpy()[::2],
                               rtol=1e-13)
    y.backward(np.ones((6, 3)))
    np.testing.assert_allclose(x.grad.numpy(), (np.ones((6, 3)) @ w.numpy()).T, rtol=1e-14)


def test_zero_sized_dims():
    # no input features: the output is the bias alone, as in PyTorch
    y = F.linear(tc.tensor(np.zeros((3, 0))), tc.tensor(np.zeros((2, 0))), tc.tensor(np.array([1.0, 2.0])))
    np.testing.assert_array_equal(y.numpy(), [[1, 2]] * 3)
    assert F.linear(tc.tensor(np.zeros((0, 4))), tc.tensor(np.zeros((2, 4)))).shape == (0, 2)


# --- bad input -----------------------------------------------------------------------------------
def test_shape_errors():
    x = tc.tensor(np.zeros((3, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"weight must be 2-D \(out_features, in_features\), got shape \(4,\)"):
        F.linear(x, tc.tensor(np.zeros(4, dtype=np.float32)))
    with pytest.raises(ValueError, match=r"input's last dimension must equal weight's in_features 5; got input \(3, 4\), weight \(2, 5\)"):
        F.linear(x, tc.tensor(np.zeros((2, 5), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"input's last dimension"):
        F.linear(tc.tensor(np.float32(1.0)), tc.tensor(np.zeros((2, 1), dtype=np.float32)))
    w = tc.tensor(np.zeros((2, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"bias must have shape \(2,\) for weight \(2, 4\), got \(3,\)"):
        F.linear(x, w, tc.tensor(np.zeros(3, dtype=np.float32)))
    with pytest.raises(ValueError, match=r"bias must have shape \(2,\)"):
        F.linear(x, w, tc.tensor(np.zeros((1, 2), dtype=np.float32)))


def test_type_errors():
    x = tc.tensor(np.zeros((3, 4), dtype=np.float32))
    w = tc.tensor(np.zeros((2, 4), dtype=np.float32))
    with pytest.raises(TypeError, match="inputs must share one dtype, got input float32, weight float64"):
        F.linear(x, tc.tensor(np.zeros((2, 4))))
    with pytest.raises(TypeError, match="bias float64"):
        F.linear(x, w, tc.tensor(np.zeros(2)))
    with pytest.raises(TypeError, match="input must be float32 or float64, got int64"):
        F.linear(tc.tensor(np.zeros((3, 4), dtype=np.int64)), w)
    with pytest.raises(TypeError, match="weight must be a Tensor, got ndarray"):
        F.linear(x, np.zeros((2, 4), dtype=np.float32))
