"""Tensor semantics as in PyTorch: copies vs sharing, Python protocols, comparisons, arg/max/min,
selection and shape ops, factories, differentiable casts, gradients in the leaf's dtype."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinyconv as tc
from tinyconv import nn

def _torch():
    return pytest.importorskip("torch")


def t64(a, grad=True):
    return tc.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


# --- copies and sharing -----------------------------------------------------------------------
def test_tensor_copies_from_numpy_shares():
    a = np.arange(4.0)
    t = tc.tensor(a)
    a[0] = 100.0
    assert t[0].item() == 0.0
    s = tc.from_numpy(a)
    a[1] = 7.0
    assert s[1].item() == 7.0
    s.add_(1.0)
    assert a[2] == 3.0
    with pytest.raises(TypeError, match="numpy.ndarray"):
        tc.from_numpy([1.0, 2.0])


def test_parameter_from_array_copies_and_sgd_leaves_caller_data_alone():
    a = np.ones((2, 2), dtype=np.float32)
    p = nn.Parameter(a)
    p.grad = tc.tensor(np.ones((2, 2), dtype=np.float32))
    tc.optim.SGD([p], lr=0.5).step()
    np.testing.assert_array_equal(a, np.ones((2, 2)))
    np.testing.assert_array_equal(p.numpy(), np.full((2, 2), 0.5))
    t = tc.tensor([1.0, 2.0])
    q = nn.Parameter(t)  # from a Tensor: shares, as torch.nn.Parameter(tensor) does
    assert q.data is t.data


def test_tensor_of_tensor_copies_and_detaches():
    x = t64([1.0, 2.0])
    y = tc.tensor(x)
    assert y.is_leaf and not y.requires_grad and y.data is not x.data


def test_default_dtypes_follow_pytorch():
    torch = _torch()
    for value in ([1, 2], [1.0, 2.0], [True, False], 3, 2.5, np.float64(1.5), np.arange(3.0)):
        ours, theirs = tc.tensor(value), torch.tensor(value)
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", ""), value


# --- Python protocols -------------------------------------------------------------------------
def test_python_protocols():
    x = tc.tensor([[1.5, -2.0], [3.0, 4.0]])
    assert np.asarray(x).dtype == np.float32 and np.asarray(x).shape == (2, 2)
    np.testing.assert_array_equal(np.asarray(x, dtype=np.float64), [[1.5, -2.0], [3.0, 4.0]])
    assert float(x[0, 0]) == 1.5 and int(x[1, 1]) == 4 and isinstance(int(x[1, 1]), int)
    assert bool(tc.tensor([0.0])) is False and bool(tc.tensor(2.0)) is True
    assert len(x) == 2 and x.tolist() == [[1.5, -2.0], [3.0, 4.0]]
    assert [r.tolist() for r in x] == [[1.5, -2.0], [3.0, 4.0]]
    assert [1, 2, 3][tc.tensor(2)] == 3
    for fn in (float, int, bool):
        with pytest.raises(RuntimeError, match="4 elements"):
            fn(x)
    with pytest.raises(TypeError, match="0-d"):
        len(tc.tensor(1.0))
    with pytest.raises(TypeError, match="integer"):
        [1, 2][tc.tensor(1.0)]
    assert x in {x: 1}  # still hashable by identity


def test_comparisons_are_bool_tensors_like_torch():
    torch = _torch()
    a = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]], dtype=np.float32)
    b = np.array([3.0, 2.0, 1.0], dtype=np.float32)
    x, y = tc.tensor(a), tc.tensor(b)
    xt, yt = torch.tensor(a), torch.tensor(b)
    for op in ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"):
        for other, other_t in ((y, yt), (2.0, 2.0)):
            got = getattr(x, op)(other)
            assert got.dtype == np.bool_ and not got.requires_grad
            np.testing.assert_array_equal(got.numpy(), getattr(xt, op)(other_t).numpy())
    m = (x > 1) & (x < 3) | ~(x == 1)
    np.testing.assert_array_equal(m.numpy(), ((xt > 1) & (xt < 3) | ~(xt == 1)).numpy())
    assert tc.equal(x, tc.tensor(a)) and not tc.equal(x, y)
    assert bool((x == x).all()) and not bool((x > 5).any())


# --- arg-reductions, max/min ------------------------------------------------------------------
@given(st.integers(0, 2**31 - 1), st.sampled_from([0, 1, -1]), st.booleans(), st.booleans())
def test_max_min_dim_match_torch_with_ties(seed, dim, keepdim, largest):
    torch = _torch()
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 3, (4, 5)).astype(np.float64)  # many ties on purpose
    name = "max" if largest else "min"
    x, xt = t64(a), torch.tensor(a, requires_grad=True)
    v, i = getattr(x, name)(dim, keepdim)
    vt, it = getattr(xt, name)(dim, keepdim)
    np.testing.assert_array_equal(v.numpy(), vt.detach().numpy())
    np.testing.assert_array_equal(i.numpy(), it.numpy())
    assert i.dtype == np.int64
    up = rng.standard_normal(v.shape)
    v.backward(up)
    vt.backward(torch.tensor(up))
    np.testing.assert_array_equal(x.grad.numpy(), xt.grad.numpy())  # whole gradient on one index
    np.testing.assert_array_equal(tc.argmax(x, dim, keepdim).numpy(),
                                  torch.argmax(xt, dim, keepdim).numpy())
    np.testing.assert_array_equal(x.argmin(dim).numpy(), xt.argmin(dim).numpy())
    assert x.argmax().item() == xt.argmax().item() and x.argmin().item() == xt.argmin().item()


def test_full_max_splits_ties_min_too_and_zero_d():
    x = t64([1.0, 3.0, 3.0, 1.0])
    x.min().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.5, 0, 0, 0.5])
    v, i = t64(4.0).max(0)
    assert v.shape == () and i.item() == 0
    with pytest.raises(IndexError, match="out of range"):
        t64([1.0, 2.0]).max(1)
    with pytest.raises(TypeError, match="amax"):
        t64([[1.0]]).max((0, 1))


@given(st.integers(0, 2**31 - 1), st.sampled_from([0, 1, 2, -1]), st.booleans())
def test_select_dim_gradcheck(seed, dim, keepdim):
    rng = np.random.default_rng(seed)
    x = t64(rng.permutation(24).reshape(2, 3, 4) / 5.0)
    tc.gradcheck(lambda x: x.max(dim, keepdim).values * 1.5, [x])
    tc.gradcheck(lambda x: x.min(dim, keepdim)[0], [x])


def test_maximum_minimum_match_torch():
    torch = _torch()
    a = np.array([1.0, 2.0, 3.0, 2.0])
    b = np.array([2.0, 2.0, 1.0, 0.0])
    for name in ("maximum", "minimum"):
        x, y = t64(a), t64(b)
        xt, yt = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
        out, outt = getattr(tc, name)(x, y), getattr(torch, name)(xt, yt)
        np.testing.assert_array_equal(out.numpy(), outt.detach().numpy())
        g = np.array([1.0, 2.0, 3.0, 4.0])
        out.backward(g)
        outt.backward(torch.tensor(g))
        np.testing.assert_array_equal(x.grad.numpy(), xt.grad.numpy())
        np.testing.assert_array_equal(y.grad.numpy(), yt.grad.numpy())
    np.testing.assert_array_equal(tc.max(t64(a), t64(b)).numpy(), np.maximum(a, b))


# --- selection ------------------------------------------------------------------------------
def test_where_clamp_masked_fill_match_torch(rng):
    torch = _torch()
    a = rng.standard_normal((3, 4))
    a[0, 0], a[1, 1] = -0.5, 0.5  # exactly on the clamp bounds: gradient passes (PyTorch)
    b = rng.standard_normal((4,))
    g = rng.standard_normal((3, 4))
    cases = [
        (lambda x, y: tc.where(x > 0, x, y), lambda x, y: torch.where(x > 0, x, y)),
        (lambda x, y: tc.where(x > 0, x, 0.5) * y, lambda x, y: torch.where(x > 0, x, 0.5) * y),
        (lambda x, y: x.clamp(-0.5, 0.5) + y, lambda x, y: x.clamp(-0.5, 0.5) + y),
        (lambda x, y: x.clamp(min=0.1) * y, lambda x, y: x.clamp(min=0.1) * y),
        (lambda x, y: x.clamp(max=0.1) * y, lambda x, y: x.clamp(max=0.1) * y),
        (lambda x, y: x.clamp(1.0, -1.0) + y, lambda x, y: x.clamp(1.0, -1.0) + y),
        (lambda x, y: x.masked_fill(y > 0, -3.0) * 2, lambda x, y: x.masked_fill(y > 0, -3.0) * 2),
    ]
    for ours, theirs in cases:
        x, y = t64(a), t64(b)
        xt, yt = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
        out, outt = ours(x, y), theirs(xt, yt)
        np.testing.assert_allclose(out.numpy(), outt.detach().numpy(), rtol=1e-12)
        out.backward(g)
        outt.backward(torch.tensor(g))
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12)
        tg = yt.grad.numpy() if yt.grad is not None else np.zeros(b.shape)
        np.testing.assert_allclose(0 if y.grad is None else y.grad.numpy(), tg, rtol=1e-12)


@given(st.integers(0, 2**31 - 1))
def test_selection_gradcheck(seed):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.2, 1.0, (3, 4)) * rng.choice([-1, 1], (3, 4))
    b = rng.standard_normal((1, 4))
    x, y = t64(a), t64(b)
    mask = tc.tensor(rng.random((3, 4)) > 0.5)
    tc.gradcheck(lambda x, y: tc.where(mask, x, y), [x, y])
    tc.gradcheck(lambda x: x.clamp(-0.1, 0.1) * x, [x])
    tc.gradcheck(lambda x: x.masked_fill(mask, 2.0) * x, [x])
    tc.gradcheck(lambda x, y: tc.maximum(x, y) - tc.minimum(x, y) * 2, [x, y])


def test_selection_bad_input():
    x = t64([1.0, 2.0])
    with pytest.raises(TypeError, match="bool tensor"):
        tc.where(x, x, x)
    with pytest.raises(ValueError, match="do not broadcast"):
        tc.where(x > 0, x, t64([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="at least one"):
        x.clamp()
    with pytest.raises(ValueError, match="does not broadcast"):
        x.masked_fill(tc.tensor([True, False, True]), 0.0)


# --- shape ------------------------------------------------------------------------------------
def test_shape_ops_match_torch(rng):
    torch = _torch()
    a = rng.standard_normal((2, 1, 3))
    cases = [
        (lambda x: x.squeeze(), lambda x: x.squeeze()),
        (lambda x: x.squeeze(1), lambda x: x.squeeze(1)),
        (lambda x: x.squeeze(0), lambda x: x.squeeze(0)),  # size 2: left alone
        (lambda x: x.squeeze((0, 1)), lambda x: x.squeeze((0, 1))),
        (lambda x: x.unsqueeze(-1), lambda x: x.unsqueeze(-1)),
        (lambda x: x.unsqueeze(3), lambda x: x.unsqueeze(3)),
        (lambda x: x.expand(4, 2, 5, 3), lambda x: x.expand(4, 2, 5, 3)),
        (lambda x: x.expand(-1, 6, -1), lambda x: x.expand(-1, 6, -1)),
        (lambda x: x.repeat(2, 3, 1), lambda x: x.repeat(2, 3, 1)),
        (lambda x: x.repeat(2, 1, 2, 2), lambda x: x.repeat(2, 1, 2, 2)),
        (lambda x: x.clone() * 2, lambda x: x.clone() * 2),
    ]
    for ours, theirs in cases:
        x, xt = t64(a), torch.tensor(a, requires_grad=True)
        out, outt = ours(x), theirs(xt)
        assert out.shape == tuple(outt.shape)
        np.testing.assert_array_equal(out.numpy(), outt.detach().numpy())
        g = rng.standard_normal(out.shape)
        out.backward(g)
        outt.backward(torch.tensor(g))
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12)


@given(st.integers(0, 2**31 - 1), st.lists(st.integers(1, 3), min_size=3, max_size=4))
def test_expand_repeat_gradcheck(seed, reps):
    rng = np.random.default_rng(seed)
    x = t64(rng.standard_normal((2, 1, 3)))
    tc.gradcheck(lambda x: x.repeat(*reps), [x])
    tc.gradcheck(lambda x: x.expand(*([2] * (len(reps) - 3)), 2, reps[1], 3), [x])
    tc.gradcheck(lambda x: x.unsqueeze(0).squeeze(2), [x])


def test_shape_bad_input():
    x = t64(np.ones((2, 3)))
    with pytest.raises(ValueError, match="cannot expand"):
        x.expand(4, 3)
    with pytest.raises(ValueError, match="at least 2"):
        x.repeat(2)
    with pytest.raises(IndexError, match="out of range"):
        x.unsqueeze(4)


# --- factories --------------------------------------------------------------------------------
def test_factories_match_torch_dtypes_and_values():
    torch = _torch()
    pairs = [
        (tc.zeros(2, 3), torch.zeros(2, 3)), (tc.ones((2,), dtype=tc.float64), torch.ones((2,), dtype=torch.float64)),
        (tc.full((2, 2), 7), torch.full((2, 2), 7)), (tc.full((2,), 1.5), torch.full((2,), 1.5)),
        (tc.full((2,), True), torch.full((2,), True)),
        (tc.arange(5), torch.arange(5)), (tc.arange(1, 2, 0.25), torch.arange(1, 2, 0.25)),
        (tc.arange(0, 10, 3, dtype=tc.float64), torch.arange(0, 10, 3, dtype=torch.float64)),
        (tc.linspace(-1, 1, 5), torch.linspace(-1, 1, 5)), (tc.eye(3, 2), torch.eye(3, 2)),
        (tc.zeros(3, dtype=tc.int64), torch.zeros(3, dtype=torch.int64)),
        (tc.empty(2, 0), torch.zeros(2, 0)),
    ]
    base = torch.ones(2, 3, dtype=torch.float64)
    ours_base = tc.ones(2, 3, dtype="float64")
    pairs += [(tc.zeros_like(ours_base), torch.zeros_like(base)),
              (tc.ones_like(ours_base, dtype=tc.float32), torch.ones_like(base, dtype=torch.float32)),
              (tc.full_like(ours_base, 4), torch.full_like(base, 4))]
    for ours, theirs in pairs:
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)
    assert tc.zeros(2, requires_grad=True).requires_grad
    for dt in (np.float64, "float64", tc.float64, float, "torch.float64", "double"):
        assert tc.zeros(1, dtype=dt).dtype == np.float64


def test_random_factories_are_seeded_and_shaped():
    tc.manual_seed(3)
    a, b, c = tc.rand(2, 3), tc.randn(4, dtype=tc.float64), tc.randint(2, 5, (100,))
    tc.manual_seed(3)
    np.testing.assert_array_equal(tc.rand(2, 3).numpy(), a.numpy())
    assert a.dtype == np.float32 and b.dtype == np.float64 and c.dtype == np.int64
    assert 0 <= a.numpy().min() and a.numpy().max() < 1
    assert c.numpy().min() >= 2 and c.numpy().max() <= 4 and len(set(c.tolist())) == 3
    assert tc.randint(3, (5,)).numpy().max() < 3
    assert tc.randn_like(a).shape == (2, 3) and tc.rand_like(b).dtype == np.float64


def test_factory_bad_input():
    with pytest.raises(ValueError, match="non-negative"):
        tc.zeros(2, -1)
    with pytest.raises(TypeError, match="not a dtype"):
        tc.zeros(2, dtype="floaty")
    with pytest.raises(TypeError, match="floating"):
        tc.randn(2, dtype=tc.int64)
    with pytest.raises(ValueError, match="step"):
        tc.arange(0, 3, 0)


# --- casts ------------------------------------------------------------------------------------
def test_casts_are_differentiable_and_grad_keeps_leaf_dtype():
    torch = _torch()
    a = np.array([1.0, -2.0, 3.0], dtype=np.float32)
    for ours, theirs in ((lambda x: (x * 2).double(), lambda x: (x * 2).double()),
                         (lambda x: x.to(tc.float64) ** 2, lambda x: x.to(torch.float64) ** 2),
                         (lambda x: x.type("float64") * x.double(), lambda x: x.type(torch.float64) * x.double()),
                         (lambda x: x.to("cpu", tc.float64).float() * 3, lambda x: x.to("cpu", torch.float64).float() * 3),
                         (lambda x: x.cpu() * 2, lambda x: x.cpu() * 2)):
        x, xt = tc.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        out, outt = ours(x), theirs(xt)
        assert str(out.dtype) == str(outt.dtype).replace("torch.", "")
        out.sum().backward()
        outt.sum().backward()
        assert x.grad.dtype == np.float32
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-6)
    x = tc.tensor(a)
    assert x.to("cpu") is x and x.float() is x and x.to(tc.float32) is x
    assert x.to(tc.float32, copy=True).data is not x.data
    assert x.long().dtype == np.int64 and x.long().tolist() == [1, -2, 3]
    assert x.type() == "tinyconv.float32"
    y = tc.tensor(a, requires_grad=True)
    assert not y.long().requires_grad
    with pytest.raises(ValueError, match="unknown device"):
        x.to("tpu")


def test_mixed_dtype_gradient_and_momentum_stay_float32():
    w = nn.Parameter(np.ones(3, dtype=np.float32))
    x = tc.tensor(np.array([1.0, 2.0, 3.0]))  # float64
    (w * x).sum().backward()
    assert w.grad.dtype == np.float32
    np.testing.assert_array_equal(w.grad.numpy(), [1, 2, 3])
    opt = tc.optim.SGD([w], lr=0.1, momentum=0.9)
    opt.step()
    opt.step()
    assert w.dtype == np.float32 and opt.state[id(w)]["momentum_buffer"].dtype == np.float32
