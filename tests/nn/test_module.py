"""Module mechanics: registration, traversal order, state_dict round trips, strict loading that
changes nothing on failure, train/eval, zero_grad, .to(), repr."""
from collections import OrderedDict

import numpy as np
import pytest

import tinyconv as tc
from tinyconv import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.act = nn.ReLU()
        self.drop = nn.Dropout(0.25)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(np.ones(3, dtype=np.float32))
        self.block = Block()
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 5), nn.Tanh(), nn.Linear(5, 2, bias=False))

    def forward(self, x):
        x = self.block.act(self.block.conv(x)) * self.scale.reshape(1, 3, 1, 1)
        return self.head(self.block.drop(x))


KEYS = ["scale", "block.conv.weight", "block.conv.bias", "head.1.weight", "head.1.bias", "head.3.weight"]
SHAPES = [(3,), (3, 2, 3, 3), (3,), (5, 48), (5,), (2, 5)]


def _randomize(model, seed):
    rng = np.random.default_rng(seed)
    for p in model.parameters():
        p.data[...] = rng.standard_normal(p.shape)


def test_named_parameters_order_keys_and_shapes():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == KEYS  # own parameters first, then children in assignment order
    assert [p.shape for p in net.parameters()] == SHAPES
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    assert list(net.state_dict()) == KEYS
    assert net.num_parameters() == 3 + 54 + 3 + 240 + 5 + 10


def test_children_and_modules():
    net = Net()
    assert [n for n, _ in net.named_children()] == ["block", "head"]
    assert [type(m).__name__ for m in net.children()] == ["Block", "Sequential"]
    names = [n for n, _ in net.named_modules()]
    assert names == ["", "block", "block.conv", "block.act", "block.drop", "head", "head.0",
                     "head.1", "head.2", "head.3"]
    assert len(list(net.modules())) == 10
    assert net.head[1] is net.head._modules["1"] and net.head[-1].out_features == 2
    assert len(net.head) == 4 and [type(m).__name__ for m in net.head] == ["Flatten", "Linear", "Tanh", "Linear"]
    assert [type(m).__name__ for m in net.head[1:3]] == ["Linear", "Tanh"]
    with pytest.raises(IndexError):
        net.head[4]


def test_shared_parameter_counted_once_and_reassignment():
    lin = nn.Linear(4, 4)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]  # like PyTorch
    # replacing a parameter by a module (or the reverse) moves it between registries
    m = nn.Module()
    m.x = nn.Parameter(np.zeros(2))
    m.x = nn.ReLU()
    assert list(m.named_parameters()) == [] and [n for n, _ in m.named_children()] == ["x"]
    with pytest.raises(TypeError, match="use a Module"):
        m.x = np.zeros(2)


def test_setattr_before_init_and_missing_forward():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.zeros(1))

    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Bad()
    with pytest.raises(TypeError, match="forward"):
        nn.Module()(tc.tensor(np.zeros(1)))


def test_state_dict_is_a_copy_and_round_trips():
    tc.manual_seed(1)
    a, b = Net(), Net()
    _randomize(a, 0)
    sd = a.state_dict()
    assert isinstance(sd, OrderedDict)
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    sd["scale"][...] = 123.0  # mutating the copy leaves the model alone
    assert not np.any(a.scale.numpy() == 123.0)
    sd = a.state_dict()
    arrays_before = [p.data for p in b.parameters()]
    result = b.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []
    for (k, v), p in zip(sd.items(), b.parameters()):
        np.testing.assert_array_equal(p.numpy(), v)
    # loading copies into the existing arrays (views and optimizers stay valid) ...
    assert all(p.data is arr for p, arr in zip(b.parameters(), arrays_before))
    # ... and does not alias the source
    sd["scale"][...] = -1.0
    assert not np.any(b.scale.numpy() == -1.0)
    x = tc.tensor(np.random.default_rng(2).standard_normal((2, 2, 4, 4)).astype(np.float32))
    a.eval(), b.eval()
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())


def test_load_accepts_tensors_float64_and_objects_with_numpy():
    class FakeTorch:  # what a torch tensor looks like to load_state_dict
        def __init__(self, a):
            self.a = a

        def detach(self):
            return self

        def cpu(self):
            return self

        def numpy(self):
            return self.a

    net = Net()
    rng = np.random.default_rng(3)
    sd = {k: rng.standard_normal(s) for k, s in zip(KEYS, SHAPES)}  # float64 in
    wrapped = {k: (tc.tensor(v) if i % 2 else FakeTorch(v)) for i, (k, v) in enumerate(sd.items())}
    net.load_state_dict(wrapped)
    for k, p in net.named_parameters():
        assert p.dtype == np.float32  # cast to the parameter's dtype
        np.testing.assert_allclose(p.numpy(), sd[k].astype(np.float32))


