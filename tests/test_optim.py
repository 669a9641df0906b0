"""Optimizers, schedulers and gradient clipping: PyTorch's exact updates and sequences,
parameter groups, state_dict round trips, validation."""
import math

import numpy as np
import pytest

import tinyconv as tc
from tinyconv import nn, optim
from tinyconv.optim import lr_scheduler


def _params(seed, dtype=np.float32, shapes=((3, 4), (5,), (2, 1, 3, 3))):
    rng = np.random.default_rng(seed)
    return [nn.Parameter(rng.standard_normal(s).astype(dtype)) for s in shapes]


def _grads(seed, params, step):
    rng = np.random.default_rng(seed * 1000 + step)
    return [rng.standard_normal(p.shape).astype(p.dtype) for p in params]


def _set_grads(params, grads):
    for p, g in zip(params, grads):
        p.grad = tc.tensor(g.copy())


def _run_ours(cls, kwargs, seed, steps, dtype=np.float32):
    params = _params(seed, dtype)
    opt = cls(params, **kwargs)
    for step in range(steps):
        _set_grads(params, _grads(seed, params, step))
        opt.step()
    return params, opt


# --- exact updates --------------------------------------------------------------------------------
def test_sgd_momentum_first_step_buffer_is_the_gradient():
    (p,) = _params(0, np.float64, shapes=((4,),))
    start = p.numpy().copy()
    opt = optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.01)
    g = np.array([1.0, -2.0, 0.5, 0.0])
    p.grad = tc.tensor(g)
    opt.step()
    d = g + 0.01 * start  # first step: buffer = d, dampening not applied yet
    np.testing.assert_allclose(p.numpy(), start - 0.1 * d, rtol=1e-15)
    np.testing.assert_allclose(opt.state[id(p)]["momentum_buffer"], d, rtol=1e-15)
    second = p.numpy().copy()
    opt.step()
    d2 = g + 0.01 * second
    buf = 0.9 * d + 0.5 * d2
    np.testing.assert_allclose(p.numpy(), second - 0.1 * buf, rtol=1e-14)


def test_adam_first_step_moves_each_weight_by_lr():
    # bias correction makes the first step lr * g / (|g| + eps'): lr * sign(g) up to eps
    (p,) = _params(1, np.float64, shapes=((6,),))
    start = p.numpy().copy()
    g = np.array([3.0, -0.2, 1e-3, -50.0, 0.7, 2.0])
    p.grad = tc.tensor(g)
    optim.Adam([p], lr=0.01).step()
    np.testing.assert_allclose(p.numpy(), start - 0.01 * g / (np.abs(g) + 1e-8), rtol=1e-12)


OPTIMIZER_CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=5e-4)),
    ("Adam", dict(lr=1e-2)),
    ("Adam", dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=1e-2, amsgrad=True)),
    ("AdamW", dict(lr=1e-2)),
    ("AdamW", dict(lr=1e-2, weight_decay=0.3, amsgrad=True)),
]


@pytest.mark.parametrize("name, kwargs", OPTIMIZER_CASES)
def test_optimizers_match_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    steps, seed = 4, 3
    ours, _ = _run_ours(getattr(optim, name), kwargs, seed, steps)
    theirs = [torch.tensor(p.numpy(), requires_grad=True) for p in _params(seed)]
    opt = getattr(torch.optim, name)(theirs, **kwargs)
    for step in range(steps):
        for t, g in zip(theirs, _grads(seed, ours, step)):
            t.grad = torch.from_numpy(g.copy())
        opt.step()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name, kwargs", OPTIMIZER_CASES[2:3] + OPTIMIZER_CASES[6:7])
def test_float64_updates_match_torch_to_rounding(name, kwargs):
    torch = pytest.importorskip("torch")
    ours, _ = _run_ours(getattr(optim, name), kwargs, 4, 3, np.float64)
    theirs = [torch.tensor(p.numpy(), requires_grad=True) for p in _params(4, np.float64)]
    opt = getattr(torch.optim, name)(theirs, **kwargs)
    for step in range(3):
        for t, g in zip(theirs, _grads(4, ours, step)):
            t.grad = torch.from_numpy(g.copy())
        opt.step()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-13, atol=1e-15)


