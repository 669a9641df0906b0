"""dropout: inverted scaling, reproducibility under manual_seed, the same mask on every backend,
eval identity, p edge cases, gradients. Runs on the backend TINYCONV_BACKEND selects."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv.kernels.reference import dropout as ref_kernels


@given(st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple), st.floats(0.05, 0.9),
       st.integers(0, 2**32 - 1))
def test_gradcheck(shape, p, seed):
    x = tc.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)

    def fn(a):
        tc.manual_seed(seed)  # the same mask on every evaluation of the finite differences
        return F.dropout(a, p)

    assert tc.gradcheck(fn, [x])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", [0.2, 0.5, 0.75])
def test_kept_units_are_scaled_and_gradient_follows_the_mask(dtype, p, rng):
    x = tc.tensor(rng.uniform(0.5, 2.0, (8, 50)).astype(dtype), requires_grad=True)
    y = F.dropout(x, p)
    assert y.dtype == dtype and y.shape == x.shape
    kept = y.numpy() != 0
    assert 0 < kept.mean() < 1
    np.testing.assert_array_equal(y.numpy()[kept], x.numpy()[kept] * dtype(1 / (1 - p)))
    gy = rng.standard_normal(x.shape).astype(dtype)
    y.backward(gy)
    np.testing.assert_array_equal(x.grad.numpy(), np.where(kept, gy * dtype(1 / (1 - p)), 0))


def test_mask_is_the_counter_rng_drawn_from_the_global_stream():
    tc.manual_seed(2024)
    x = tc.tensor(np.ones((3, 7), dtype=np.float32))
    first, second = F.dropout(x, 0.4), F.dropout(x, 0.4)
    # first call: counters 0.., second call: right after the first call's 21 elements
    u = ref_kernels.uniform(42, 2024, 0)
    np.testing.assert_array_equal(first.numpy() != 0, (u[:21] >= 0.4).reshape(3, 7))
    np.testing.assert_array_equal(second.numpy() != 0, (u[21:] >= 0.4).reshape(3, 7))


def test_same_seed_same_output_new_call_new_mask(rng):
    x = tc.tensor(rng.standard_normal((16, 32)).astype(np.float32))
    tc.manual_seed(7)
    a, b = F.dropout(x, 0.5), F.dropout(x, 0.5)
    tc.manual_seed(7)
    a2, b2 = F.dropout(x, 0.5), F.dropout(x, 0.5)
    np.testing.assert_array_equal(a.numpy(), a2.numpy())
    np.testing.assert_array_equal(b.numpy(), b2.numpy())
    assert (a.numpy() != b.numpy()).any()
    tc.manual_seed(8)
    assert (F.dropout(x, 0.5).numpy() != a.numpy()).any()


def test_every_cpu_backend_gives_the_same_mask(rng):
    x = tc.tensor(rng.standard_normal((4, 3, 5, 5)))
    outs = []
    for name in ("numpy", "numba"):
        with tc.use_backend(name):
            tc.manual_seed(2**64 - 3)  # a seed past 2**63
            outs.append(F.dropout(x, 0.3).numpy())
    np.testing.assert_array_equal(outs[0], outs[1])


def test_keep_rate(rng):
    tc.manual_seed(3)
    n, p = 200_000, 0.3
    kept = int((F.dropout(tc.tensor(np.ones(n, dtype=np.float32)), p).numpy() != 0).sum())
    assert abs(kept - n * (1 - p)) < 5 * np.sqrt(n * p * (1 - p))


def test_eval_mode_and_p_zero_return_the_input(rng):
    x = tc.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    assert F.dropout(x, 1.0, training=False) is x


def test_module_in_eval_mode_returns_the_input(rng):
    x = tc.tensor(rng.standard_normal((4, 6)))
    drop = tc.nn.Dropout(0.5)
    tc.manual_seed(4)
    assert (drop(x).numpy() == 0).any()  # training by default
    drop.eval()
    assert drop(x) is x
    drop.train()
    tc.manual_seed(4)
    keep = (ref_kernels.uniform(24, 4, 0) >= 0.5).reshape(4, 6)
    np.testing.assert_array_equal(drop(x).numpy(), np.where(keep, x.numpy() * 2, 0))


def test_eval_mode_does_not_advance_the_stream(rng):
    x = tc.tensor(rng.standard_normal(10))
    tc.manual_seed(1)
    a = F.dropout(x, 0.5).numpy()
    tc.manual_seed(1)
    F.dropout(x, 0.5, training=False)
    np.testing.assert_array_equal(F.dropout(x, 0.5).numpy(), a)


def test_p_one_gives_zeros_and_zero_gradient(rng):
    torch = pytest.importorskip("torch")
    data = rng.standard_normal((3, 4)).astype(np.float32)
    x, xt = tc.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    y, yt = F.dropout(x, 1.0), torch.nn.functional.dropout(xt, 1.0)
    np.testing.assert_array_equal(y.numpy(), yt.detach().numpy())
    np.testing.assert_array_equal(y.numpy(), 0)
    y.backward(np.ones((3, 4), dtype=np.float32))
    yt.backward(torch.ones(3, 4))
    np.testing.assert_array_equal(x.grad.numpy(), xt.grad.numpy())
    np.testing.assert_array_equal(x.grad.numpy(), 0)


def test_scaling_matches_pytorch(rng):
    # the masks come from different generators: compare what every kept unit becomes
    torch = pytest.importorskip("torch")
    data = rng.uniform(1, 2, (64, 64)).astype(np.float32)
    torch.manual_seed(0)
    yt = torch.nn.functional.dropout(torch.from_numpy(data), 0.3).numpy()
    y = F.dropout(tc.tensor(data), 0.3).numpy()
    np.testing.assert_allclose(y[y != 0] / data[y != 0], 1 / 0.7, rtol=1e-6)
    np.testing.assert_allclose(yt[yt != 0] / data[yt != 0], 1 / 0.7, rtol=1e-6)
    assert abs((y != 0).mean() - (yt != 0).mean()) < 0.05


def test_non_contiguous_input(rng):
    base = rng.uniform(1, 2, (6, 5))
    x = tc.tensor(base, requires_grad=True)
    tc.manual_seed(11)
    y = F.dropout(x.T, 0.5)
    kept = y.numpy() != 0
    np.testing.assert_allclose(y.numpy()[kept], 2 * base.T[kept], rtol=1e-15)
    y.backward(np.ones((5, 6)))
    np.testing.assert_array_equal(x.grad.numpy(), 2 * kept.T)


# --- bad input -----------------------------------------------------------------------------------
def test_p_must_be_a_probability():
    x = tc.tensor(np.zeros(3, dtype=np.float32))
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match=rf"dropout: p must be in \[0, 1\], got {p}"):
            F.dropout(x, p)
    with pytest.raises(TypeError, match="p must be a number, got '0.5'"):
        F.dropout(x, "0.5")


def test_input_errors():
    with pytest.raises(TypeError, match="float32 or float64, got int32"):
        F.dropout(tc.tensor(np.zeros(3, dtype=np.int32)))
    with pytest.raises(TypeError, match="input must be a Tensor"):
        F.dropout([1.0, 2.0])
