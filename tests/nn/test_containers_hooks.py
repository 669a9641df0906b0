"""ModuleList / ModuleDict / ParameterList registration, module hooks and tensor hooks, checked
against PyTorch's behaviour."""
import numpy as np
import pytest

import tinyconv as tc
from tinyconv import nn


def _torch():
    return pytest.importorskip("torch")


class Tower(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)])
        self.heads = nn.ModuleDict({"a": nn.Linear(2, 1), "b": nn.Linear(2, 3)})
        self.scales = nn.ParameterList([nn.Parameter(np.ones(2, dtype=np.float32)),
                                        tc.tensor(np.full(1, 2.0, dtype=np.float32))])

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return self.heads["a"](x * self.scales[0]) * self.scales[1]


def test_containers_register_like_torch():
    torch = _torch()

    class TorchTower(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = torch.nn.ModuleList([torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2)])
            self.heads = torch.nn.ModuleDict({"a": torch.nn.Linear(2, 1), "b": torch.nn.Linear(2, 3)})
            self.scales = torch.nn.ParameterList([torch.nn.Parameter(torch.ones(2)),
                                                  torch.nn.Parameter(torch.full((1,), 2.0))])

    ours, theirs = Tower(), TorchTower()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    y = ours(tc.tensor(x))
    xt = torch.tensor(x)
    for b in theirs.blocks:
        xt = b(xt)
    yt = theirs.heads["a"](xt * theirs.scales[0]) * theirs.scales[1]
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert len(list(ours.parameters())) == len(list(theirs.parameters())) == 10


def test_module_list_dict_operations():
    ml = nn.ModuleList([nn.ReLU()])
    ml.append(nn.Tanh()).extend([nn.Sigmoid()])
    ml.insert(1, nn.Linear(2, 2))
    ml += [nn.Flatten()]
    assert [type(m).__name__ for m in ml] == ["ReLU", "Linear", "Tanh", "Sigmoid", "Flatten"]
    assert isinstance(ml[-1], nn.Flatten) and len(ml[1:3]) == 2
    del ml[0]
    assert [k for k, _ in ml.named_children()] == ["0", "1", "2", "3"]
    assert [n for n, _ in ml.named_parameters()] == ["0.weight", "0.bias"]
    with pytest.raises(TypeError, match="Modules"):
        ml.append(3)
    with pytest.raises(IndexError, match="out of range"):
        ml[10]
    md = nn.ModuleDict({"x": nn.ReLU()})
    md["y"] = nn.Linear(1, 1)
    assert "y" in md and list(md.keys()) == ["x", "y"] and isinstance(md.pop("x"), nn.ReLU)
    with pytest.raises(KeyError, match="no module"):
        md["x"]
    pl = nn.ParameterList([tc.tensor([1.0])])
    assert isinstance(pl[0], nn.Parameter) and pl[0].requires_grad
    with pytest.raises(TypeError, match="Parameters or Tensors"):
        pl.append(np.ones(2))
    with pytest.raises(TypeError, match="container"):
        ml(tc.tensor([1.0]))


def test_forward_hooks_and_pre_hooks():
    lin = nn.Linear(2, 2)
    seen = []
    h1 = lin.register_forward_pre_hook(lambda m, args: (args[0] * 2,))
    h2 = lin.register_forward_hook(lambda m, args, out: seen.append((args[0].tolist(), out.shape)))
    h3 = lin.register_forward_hook(lambda m, args, out: out * 0)
    x = tc.tensor([[1.0, 2.0]])
    assert lin(x).tolist() == [[0.0, 0.0]]
    assert seen == [([[2.0, 4.0]], (1, 2))]
    for h in (h1, h2, h3):
        h.remove()
    np.testing.assert_allclose(lin(x).numpy(), (x.numpy() @ lin.weight.numpy().T + lin.bias.numpy()))
    assert len(seen) == 1
    with pytest.raises(TypeError, match="callable"):
        lin.register_forward_hook(3)


