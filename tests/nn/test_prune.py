"""nn.utils.prune: masks equal torch.nn.utils.prune's, the weight_orig/weight_mask layout,
iterative pruning, remove, state_dict and checkpoint round trips, validation errors."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinyconv as tc
import tinyconv.nn.utils.prune as prune
from tinyconv import nn, optim
from tinyconv.models import lenet5


def distinct(shape, rng, dtype=np.float64):
    """Values of distinct magnitude (no ties for topk to break differently), signs mixed."""
    n = int(np.prod(shape))
    mags = (rng.permutation(n) + 1.0) / n * (1 + rng.random())  # distinct across calls too
    return (mags * rng.choice([-1.0, 1.0], n)).reshape(shape).astype(dtype)


def pair(kind, rng):
    """The same layer in tinyconv and torch, with equal distinct weights."""
    torch = pytest.importorskip("torch")
    if kind == "conv":
        ours, theirs = nn.Conv2d(4, 6, (3, 2), dtype=np.float64), torch.nn.Conv2d(4, 6, (3, 2)).double()
    else:
        ours, theirs = nn.Linear(7, 5, dtype=np.float64), torch.nn.Linear(7, 5).double()
    w = distinct(ours.weight.shape, rng)
    ours.weight.data[...] = w
    ours.bias.data[...] = theirs.bias.detach().numpy()
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(w))
    return ours, theirs


STEPS = [
    ("l1_unstructured", dict(amount=0.3)),
    ("l1_unstructured", dict(amount=4)),
    ("ln_structured", dict(amount=0.34, n=2, dim=0)),
    ("ln_structured", dict(amount=1, n=1, dim=1)),
    ("ln_structured", dict(amount=0.5, n=math.inf, dim=-1)),
    ("ln_structured", dict(amount=0.2, n=3, dim=0)),
]


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["conv", "linear"])
@pytest.mark.parametrize("first", range(len(STEPS)))
def test_masks_equal_torch_iterative(kind, first, rng):
    """Three prunings in a row (a PruningContainer): every mask equals PyTorch's."""
    import torch.nn.utils.prune as tprune
    import torch
    ours, theirs = pair(kind, rng)
    for name, kw in (STEPS[first], STEPS[(first + 3) % len(STEPS)], STEPS[(first + 5) % len(STEPS)]):
        if kind == "linear" and kw.get("dim") == 1 and name == "ln_structured":
            kw = dict(kw, dim=0)
        getattr(prune, name)(ours, "weight", **kw)
        getattr(tprune, name)(theirs, "weight", **kw)
        np.testing.assert_array_equal(ours.weight_mask.numpy(), theirs.weight_mask.numpy())
        x = rng.standard_normal((3, 4, 5, 5) if kind == "conv" else (3, 7))
        np.testing.assert_allclose(ours(tc.tensor(x)).numpy(),
                                   theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-12, atol=1e-12)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    prune.remove(ours, "weight")
    tprune.remove(theirs, "weight")
    np.testing.assert_array_equal(ours.weight.numpy(), theirs.weight.detach().numpy())


@pytest.mark.torch
@pytest.mark.parametrize("n, dim", [(-math.inf, 0), ("fro", 1), (0.5, 1), (1, -2)])
def test_ln_structured_norms_equal_torch(n, dim, rng):
    """Norms where a pruned (zero) entry would tie every channel are tested on a fresh weight."""
    import torch.nn.utils.prune as tprune
    ours, theirs = pair("linear", rng)
    prune.ln_structured(ours, "weight", 0.4, n, dim)
    tprune.ln_structured(theirs, "weight", 0.4, n, dim)
    np.testing.assert_array_equal(ours.weight_mask.numpy(), theirs.weight_mask.numpy())


@pytest.mark.torch
def test_importance_scores_and_custom_mask_equal_torch(rng):
    import torch
    import torch.nn.utils.prune as tprune
    ours, theirs = pair("conv", rng)
    scores = distinct(ours.weight.shape, rng)
    prune.l1_unstructured(ours, "weight", 0.4, importance_scores=tc.tensor(scores))
    tprune.l1_unstructured(theirs, "weight", 0.4, importance_scores=torch.from_numpy(scores))
    mask = (rng.random(ours.weight.shape) > 0.3).astype(np.float64)
    prune.custom_from_mask(ours, "weight", mask)
    tprune.custom_from_mask(theirs, "weight", torch.from_numpy(mask))
    prune.ln_structured(ours, "weight", 2, 1, 0, importance_scores=scores)
    tprune.ln_structured(theirs, "weight", 2, 1, 0, importance_scores=torch.from_numpy(scores))
    np.testing.assert_array_equal(ours.weight_mask.numpy(), theirs.weight_mask.numpy())