def _snapshot(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("case", ["missing", "unexpected", "shape", "dtype"])
def test_strict_failures_list_the_problem_and_change_nothing(case):
    net = Net()
    _randomize(net, 4)
    before = _snapshot(net)
    sd = {k: np.full(s, 7.0, np.float32) for k, s in zip(KEYS, SHAPES)}
    if case == "missing":
        del sd["head.1.bias"]
        pattern = r"missing keys: head\.1\.bias \(5,\)"
    elif case == "unexpected":
        sd["head.9.weight"] = np.zeros((2, 2), np.float32)
        pattern = r"unexpected keys: head\.9\.weight \(2, 2\)"
    elif case == "shape":
        sd["block.conv.weight"] = np.zeros((3, 2, 5, 5), np.float32)
        pattern = r"block\.conv\.weight: shape \(3, 2, 5, 5\) in the state_dict, \(3, 2, 3, 3\) in the model"
    else:
        sd["head.3.weight"] = np.zeros((2, 5), np.int64)
        pattern = r"head\.3\.weight: dtype int64"
    with pytest.raises(ValueError, match=pattern):
        net.load_state_dict(sd)
    after = _snapshot(net)
    for k in KEYS:  # the valid entries (all 7.0) were not applied either
        np.testing.assert_array_equal(after[k], before[k])


def test_all_problems_reported_together_and_non_strict_mode():
    net = Net()
    sd = {k: np.zeros(s, np.float32) for k, s in zip(KEYS, SHAPES)}
    del sd["scale"]
    sd["extra"] = np.zeros(1)
    sd["head.3.weight"] = np.zeros((5, 2), np.float32)
    with pytest.raises(ValueError) as e:
        net.load_state_dict(sd)
    msg = str(e.value)
    assert "missing keys: scale" in msg and "unexpected keys: extra" in msg and "head.3.weight" in msg
    assert "nothing was changed" in msg
    # strict=False tolerates missing/unexpected keys, never a wrong shape
    with pytest.raises(ValueError, match="head.3.weight"):
        net.load_state_dict(sd, strict=False)
    sd["head.3.weight"] = np.ones((2, 5), np.float32)
    missing, unexpected = net.load_state_dict(sd, strict=False)
    assert missing == ["scale"] and unexpected == ["extra"]
    np.testing.assert_array_equal(net.head[3].weight.numpy(), np.ones((2, 5)))
    with pytest.raises(TypeError, match="mapping"):
        net.load_state_dict([("scale", np.ones(3))])


def test_train_eval_propagate_and_dropout_follows():
    net = Net()
    assert net.training and all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.block.train(False)
    assert net.training and not net.block.drop.training and net.head.training
    with pytest.raises(ValueError, match="bool"):
        net.train("yes")
    x = tc.tensor(np.ones((1000,), np.float32))
    drop = nn.Dropout(0.5)
    y = drop(x).numpy()
    assert set(np.unique(y)) <= {0.0, 2.0} and 300 < (y == 0).sum() < 700
    drop.eval()
    np.testing.assert_array_equal(drop(x).numpy(), x.numpy())


def test_zero_grad():
    net = Net()
    x = tc.tensor(np.random.default_rng(5).standard_normal((2, 2, 4, 4)).astype(np.float32))
    net(x).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not np.any(p.grad.numpy()) for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_to_double_float_keep_parameter_objects():
    net = Net()
    params = list(net.parameters())
    net.double()
    assert list(net.parameters()) == params  # same objects
    assert all(p.dtype == np.float64 and p.requires_grad for p in params)
    x = tc.tensor(np.ones((1, 2, 4, 4)))
    assert net(x).dtype == np.float64
    net.to(np.float32)
    assert all(p.dtype == np.float32 for p in params)
    net.to("cpu", "float64")
    assert all(p.dtype == np.float64 for p in params)
    with pytest.raises(TypeError, match="floating"):
        net.to(dtype=np.int32)
    with pytest.raises(ValueError, match="neither a device"):
        net.to("tpu")


def test_repr_like_pytorch():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1, groups=1, bias=False), nn.ReLU(),
                        nn.MaxPool2d(3, 2), nn.Flatten(), nn.Linear(8, 4), nn.Dropout(0.3))
    assert repr(net) == (
        "Sequential(\n"
        "  (0): Conv2d(3, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=False)\n"
        "  (1): ReLU()\n"
        "  (2): MaxPool2d(kernel_size=3, stride=2, padding=0)\n"
        "  (3): Flatten(start_dim=1, end_dim=-1)\n"
        "  (4): Linear(in_features=8, out_features=4, bias=True)\n"
        "  (5): Dropout(p=0.3)\n"
        ")")
    nested = repr(Net())
    assert "  (block): Block(\n    (conv): Conv2d(2, 3, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))" in nested
    assert nested.endswith("  )\n)")


def test_apply_and_requires_grad():
    net = Net()
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Net" and seen.count("Linear") == 2
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
    assert nn.Parameter(np.zeros(2), requires_grad=False).requires_grad is False
    assert repr(nn.Parameter(np.zeros(2))).startswith("Parameter containing:")


def test_buffers_are_saved_and_loaded():
    m = nn.Module()
    m.register_buffer("count", tc.tensor(np.array([3], np.int64)))
    m.w = nn.Parameter(np.zeros(2, np.float32))
    assert list(m.state_dict()) == ["w", "count"] and [n for n, _ in m.named_parameters()] == ["w"]
    m.load_state_dict({"w": np.ones(2), "count": np.array([9])})
    assert m.count.numpy()[0] == 9 and m.count.dtype == np.int64
    with pytest.raises(ValueError, match="count: dtype float64"):
        m.load_state_dict({"w": np.ones(2), "count": np.array([1.5])})
    with pytest.raises(KeyError, match="no '.'"):
        m.register_buffer("a.b", None)
