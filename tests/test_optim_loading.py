"""Optimizer and scheduler load_state_dict validate what they load and change nothing on error;
a checkpoint round trip restores them exactly."""
import numpy as np
import pytest

import tinyconv as tc
from tinyconv import nn, optim


def _setup():
    p = nn.Parameter(np.ones(3, dtype=np.float32))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = tc.tensor(np.ones(3, dtype=np.float32))
    opt.step()
    return p, opt


def test_optimizer_load_rejects_bad_hyper_parameters_and_buffers():
    p, opt = _setup()
    good = opt.state_dict()
    for bad, match in (({**good, "param_groups": [{**good["param_groups"][0], "lr": -1.0}]}, "learning rate"),
                       ({**good, "param_groups": [{**good["param_groups"][0], "momentum": "x"}]}, "momentum"),
                       ({**good, "state": {0: {"momentum_buffer": np.array(["a", "b", "c"])}}}, "not numeric"),
                       ({**good, "state": {0: {"momentum_buffer": np.ones(4)}}}, "shape"),
                       ({"state": [], "param_groups": []}, "needs 'state'")):
        with pytest.raises(ValueError, match=match):
            opt.load_state_dict(bad)
        assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[0]["momentum"] == 0.9
        np.testing.assert_array_equal(opt.state[id(p)]["momentum_buffer"], np.ones(3))


@pytest.mark.parametrize("make", [
    lambda o: optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5),
    lambda o: optim.lr_scheduler.MultiStepLR(o, milestones=[1, 3], gamma=0.1),
    lambda o: optim.lr_scheduler.ReduceLROnPlateau(o, patience=0, factor=0.5),
])
def test_scheduler_checkpoint_round_trip_and_validation(make, tmp_path):
    _, opt = _setup()
    sched = make(opt)
    for loss in (1.0, 2.0, 3.0):
        sched.step(loss) if isinstance(sched, optim.lr_scheduler.ReduceLROnPlateau) else sched.step()
    tc.save({"s": sched.state_dict(), "o": opt.state_dict()}, tmp_path / "c.npz")
    _, opt2 = _setup()
    fresh = make(opt2)
    loaded = tc.load(tmp_path / "c.npz")
    fresh.load_state_dict(loaded["s"])
    opt2.load_state_dict(loaded["o"])
    assert fresh.get_last_lr() == sched.get_last_lr() and fresh.last_epoch == sched.last_epoch
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    state = sched.state_dict()
    with pytest.raises(ValueError, match="unexpected keys \\['optimizer'\\]"):
        fresh.load_state_dict({**state, "optimizer": None})
    with pytest.raises(ValueError, match="missing keys"):
        fresh.load_state_dict({k: v for k, v in state.items() if k != "last_epoch"})
    with pytest.raises(ValueError, match="last_epoch: expected a number"):
        fresh.load_state_dict({**state, "last_epoch": "3"})
    with pytest.raises(ValueError, match="_last_lr: expected a list of 1"):
        fresh.load_state_dict({**state, "_last_lr": [0.1, 0.2]})
    with pytest.raises(TypeError, match="expected a dict"):
        fresh.load_state_dict([1, 2])
    assert fresh.optimizer is opt2 and fresh.last_epoch == sched.last_epoch