@pytest.mark.torch
@pytest.mark.parametrize("amounts", [(0.5, 0.5, 0.6), (100, 30, 0.9), (0.0, 0.95, 1)])
def test_global_unstructured_equals_torch(amounts, rng):
    import torch.nn.utils.prune as tprune
    layers = [pair(k, rng) for k in ("conv", "linear", "conv")]
    ours = [(o, "weight") for o, _ in layers]
    theirs = [(t, "weight") for _, t in layers]
    prune.l1_unstructured(layers[2][0], "weight", 0.25)  # one layer already pruned on its own
    tprune.l1_unstructured(layers[2][1], "weight", 0.25)
    for amount in amounts:
        prune.global_unstructured(ours, pruning_method=prune.L1Unstructured, amount=amount)
        tprune.global_unstructured(theirs, pruning_method=tprune.L1Unstructured, amount=amount)
        for o, t in layers:
            np.testing.assert_array_equal(o.weight_mask.numpy(), t.weight_mask.numpy())


def test_iterative_amount_applies_to_the_rest(rng):
    m = nn.Linear(40, 50)
    for step in range(1, 4):
        prune.l1_unstructured(m, "weight", amount=0.5)
        assert m.weight_mask.numpy().sum() == round(2000 * 0.5 ** step)
    assert isinstance(m._forward_pre_hooks[next(reversed(m._forward_pre_hooks))], prune.PruningContainer)
    assert len(m._forward_pre_hooks) == 1  # one hook per pruned tensor, however often pruned


def test_random_methods_count_nest_and_repeat():
    def masks(seed):
        tc.manual_seed(seed)
        m = nn.Conv2d(6, 10, 3)
        prune.random_unstructured(m, "weight", 0.3)
        first = m.weight_mask.numpy().copy()
        prune.random_structured(m, "weight", 4, dim=0)
        return first, m.weight_mask.numpy().copy()
    first, second = masks(3)
    assert first.sum() == first.size - round(0.3 * first.size)
    assert np.all(second <= first)                                  # earlier zeros stay zero
    alive = second.reshape(10, -1).any(1)
    assert alive.sum() == 6                                         # 4 whole filters gone
    assert np.array_equal(second.reshape(10, -1)[alive], first.reshape(10, -1)[alive])
    for a, b in zip(masks(3), masks(3)):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(masks(4)[0], first)


def test_forward_gradient_and_training_respect_the_mask(rng):
    model = lenet5()
    prune.global_unstructured([(model.features[0], "weight"), (model.classifier[0], "weight")],
                              pruning_method=prune.L1Unstructured, amount=0.8)
    assert prune.is_pruned(model) and not prune.is_pruned(lenet5())
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    fc = model.classifier[0]
    for _ in range(2):
        x = tc.tensor(rng.standard_normal((4, 1, 32, 32)).astype(np.float32))
        loss = tc.nn.functional.cross_entropy(model(x), tc.tensor(rng.integers(0, 10, 4)))
        opt.zero_grad()
        loss.backward()
        dead = fc.weight_mask.numpy() == 0
        assert not fc.weight_orig.grad.numpy()[dead].any()
        opt.step()
    model(x)
    np.testing.assert_array_equal(fc.weight.numpy(), fc.weight_orig.numpy() * fc.weight_mask.numpy())
    assert not fc.weight.numpy()[dead].any()


def test_state_dict_and_checkpoint_round_trip(tmp_path, rng):
    src = lenet5()
    params = [(m, "weight") for m in src.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=0.9)
    state = src.state_dict()
    assert "features.0.weight_mask" in state and "features.0.weight" not in state
    tc.save({"model": state}, tmp_path / "pruned.npz")
    dst = lenet5()
    for m in dst.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            prune.identity(m, "weight")
    dst.load_state_dict(tc.load(tmp_path / "pruned.npz")["model"])
    for (k, a), (k2, b) in zip(src.state_dict().items(), dst.state_dict().items()):
        assert k == k2
        np.testing.assert_array_equal(a, b)
    x = tc.tensor(rng.standard_normal((2, 1, 32, 32)).astype(np.float32))
    np.testing.assert_array_equal(src(x).numpy(), dst(x).numpy())
    zeros = sum(int((m.weight.numpy() == 0).sum()) for m, _ in params)
    assert zeros == round(0.9 * sum(m.weight.numel() for m, _ in params))


