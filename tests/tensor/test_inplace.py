"""In-place ops: values as in PyTorch, PyTorch's safety rules, the version counter, and
gradients through in-place changes of non-leaf tensors."""
import numpy as np
import pytest

import tinyconv as tc
from tinyconv import nn


def _torch():
    return pytest.importorskip("torch")


A = np.array([[1.0, -2.0, 3.0], [4.0, 5.0, -6.0]])
B = np.array([0.5, 2.0, -1.0])

CASES = [
    ("add_", lambda t, o: t.add_(o), lambda t, o: t.add_(o)),
    ("add_ alpha", lambda t, o: t.add_(o, alpha=-2), lambda t, o: t.add_(o, alpha=-2)),
    ("sub_", lambda t, o: t.sub_(o), lambda t, o: t.sub_(o)),
    ("sub_ alpha", lambda t, o: t.sub_(o, alpha=0.5), lambda t, o: t.sub_(o, alpha=0.5)),
    ("mul_", lambda t, o: t.mul_(o), lambda t, o: t.mul_(o)),
    ("div_", lambda t, o: t.div_(o), lambda t, o: t.div_(o)),
    ("mul_ scalar", lambda t, o: t.mul_(3.0), lambda t, o: t.mul_(3.0)),
    ("iadd", lambda t, o: t.__iadd__(o), lambda t, o: t.__iadd__(o)),
    ("isub", lambda t, o: t.__isub__(o), lambda t, o: t.__isub__(o)),
    ("imul", lambda t, o: t.__imul__(o), lambda t, o: t.__imul__(o)),
    ("itruediv", lambda t, o: t.__itruediv__(o), lambda t, o: t.__itruediv__(o)),
    ("zero_", lambda t, o: t.zero_(), lambda t, o: t.zero_()),
    ("fill_", lambda t, o: t.fill_(2.5), lambda t, o: t.fill_(2.5)),
    ("copy_", lambda t, o: t.copy_(o), lambda t, o: t.copy_(o)),
    ("clamp_", lambda t, o: t.clamp_(-1.5, 2.0), lambda t, o: t.clamp_(-1.5, 2.0)),
    ("setitem row", lambda t, o: t.__setitem__(0, o), lambda t, o: t.__setitem__(0, o)),
    ("setitem scalar", lambda t, o: t.__setitem__((1, 2), 9.0), lambda t, o: t.__setitem__((1, 2), 9.0)),
    ("setitem slice", lambda t, o: t.__setitem__((slice(None), slice(1, 3)), 0.0),
     lambda t, o: t.__setitem__((slice(None), slice(1, 3)), 0.0)),
]


@pytest.mark.parametrize("name,ours,theirs", CASES, ids=[c[0] for c in CASES])
def test_inplace_values_match_torch_and_keep_identity(name, ours, theirs):
    torch = _torch()
    t, tt = tc.tensor(A), torch.tensor(A)
    data = t.data
    out = ours(t, tc.tensor(B))
    theirs(tt, torch.tensor(B))
    assert (out is t or name.startswith('setitem')) and t.data is data and t._version >= 1
    np.testing.assert_allclose(t.numpy(), tt.numpy(), rtol=1e-12)


@pytest.mark.parametrize("name,ours,theirs", CASES, ids=[c[0] for c in CASES])
def test_inplace_on_non_leaf_gradients_match_torch(name, ours, theirs, rng):
    torch = _torch()
    x, o = tc.tensor(A, requires_grad=True), tc.tensor(B, requires_grad=True)
    xt, ot = torch.tensor(A, requires_grad=True), torch.tensor(B, requires_grad=True)
    y, yt = x * 1.5, xt * 1.5
    ours(y, o * 1.0)
    theirs(yt, ot * 1.0)
    g = rng.standard_normal(A.shape)
    (y * y).backward(g)
    (yt * yt).backward(torch.tensor(g))
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12)
    expect = np.zeros(B.shape) if ot.grad is None else ot.grad.numpy()
    np.testing.assert_allclose(np.zeros(B.shape) if o.grad is None else o.grad.numpy(), expect,
                               rtol=1e-12, atol=1e-15)


