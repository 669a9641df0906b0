"""The training loop: the logged learning rate is the epoch's own, ReduceLROnPlateau steps on
the test loss, a non-finite loss stops training with a clear error, batches go to the model's
device."""
import numpy as np
import pytest

import tinyconv as tc
from tinyconv import data, nn, optim
from tinyconv.train import evaluate, fit


def _problem(seed=0, n=64, nan=False):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    if nan:
        x[5, 2] = np.nan
    ds = data.TensorDataset(x, y)
    return data.DataLoader(ds, batch_size=16), data.DataLoader(ds, batch_size=32)


def _model():
    tc.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))


def test_logged_lr_is_the_rate_each_epoch_trained_with():
    train, test = _problem()
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.4)
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    history = fit(model, opt, train, test, 3, scheduler=sched, log=lambda *a: None)
    assert [h["lr"] for h in history] == [0.4, 0.2, 0.1]
    assert history[-1]["test_accuracy"] > 0.8


def test_reduce_lr_on_plateau_steps_on_the_test_loss():
    train, test = _problem()
    model = _model()
    opt = optim.SGD(model.parameters(), lr=1e-6)  # too small to improve the loss by 1e-4
    sched = optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    history = fit(model, opt, train, test, 3, scheduler=sched, log=lambda *a: None)
    assert [h["lr"] for h in history] == [1e-6, 1e-6, 5e-7]
    assert opt.param_groups[0]["lr"] == 2.5e-7


def test_non_finite_loss_stops_with_a_clear_error():
    train, test = _problem(nan=True)
    model = _model()
    before = [p.numpy().copy() for p in model.parameters()]
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(RuntimeError, match="training loss became nan in epoch 1"):
        fit(model, opt, train, test, 2, log=lambda *a: None)
    # the batch with NaN is the first one: no update was applied from it
    for b, p in zip(before, model.parameters()):
        np.testing.assert_array_equal(b, p.numpy())


def test_batches_follow_the_model_device():
    train, test = _problem()
    model = _model()
    moved = []
    real_to = tc.Tensor.to

    def spy(self, *args, **kwargs):
        moved.append(args)
        return real_to(self, *args, **kwargs)
    tc.Tensor.to = spy
    try:
        fit(model, optim.SGD(model.parameters(), lr=0.1), train, test, 1, log=lambda *a: None)
        assert moved == []  # already on the model's device: nothing copied
        if not tc.cuda.is_available():
            with pytest.raises(RuntimeError, match="CUDA device"):
                evaluate(model, test, device="cuda")
            assert moved and moved[0] == ("cuda",)
    finally:
        tc.Tensor.to = real_to
