"""nn.utils.freeze / unfreeze and optimizers leaving frozen parameters alone."""
import numpy as np
import pytest

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv import nn, optim
from tinyconv.models import lenet5


def step(model, opt, rng):
    x = tc.tensor(rng.standard_normal((4, 1, 32, 32)).astype(np.float32))
    loss = F.cross_entropy(model(x), tc.tensor(rng.integers(0, 10, 4)))
    opt.zero_grad()
    loss.backward()
    opt.step()


@pytest.mark.parametrize("make_opt", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-3),
    lambda ps: optim.Adam(ps, lr=1e-2, weight_decay=1e-3)])
def test_frozen_blocks_do_not_move(make_opt, rng):
    model = lenet5()
    nn.utils.freeze(model.features, up_to=3)          # conv1, its ReLU and pool
    frozen = {n: p.numpy().copy() for n, p in model.named_parameters() if n.startswith("features.0")}
    trained = {n: p.numpy().copy() for n, p in model.named_parameters() if not n.startswith("features.0")}
    assert all(not p.requires_grad for n, p in model.named_parameters() if n in frozen)
    opt = make_opt(model.parameters())  # all parameters handed to the optimizer, as usual
    for _ in range(2):
        step(model, opt, rng)
    params = dict(model.named_parameters())
    for n, v in frozen.items():
        np.testing.assert_array_equal(params[n].numpy(), v)
        assert params[n].grad is None
    assert all(not np.array_equal(params[n].numpy(), v) for n, v in trained.items())


def test_frozen_after_a_gradient_exists(rng):
    # a parameter frozen while it still holds a zeroed gradient: weight decay must not move it
    model = lenet5()
    opt = optim.SGD(model.parameters(), lr=0.1, weight_decay=0.1)
    step(model, opt, rng)
    opt.zero_grad(set_to_none=False)
    model.classifier[4].weight.requires_grad_(False)
    before = model.classifier[4].weight.numpy().copy()
    opt.step()
    np.testing.assert_array_equal(model.classifier[4].weight.numpy(), before)


def test_selection_and_unfreeze():
    model = lenet5()
    nn.utils.freeze(model.classifier, up_to="2")      # fc1, its ReLU, fc2
    names = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert names == ["classifier.0.weight", "classifier.0.bias", "classifier.2.weight", "classifier.2.bias"]
    nn.utils.unfreeze(model)
    assert all(p.requires_grad for p in model.parameters())
    nn.utils.freeze(model)
    assert not any(p.requires_grad for p in model.parameters())
    assert nn.utils.freeze(model.features, up_to=0) is model.features
    with pytest.raises(ValueError, match="no child 'nine'"):
        nn.utils.freeze(model.features, up_to="nine")
    with pytest.raises(ValueError, match=r"in \[0, 6\]"):
        nn.utils.freeze(model.features, up_to=7)
    with pytest.raises(TypeError, match="Module"):
        nn.utils.freeze([1, 2])