def test_parameters_without_grad_are_skipped_and_arrays_kept():
    params = _params(5)
    arrays = [p.data for p in params]
    before = params[1].numpy().copy()
    opt = optim.Adam(params, lr=0.1)
    params[0].grad = tc.tensor(np.ones((3, 4), np.float32))
    opt.step()
    np.testing.assert_array_equal(params[1].numpy(), before)
    assert id(params[1]) not in opt.state
    assert all(p.data is a for p, a in zip(params, arrays))  # updated in place
    assert opt.state[id(params[0])]["step"] == 1


def test_param_groups_have_their_own_options():
    a, b = _params(6)[:2]
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5, "momentum": 0.9}], lr=0.1)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[0]["momentum"] == 0.0
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["momentum"] == 0.9
    a0, b0 = a.numpy().copy(), b.numpy().copy()
    a.grad = tc.tensor(np.ones(a.shape, np.float32))
    b.grad = tc.tensor(np.ones(b.shape, np.float32))
    opt.step()
    np.testing.assert_allclose(a.numpy(), a0 - 0.1, rtol=1e-6)
    np.testing.assert_allclose(b.numpy(), b0 - 0.5, rtol=1e-6)
    c = _params(7)[2]
    opt.add_param_group({"params": c, "lr": 0.2})
    assert opt.param_groups[2]["params"] == [c] and opt.param_groups[2]["nesterov"] is False
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="unknown option"):
        opt.add_param_group({"params": _params(8)[:1], "betas": (0.9, 0.9)})


def test_zero_grad():
    params = _params(9)
    opt = optim.SGD(params, lr=0.1)
    _set_grads(params, _grads(9, params, 0))
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in params)
    opt.zero_grad()
    assert all(p.grad is None for p in params)


@pytest.mark.parametrize("make, pattern", [
    (lambda p: optim.SGD(p, lr=-0.1), "invalid learning rate: -0.1"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=-0.5), "invalid momentum value"),
    (lambda p: optim.SGD(p, lr=0.1, weight_decay=-1), "invalid weight_decay value"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "zero dampening"),
    (lambda p: optim.SGD(p, lr=float("nan")), "invalid learning rate"),
    (lambda p: optim.Adam(p, lr=-1e-3), "invalid learning rate"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), "invalid beta parameter at index 0"),
    (lambda p: optim.Adam(p, betas=(0.9, -0.1)), "invalid beta parameter at index 1"),
    (lambda p: optim.Adam(p, betas=(0.9,)), "betas must be a pair"),
    (lambda p: optim.Adam(p, eps=-1e-8), "invalid epsilon value"),
    (lambda p: optim.AdamW(p, weight_decay=-0.01), "invalid weight_decay value"),
    (lambda p: optim.SGD([], lr=0.1), "empty parameter list"),
    (lambda p: optim.SGD(p + p, lr=0.1), "same parameter more than once"),
])
def test_hyperparameter_validation(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make(_params(10))


def test_params_type_validation():
    p = _params(11)
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(p[0], lr=0.1)
    with pytest.raises(TypeError, match="only optimize Tensors"):
        optim.SGD([np.zeros(3)], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p[0] * 2.0], lr=0.1)


def test_generator_of_model_parameters_is_accepted():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = optim.SGD(model.parameters(), lr=0.1)
    assert len(opt.param_groups[0]["params"]) == 4


# --- state_dict -------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls, kwargs", [(optim.SGD, dict(lr=0.1, momentum=0.9)),
                                         (optim.Adam, dict(lr=0.01, amsgrad=True))])
def test_state_dict_round_trip_resumes_identically(cls, kwargs, tmp_path):
    params, opt = _run_ours(cls, kwargs, 12, 2)
    sd = opt.state_dict()
    assert sorted(sd["state"]) == [0, 1, 2] and sd["param_groups"][0]["params"] == [0, 1, 2]
    tc.save(sd, tmp_path / "opt.npz")
    # a fresh optimizer on copies of the parameters, restored from the file
    copies = [nn.Parameter(p.numpy().copy()) for p in params]
    fresh = cls(copies, lr=123.0)
    fresh.load_state_dict(tc.load(tmp_path / "opt.npz"))
    assert fresh.param_groups[0]["lr"] == kwargs["lr"]
    for step in (2, 3):
        grads = _grads(12, params, step)
        _set_grads(params, grads)
        _set_grads(copies, grads)
        opt.step()
        fresh.step()
    for a, b in zip(params, copies):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_state_dict_is_a_copy_and_load_validates():
    params, opt = _run_ours(optim.SGD, dict(lr=0.1, momentum=0.9), 13, 1)
    sd = opt.state_dict()
    sd["state"][0]["momentum_buffer"][...] = 99.0
    assert not np.any(opt.state[id(params[0])]["momentum_buffer"] == 99.0)
    other = optim.SGD(_params(13)[:2], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="parameter group 0 has 3 parameters"):
        other.load_state_dict(sd)
    bad = opt.state_dict()
    bad["state"][0]["momentum_buffer"] = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"shape \(4, 3\), the parameter \(3, 4\)"):
        opt.load_state_dict(bad)


