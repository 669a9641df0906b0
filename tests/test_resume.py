"""Resuming: a run stopped after 3 of 6 epochs and resumed ends with the same weights, bit for
bit, as 6 epochs straight (model, optimizer, scheduler, data order and RNG all restored)."""
import numpy as np
import pytest

import tinyconv as tc
from tinyconv import data, nn, optim, resume
from tinyconv.train import fit


class _Stop(Exception):
    pass


def _run(tmp_path, stop_after=None, resume_from=None):
    tc.manual_seed(11)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((48, 6)).astype(np.float32)
    y = (x[:, 0] - x[:, 1] > 0).astype(np.int64)
    train = data.DataLoader(data.TensorDataset(x, y), batch_size=8, shuffle=True, seed=5)
    test = data.DataLoader(data.TensorDataset(x, y), batch_size=48)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))
    opt = optim.SGD(model.parameters(), lr=0.2, momentum=0.9, weight_decay=1e-3)
    sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    start, done = 1, []
    if resume_from is not None:
        tc.manual_seed(999)  # a fresh process: the state must come from the checkpoint
        start, done = resume.restore(resume.load_training_state(resume_from), model, opt, sched, train)

    def checkpoint(epoch, history):
        tc.save(resume.training_state(model, opt, sched, train, epoch, done + history, arch="mlp"),
                tmp_path / "checkpoint.npz")
        if epoch == stop_after:
            raise _Stop
    try:
        history = done + fit(model, opt, train, test, 6, scheduler=sched, log=lambda *a: None,
                             start_epoch=start, on_epoch_end=checkpoint)
    except _Stop:
        return None, None
    return [p.numpy().copy() for p in model.parameters()], history


def test_resume_after_3_of_6_epochs_is_bitwise_identical(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    straight, history = _run(tmp_path / "a")
    assert _run(tmp_path / "b", stop_after=3) == (None, None)
    assert tc.load(tmp_path / "b" / "checkpoint.npz")["epoch"] == 3
    resumed, history2 = _run(tmp_path / "b", resume_from=tmp_path / "b" / "checkpoint.npz")
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a, b)
    assert [h["epoch"] for h in history2] == [1, 2, 3, 4, 5, 6]
    assert [h["lr"] for h in history2] == [h["lr"] for h in history]


def test_rng_state_round_trip_and_errors(tmp_path):
    tc.manual_seed(4)
    tc.rand(3)
    state = tc.random.get_rng_state()
    a = tc.rand(5).numpy()
    tc.manual_seed(0)
    tc.random.set_rng_state(tc.load(_saved(tmp_path, state)))
    np.testing.assert_array_equal(tc.rand(5).numpy(), a)
    with pytest.raises(ValueError, match="get_rng_state"):
        tc.random.set_rng_state({"seed": 1})
    with pytest.raises(ValueError, match="cannot resume"):
        resume.load_training_state(_saved(tmp_path, {"model": {}}))


def _saved(tmp_path, obj):
    tc.save(obj, tmp_path / "s.npz")
    return tmp_path / "s.npz"


def test_cli_resume_continues_a_stopped_run(tmp_path, monkeypatch, capsys):
    from tinyconv import cli, train
    real = data.MNIST

    def tiny(*args, **kwargs):  # the real 5k subset, cut to 64 images: seconds, not minutes
        ds = real(*args, **kwargs)
        ds.arrays = ds.data, ds.targets = ds.data[:64], ds.targets[:64]
        return ds
    monkeypatch.setattr(data, "MNIST", tiny)
    common = ["train", "lenet5", "--epochs", "3", "--no-progress", "--backend", "numpy"]
    assert cli.main(common + ["--out", str(tmp_path / "straight")]) == 0
    real_fit = train.fit

    def killed_after_2(*args, on_epoch_end=None, **kwargs):  # as if the process died after epoch 2
        def hook(epoch, history):
            on_epoch_end(epoch, history)
            if epoch == 2:
                raise KeyboardInterrupt
        return real_fit(*args, on_epoch_end=hook, **kwargs)
    monkeypatch.setattr(train, "fit", killed_after_2)
    with pytest.raises(KeyboardInterrupt):
        cli.main(common + ["--out", str(tmp_path / "part")])
    assert tc.load(tmp_path / "part" / "checkpoint.npz")["epoch"] == 2
    monkeypatch.setattr(train, "fit", real_fit)
    assert cli.main(common + ["--out", str(tmp_path / "part"), "--resume", str(tmp_path / "part")]) == 0
    a = tc.load(tmp_path / "straight" / "checkpoint.npz")
    b = tc.load(tmp_path / "part" / "checkpoint.npz")
    assert a["epoch"] == b["epoch"] == 3 and [h["epoch"] for h in b["history"]] == [1, 2, 3]
    for key in a["model"]:
        np.testing.assert_array_equal(a["model"][key], b["model"][key])
    capsys.readouterr()
    assert cli.main(common + ["--resume", str(tmp_path / "part")]) == 2
    assert "already holds 3 epochs" in capsys.readouterr().err
    assert cli.main(common + ["--resume", str(tmp_path / "part"), "--pool", "avg", "--epochs", "4"]) == 2
    assert "this run asks for" in capsys.readouterr().err