def test_leaf_requiring_grad_refuses_in_place_outside_no_grad():
    torch = _torch()
    p = nn.Parameter(np.ones(3, dtype=np.float32))
    pt = torch.nn.Parameter(torch.ones(3))
    ops = (lambda t, T: t.add_(1.0), lambda t, T: t.zero_(), lambda t, T: t.__setitem__(0, 2.0),
           lambda t, T: t.__isub__(1.0), lambda t, T: t.copy_(T([1.0, 2.0, 3.0])))
    for op in ops:
        with pytest.raises(RuntimeError, match="leaf"):
            op(p, tc.tensor)
        with pytest.raises(RuntimeError, match="leaf"):
            op(pt, torch.tensor)
    np.testing.assert_array_equal(p.numpy(), np.ones(3))


def test_parameter_update_under_no_grad_is_in_place():
    torch = _torch()
    w0 = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    p, pt = nn.Parameter(w0), torch.nn.Parameter(torch.tensor(w0))
    for q in (p, pt):
        (q * q).sum().backward()
    before = p
    with tc.no_grad():
        p -= 0.1 * p.grad
        p.grad.zero_()
        p[0] = 10.0
    with torch.no_grad():
        pt -= 0.1 * pt.grad
        pt.grad.zero_()
        pt[0] = 10.0
    assert p is before and p.requires_grad and p.is_leaf
    np.testing.assert_allclose(p.numpy(), pt.detach().numpy(), rtol=1e-6)
    np.testing.assert_array_equal(p.grad.numpy(), np.zeros(3))


def test_saved_tensor_modified_in_place_raises_at_backward():
    w = tc.tensor([1.0, 2.0], requires_grad=True)
    a = tc.tensor([3.0, 4.0])
    y = w * a            # Mul saves a
    a.mul_(2)            # then a changes: the gradient w.r.t. w would use the new a
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.sum().backward()
    x = tc.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    z = h * h
    h.add_(1)
    with pytest.raises(RuntimeError, match="in-place"):
        z.sum().backward()


def test_optimizer_step_bumps_version_like_torch():
    w = nn.Parameter(np.array([1.0, 2.0], dtype=np.float32))
    x = tc.tensor([3.0, 4.0], requires_grad=True)
    y = (w * x).sum()
    w.grad = tc.tensor(np.ones(2, dtype=np.float32))
    tc.optim.SGD([w], lr=0.1).step()
    with pytest.raises(RuntimeError, match="in-place"):
        y.backward()


def test_unsaved_leaf_change_is_fine_and_output_change_gives_right_gradient():
    torch = _torch()
    w = tc.tensor([1.0, 2.0], requires_grad=True)
    b = tc.tensor([3.0, 4.0])
    y = w + b  # Add saves nothing: changing b later does not matter (as in PyTorch)
    b.add_(1)
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 1.0])
    x, xt = tc.tensor([0.5, 1.0], requires_grad=True), torch.tensor([0.5, 1.0], requires_grad=True)
    e = x.exp()
    e.mul_(2)  # exp's saved output is kept intact: the gradient stays right
    e.sum().backward()
    (2 * xt.exp()).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-6)


def test_inplace_keeps_dtype_and_checks_shapes():
    t = tc.tensor(np.zeros(3, dtype=np.float32))
    t.add_(tc.tensor(np.ones(3)))  # float64 operand: result stays float32, as in PyTorch
    assert t.dtype == np.float32
    with pytest.raises(RuntimeError, match="shape"):
        t.add_(tc.tensor(np.ones((2, 3))))
    with pytest.raises(RuntimeError, match="broadcast"):
        t.copy_(tc.tensor(np.ones(4)))
    with pytest.raises(ValueError, match="0-d"):
        t.fill_(tc.tensor([1.0, 2.0]))
    m = tc.tensor([[1.0, -1.0], [-2.0, 3.0]])
    m[m < 0] = 0.0
    np.testing.assert_array_equal(m.numpy(), [[1.0, 0.0], [0.0, 3.0]])


def test_from_numpy_sees_in_place_changes_and_views():
    a = np.zeros(4, dtype=np.float32)
    t = tc.from_numpy(a)
    t[1:3] = 5.0
    t.add_(1.0)
    np.testing.assert_array_equal(a, [1.0, 6.0, 6.0, 1.0])