def test_remove_keeps_the_parameter_object():
    m = nn.Linear(6, 4)
    orig = m.weight
    prune.l1_unstructured(m, "weight", 0.5)
    assert m.weight_orig is orig and "weight" not in m._parameters
    expected = orig.numpy() * m.weight_mask.numpy()
    prune.remove(m, "weight")
    assert m.weight is orig and [n for n, _ in m.named_parameters()] == ["bias", "weight"]  # torch's order
    assert set(m.state_dict()) == {"weight", "bias"} and not prune.is_pruned(m)
    np.testing.assert_array_equal(m.weight.numpy(), expected)
    with pytest.raises(ValueError, match="has to be pruned"):
        prune.remove(m, "weight")


@pytest.mark.parametrize("call, error, match", [
    (lambda m: prune.l1_unstructured(m, "weight", -1), ValueError, "non-negative integer"),
    (lambda m: prune.l1_unstructured(m, "weight", 1.5), ValueError, r"range \[0, 1\]"),
    (lambda m: prune.l1_unstructured(m, "weight", "half"), TypeError, "Must be int or float"),
    (lambda m: prune.l1_unstructured(m, "weight", 25), ValueError, "smaller than the number"),
    (lambda m: prune.ln_structured(m, "bias", 1, 2, 0), ValueError, "multidimensional"),
    (lambda m: prune.ln_structured(m, "weight", 1, 2, 2), IndexError, "Invalid index 2"),
    (lambda m: prune.l1_unstructured(m, "nothing", 0.5), AttributeError, "no parameter 'nothing'"),
    (lambda m: prune.l1_unstructured(m, "weight", 0.5, importance_scores=np.ones(3)), ValueError, "shape"),
    (lambda m: prune.global_unstructured([(m, "weight")], prune.LnStructured, amount=1, n=2),
     TypeError, '"unstructured"'),
    (lambda m: prune.global_unstructured(m, prune.L1Unstructured, amount=1), TypeError, "Iterable"),
])
def test_bad_arguments_raise_and_change_nothing(call, error, match):
    m = nn.Linear(6, 4)  # 24 weights
    before = m.weight
    with pytest.raises(error, match=match):
        call(m)
    assert m.weight is before and not prune.is_pruned(m)


@pytest.mark.torch
@given(st.lists(st.integers(1, 5), min_size=2, max_size=4), st.floats(0, 1), st.integers(0, 2**32 - 1),
       st.sampled_from(["l1", "ln1", "ln2", "lninf"]), st.booleans())
def test_drawn_shapes_and_amounts_equal_torch(shape, fraction, seed, method, as_int):
    """Any shape, any amount (a float, or the int it rounds to), any dim: PyTorch's mask."""
    torch = pytest.importorskip("torch")
    import torch.nn.utils.prune as tprune
    rng = np.random.default_rng(seed)
    w = distinct(tuple(shape), rng)
    dim = int(rng.integers(-len(shape), len(shape)))
    size = w.size if method == "l1" else shape[dim]
    amount = round(fraction * size) if as_int else fraction
    ours, theirs = nn.Linear(1, 1, dtype=np.float64), torch.nn.Linear(1, 1).double()
    ours.weight = nn.Parameter(w.copy())
    theirs.weight = torch.nn.Parameter(torch.from_numpy(w.copy()))
    if method == "l1":
        prune.l1_unstructured(ours, "weight", amount)
        tprune.l1_unstructured(theirs, "weight", amount)
    else:
        n = {"ln1": 1, "ln2": 2, "lninf": math.inf}[method]
        prune.ln_structured(ours, "weight", amount, n, dim)
        tprune.ln_structured(theirs, "weight", amount, n, dim)
    np.testing.assert_array_equal(ours.weight_mask.numpy(), theirs.weight_mask.numpy())