def test_full_backward_hook_matches_torch():
    torch = _torch()
    rng = np.random.default_rng(1)
    w, b = rng.standard_normal((3, 4)), rng.standard_normal(3)
    x = rng.standard_normal((2, 4))
    g = rng.standard_normal((2, 3))
    records = {}
    for lib, T in (("tc", None), ("torch", torch)):
        if T is None:
            lin = nn.Linear(4, 3).double()
            lin.load_state_dict({"weight": w, "bias": b})
            xi = tc.tensor(x, requires_grad=True)
        else:
            lin = torch.nn.Linear(4, 3).double()
            lin.load_state_dict({"weight": torch.tensor(w), "bias": torch.tensor(b)})
            xi = torch.tensor(x, requires_grad=True)
        got = []

        def hook(m, gin, gout, got=got):
            got.append((np.array(gin[0].detach().numpy() if T else gin[0].numpy()),
                        np.array(gout[0].detach().numpy() if T else gout[0].numpy())))
            return (gin[0] * 3,)
        lin.register_full_backward_hook(hook)
        out = lin(xi) * 2
        out.backward(tc.tensor(g) if T is None else torch.tensor(g))
        records[lib] = (got, xi.grad.numpy(), lin.weight.grad.numpy())
    (gin, gout), = records["tc"][0]
    (gin_t, gout_t), = records["torch"][0]
    np.testing.assert_allclose(gin, gin_t, rtol=1e-12)
    np.testing.assert_allclose(gout, gout_t, rtol=1e-12)
    np.testing.assert_allclose(records["tc"][1], records["torch"][1], rtol=1e-12)  # replaced x3
    np.testing.assert_allclose(records["tc"][2], records["torch"][2], rtol=1e-12)


def test_backward_hook_without_input_grad_gets_none():
    lin = nn.Linear(2, 1)
    got = []
    lin.register_full_backward_hook(lambda m, gin, gout: got.append((gin, gout[0].shape)))
    lin(tc.tensor([[1.0, 2.0]])).sum().backward()
    assert got == [((None,), (1, 1))]


def test_tensor_register_hook_and_retain_grad_match_torch():
    torch = _torch()
    a = np.array([1.0, -2.0, 3.0])
    x, xt = tc.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    results = []
    for v, lib in ((x, tc), (xt, torch)):
        h = v * v
        h.retain_grad()
        seen = []
        handle = h.register_hook(lambda g, seen=seen: seen.append(g.tolist()) or g * 10)
        (h * 2).sum().backward()
        handle.remove()
        results.append((seen, h.grad.tolist(), v.grad.tolist()))
    assert results[0] == results[1]
    leaf_seen = []
    y = tc.tensor([1.0, 2.0], requires_grad=True)
    y.register_hook(lambda g: leaf_seen.append(g.tolist()))
    (y * 3).sum().backward()
    assert leaf_seen == [[3.0, 3.0]] and y.grad.tolist() == [3.0, 3.0]
    with pytest.raises(RuntimeError, match="does not require grad"):
        tc.tensor([1.0]).register_hook(print)
    with pytest.raises(RuntimeError, match="shape"):
        z = tc.tensor([1.0, 2.0], requires_grad=True)
        w = z * 1
        w.register_hook(lambda g: tc.tensor([1.0]))
        w.sum().backward()


def test_requires_grad_named_modules_apply_like_torch():
    torch = _torch()
    ours = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.Linear(3, 1)))
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(3, 1)))
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert ([type(m).__name__ for _, m in ours.named_modules()]
            == [type(m).__name__ for _, m in theirs.named_modules()])
    seen, seen_t = [], []
    ours.apply(lambda m: seen.append(type(m).__name__))
    theirs.apply(lambda m: seen_t.append(type(m).__name__))
    assert seen == seen_t  # children first, then the parent
    assert ours.requires_grad_(False) is ours
    assert not any(p.requires_grad for p in ours.parameters())
    ours[1].requires_grad_()
    assert [p.requires_grad for p in ours.parameters()] == [False, False, True, True]