def test_load_torch_optimizer_state():
    torch = pytest.importorskip("torch")
    seed = 14
    theirs = [torch.tensor(p.numpy(), requires_grad=True) for p in _params(seed)]
    topt = torch.optim.Adam(theirs, lr=0.02, betas=(0.8, 0.9))
    for step in range(2):
        for t, g in zip(theirs, _grads(seed, _params(seed), step)):
            t.grad = torch.from_numpy(g)
        topt.step()
    ours = [nn.Parameter(t.detach().numpy().copy()) for t in theirs]
    opt = optim.Adam(ours)
    opt.load_state_dict(tc.from_torch(topt.state_dict()))
    assert opt.param_groups[0]["betas"] == (0.8, 0.9) and "foreach" not in opt.param_groups[0]
    assert opt.state[id(ours[0])]["step"] == 2
    grads = _grads(seed, ours, 2)
    for t, g in zip(theirs, grads):
        t.grad = torch.from_numpy(g.copy())
    topt.step()
    _set_grads(ours, grads)
    opt.step()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-6, atol=1e-7)


# --- schedulers -------------------------------------------------------------------------------------
def _lr_sequence(make_sched, epochs, lib):
    if lib == "torch":
        import torch
        p = torch.zeros(2, requires_grad=True)
        opt = torch.optim.SGD([p], lr=0.5)
    else:
        opt = optim.SGD(_params(0)[:1], lr=0.5)
    sched = make_sched(opt, lib)
    seq = [sched.get_last_lr()[0]]
    for _ in range(epochs):
        opt.step()
        sched.step()
        seq.append(sched.get_last_lr()[0])
    return seq


@pytest.mark.parametrize("make", [
    lambda opt, lib: _sched_module(lib).StepLR(opt, step_size=3, gamma=0.5),
    lambda opt, lib: _sched_module(lib).StepLR(opt, step_size=1),
    lambda opt, lib: _sched_module(lib).MultiStepLR(opt, milestones=[2, 5, 5, 9], gamma=0.3),
])
def test_epoch_schedulers_match_torch(make):
    pytest.importorskip("torch")
    np.testing.assert_allclose(_lr_sequence(make, 12, "ours"), _lr_sequence(make, 12, "torch"), rtol=1e-15)


def _sched_module(lib):
    if lib == "torch":
        import torch
        return torch.optim.lr_scheduler
    return lr_scheduler


def test_steplr_values_without_torch():
    seq = _lr_sequence(lambda opt, lib: lr_scheduler.StepLR(opt, step_size=2, gamma=0.1), 5, "ours")
    np.testing.assert_allclose(seq, [0.5, 0.5, 0.05, 0.05, 0.005, 0.005], rtol=1e-12)
    seq = _lr_sequence(lambda opt, lib: lr_scheduler.MultiStepLR(opt, [1, 3]), 4, "ours")
    np.testing.assert_allclose(seq, [0.5, 0.05, 0.05, 0.005, 0.005], rtol=1e-12)


PLATEAU_METRICS = [5.0, 4.0, 4.0, 3.9999, 4.1, 4.2, 3.0, 3.0, 3.0, 3.0, 3.5, 2.9, 2.95, 3.0, 3.0,
                   3.0, 3.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("kwargs", [
    dict(patience=2),
    dict(mode="max", patience=1, factor=0.5, cooldown=2),
    dict(patience=0, threshold=0.1, threshold_mode="abs", min_lr=0.01),
    dict(patience=1, factor=0.5, threshold=0.05, cooldown=1, min_lr=0.2, eps=1e-3),
])
def test_plateau_matches_torch(kwargs):
    torch = pytest.importorskip("torch")
    p = torch.zeros(2, requires_grad=True)
    topt = torch.optim.SGD([p], lr=0.5)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    opt = optim.SGD(_params(0)[:1], lr=0.5)
    sched = lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    ours, theirs = [], []
    for m in PLATEAU_METRICS:
        sched.step(m)
        tsched.step(m)
        ours.append(sched.get_last_lr()[0])
        theirs.append(tsched.get_last_lr()[0])
    assert ours == pytest.approx(theirs, rel=1e-15)
    assert len(set(ours)) > 1  # the sequence actually changed


def test_plateau_divides_by_ten_like_alexnet():
    opt = optim.SGD(_params(0)[:1], lr=0.01)
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=2)
    for err in [0.5, 0.4, 0.4, 0.4]:
        sched.step(err)
    assert opt.param_groups[0]["lr"] == 0.01
    sched.step(0.4)  # third epoch without improvement: more than `patience`
    assert opt.param_groups[0]["lr"] == pytest.approx(0.001)
    assert sched.num_bad_epochs == 0


