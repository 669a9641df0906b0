"""local_response_norm: gradients, PyTorch parity in both conventions, bad input.
Runs on the backend TINYCONV_BACKEND selects."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinyconv as tc
import tinyconv.nn.functional as F


@given(channels=st.integers(1, 6), h=st.integers(1, 4), w=st.integers(1, 3), size=st.integers(1, 6),
       alpha=st.floats(0.05, 1.0), beta=st.sampled_from([0.75, 0.5, 1.2]), k=st.floats(0.5, 2.0),
       convention=st.sampled_from(["torch", "paper"]), seed=st.integers(0, 2**32 - 1))
def test_lrn_gradcheck(channels, h, w, size, alpha, beta, k, convention, seed):
    x = tc.tensor(np.random.default_rng(seed).standard_normal((2, channels, h, w)), requires_grad=True)
    assert tc.gradcheck(lambda a: F.local_response_norm(a, size, alpha, beta, k, convention), [x])


def assert_parity(ours, theirs, x, rng):
    """Forward and input gradient, float32, against PyTorch."""
    torch = pytest.importorskip("torch")
    xa = tc.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    y, yt = ours(xa), theirs(xt)
    assert y.shape == tuple(yt.shape) and y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(gy)
    yt.backward(torch.from_numpy(gy))
    np.testing.assert_allclose(xa.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)


# Large alpha with small k makes the normaliser depend strongly on the window, so an off-by-one
# window (or alpha divided by size the wrong way) cannot hide inside the tolerance.
@pytest.mark.parametrize("size", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("channels", [1, 2, 3, 8])
@pytest.mark.parametrize("alpha,beta,k", [(1.0, 0.75, 0.5), (0.5, 0.6, 1.0), (0.8, 1.5, 2.0)])
def test_lrn_matches_pytorch_both_conventions(size, channels, alpha, beta, k, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, channels, 5, 4)).astype(np.float32)

    def theirs(a):
        return torch.nn.functional.local_response_norm(a, size, alpha, beta, k)

    assert_parity(lambda a: F.local_response_norm(a, size, alpha, beta, k), theirs, x, rng)
    assert_parity(lambda a: F.local_response_norm(a, size, alpha / size, beta, k, convention="paper"),
                  theirs, x, rng)
    # and a paper-form alpha near 1 (torch's alpha' = size * alpha)
    assert_parity(lambda a: F.local_response_norm(a, size, alpha, beta, k, convention="paper"),
                  lambda a: torch.nn.functional.local_response_norm(a, size, size * alpha, beta, k), x, rng)


def test_alexnet_paper_parameters_match_pytorch(rng):
    torch = pytest.importorskip("torch")
    x = (10 * rng.standard_normal((2, 12, 6, 6))).astype(np.float32)  # big enough for alpha=1e-4 to matter
    assert_parity(lambda a: F.local_response_norm(a, 5, 1e-4, 0.75, 2.0, convention="paper"),
                  lambda a: torch.nn.functional.local_response_norm(a, 5, 5 * 1e-4, 0.75, 2.0), x, rng)


def test_paper_convention_value():
    # one channel, size 3: scale = k + alpha * x^2 (paper) vs k + alpha/3 * x^2 (torch)
    x = tc.tensor(np.full((1, 1, 1, 1), 2.0))
    paper = F.local_response_norm(x, 3, 0.5, 1.0, 1.0, convention="paper").item()
    torch_form = F.local_response_norm(x, 3, 0.5, 1.0, 1.0).item()
    assert paper == pytest.approx(2.0 / (1.0 + 0.5 * 4.0))
    assert torch_form == pytest.approx(2.0 / (1.0 + 0.5 / 3 * 4.0))


@pytest.mark.parametrize("shape", [(2, 5, 7), (2, 4, 3, 2, 3)])
def test_other_ranks_match_pytorch(shape, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal(shape).astype(np.float32)
    assert_parity(lambda a: F.local_response_norm(a, 3, 0.9, 0.75, 0.8),
                  lambda a: torch.nn.functional.local_response_norm(a, 3, 0.9, 0.75, 0.8), x, rng)


def test_bad_input():
    x = tc.tensor(np.ones((1, 3, 2, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="size must be at least 1, got 0"):
        F.local_response_norm(x, 0)
    with pytest.raises(TypeError, match="size must be an int"):
        F.local_response_norm(x, 2.0)
    with pytest.raises(ValueError, match="alpha must be non-negative"):
        F.local_response_norm(x, 3, alpha=-1e-4)
    with pytest.raises(ValueError, match="k must be positive"):
        F.local_response_norm(x, 3, k=0.0)
    with pytest.raises(TypeError, match="beta must be a finite number"):
        F.local_response_norm(x, 3, beta=float("nan"))
    with pytest.raises(ValueError, match="convention must be 'torch' or 'paper'"):
        F.local_response_norm(x, 3, convention="caffe")
    with pytest.raises(ValueError, match=r"at least 3 dims, got shape \(3, 4\)"):
        F.local_response_norm(tc.tensor(np.ones((3, 4), dtype=np.float32)), 3)
    with pytest.raises(TypeError, match="float32 or float64, got int64"):
        F.local_response_norm(tc.tensor(np.ones((1, 3, 2, 2), dtype=np.int64)), 3)
    with pytest.raises(ValueError, match="at least one channel"):
        F.local_response_norm(tc.tensor(np.ones((1, 0, 2, 2), dtype=np.float32)), 3)
    with pytest.raises(TypeError, match="must be a Tensor"):
        F.local_response_norm(np.ones((1, 3, 2, 2), dtype=np.float32), 3)