def test_scheduler_state_dict_and_validation():
    opt = optim.SGD(_params(0)[:1], lr=1.0)
    sched = lr_scheduler.StepLR(opt, step_size=2)
    for _ in range(3):
        sched.step()
    sd = sched.state_dict()
    assert sd["last_epoch"] == 3 and sd["base_lrs"] == [1.0] and "optimizer" not in sd
    opt2 = optim.SGD(_params(0)[:1], lr=opt.param_groups[0]["lr"])
    opt2.param_groups[0]["initial_lr"] = 1.0
    resumed = lr_scheduler.StepLR(opt2, step_size=2, last_epoch=2)
    resumed.load_state_dict(sd)
    sched.step()
    resumed.step()
    assert resumed.get_last_lr() == sched.get_last_lr() == [pytest.approx(0.01)]
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(optim.SGD(_params(0)[:1], lr=1.0), 2, last_epoch=4)
    with pytest.raises(ValueError, match="step_size must be an int >= 1"):
        lr_scheduler.StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="milestone"):
        lr_scheduler.MultiStepLR(opt, milestones=[2, -1])
    with pytest.raises(ValueError, match="factor"):
        lr_scheduler.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode must be"):
        lr_scheduler.ReduceLROnPlateau(opt, mode="lowest")
    with pytest.raises(ValueError, match="threshold_mode"):
        lr_scheduler.ReduceLROnPlateau(opt, threshold_mode="pct")
    with pytest.raises(ValueError, match="expected 1 min_lr"):
        lr_scheduler.ReduceLROnPlateau(opt, min_lr=[0.1, 0.2])
    with pytest.raises(TypeError, match="Optimizer"):
        lr_scheduler.StepLR(object(), 2)


# --- gradient clipping ------------------------------------------------------------------------------
@pytest.mark.parametrize("max_norm, norm_type", [(1.0, 2.0), (100.0, 2.0), (0.5, 1.0), (0.3, math.inf), (2.0, 3.0)])
def test_clip_grad_norm_matches_torch(max_norm, norm_type):
    torch = pytest.importorskip("torch")
    params = _params(15)
    grads = _grads(15, params, 0)
    _set_grads(params, grads)
    total = optim.clip_grad_norm_(params, max_norm, norm_type)
    theirs = [torch.zeros(p.shape, requires_grad=True) for p in params]
    for t, g in zip(theirs, grads):
        t.grad = torch.from_numpy(g.copy())
    ttotal = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert total.item() == pytest.approx(ttotal.item(), rel=1e-6)
    for p, t in zip(params, theirs):
        np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_clip_grad_norm_values():
    a, b = nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros(1))
    a.grad, b.grad = tc.tensor(np.array([3.0, 0.0])), tc.tensor(np.array([4.0]))
    total = nn.utils.clip_grad_norm_([a, b], max_norm=1.0)
    assert total.item() == pytest.approx(5.0)
    np.testing.assert_allclose(np.concatenate([a.grad.numpy(), b.grad.numpy()]),
                               np.array([3.0, 0.0, 4.0]) / (5.0 + 1e-6), rtol=1e-12)
    assert nn.utils.clip_grad_norm_([a], max_norm=10.0).item() == pytest.approx(0.6, rel=1e-5)
    np.testing.assert_allclose(a.grad.numpy(), [3.0 / (5 + 1e-6), 0.0], rtol=1e-12)  # unchanged below max
    assert nn.utils.clip_grad_norm_([nn.Parameter(np.zeros(1))], 1.0).item() == 0.0  # no grads
    a.grad = tc.tensor(np.array([np.inf, 1.0]))
    with pytest.raises(RuntimeError, match="total norm"):
        nn.utils.clip_grad_norm_(a, 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="max_norm must be non-negative"):
        nn.utils.clip_grad_norm_(a, -1.0)
    assert optim.clip_grad_norm_ is nn.utils.clip_grad_norm_
