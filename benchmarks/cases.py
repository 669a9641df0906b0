"""The benchmark cases: AlexNet's and LeNet-5's layers, and whole training steps.

A case knows its FLOPs and can build, for any runner ("numpy", "numba", "cupy", "torch",
"torch-cuda"), a zero-argument callable doing the measured work once.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv import models, optim


@dataclass
class Case:
    name: str
    group: str
    flops: float
    build: object  # build(runner) -> callable
    params: dict = field(default_factory=dict)


def conv_out(n, k, s, p):
    return (n + 2 * p - k) // s + 1


def _array(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _sync(runner):
    if runner == "cupy":
        import cupy
        return cupy.cuda.get_current_stream().synchronize
    if runner == "torch-cuda":
        import torch
        return torch.cuda.synchronize
    return lambda: None


def _tc_tensor(a, runner, grad=False):
    t = tc.tensor(a, requires_grad=grad)
    if runner == "cupy":
        t = t.to("cuda").requires_grad_(grad)
    return t


def _torch_tensor(a, runner, grad=False):
    import torch
    t = torch.from_numpy(a)
    if runner == "torch-cuda":
        t = t.cuda()
    return t.requires_grad_(grad)


def _run_tc(runner, fn):
    """Run fn under the runner's backend (cupy arrays pick the CUDA kernels themselves)."""
    name = "numba" if runner == "cupy" else runner
    sync = _sync(runner)

    def call():
        with tc.use_backend(name):
            fn()
        sync()
    return call


def layer_case(name, x_shape, make_tc, make_torch, flops, grad_input=True, backward=True):
    """A layer measured as forward (+ backward with a fixed random upstream gradient)."""
    def build(runner):
        x = _array(x_shape, 1)
        if runner.startswith("torch"):
            xt = _torch_tensor(x, runner, grad=grad_input and backward)
            op = make_torch(runner)
            gy = None
            sync = _sync(runner)

            def call():
                nonlocal gy
                y = op(xt)
                if backward:
                    if gy is None:
                        gy = _torch_tensor(_array(tuple(y.shape), 2), runner)
                    y.backward(gy)
                sync()
            return call
        xt = _tc_tensor(x, runner, grad=grad_input and backward)
        op = make_tc(runner)
        state = {}

        def fn():
            y = op(xt)
            if backward:
                if "gy" not in state:
                    state["gy"] = _tc_tensor(_array(y.shape, 2), runner).data
                y.backward(state["gy"])
        return _run_tc(runner, fn)
    return Case(name, "layer", flops, build)


def conv_cases(prefix, n, c, hw, o, k, s, p, g, first=False):
    """Forward and forward+backward cases of one conv layer (first: no input gradient)."""
    oh = conv_out(hw, k, s, p)
    macs = n * o * oh * oh * (c // g) * k * k
    w = _array((o, c // g, k, k), 3) * 0.01
    b = _array((o,), 4) * 0.01

    def make_tc(runner, backward):
        wt, bt = _tc_tensor(w, runner, backward), _tc_tensor(b, runner, backward)
        return lambda x: F.conv2d(x, wt, bt, stride=s, padding=p, groups=g)

    def make_torch(runner, backward):
        import torch
        wt, bt = _torch_tensor(w, runner, backward), _torch_tensor(b, runner, backward)
        return lambda x: torch.nn.functional.conv2d(x, wt, bt, stride=s, padding=p, groups=g)

    shape = (n, c, hw, hw)
    fwd = layer_case(f"{prefix} fwd", shape, lambda r: make_tc(r, False),
                     lambda r: make_torch(r, False), 2 * macs, backward=False)
    both = layer_case(f"{prefix} fwd+bwd", shape, lambda r: make_tc(r, True),
                      lambda r: make_torch(r, True), (2 + (2 if first else 4)) * macs,
                      grad_input=not first)
    return [fwd, both]


def layer_cases(quick=False):
    n = 4 if quick else 16
    cases = []
    alex = [("conv1", 3, 227, 96, 11, 4, 0, 1), ("conv2", 96, 27, 256, 5, 1, 2, 2),
            ("conv3", 256, 13, 384, 3, 1, 1, 1), ("conv4", 384, 13, 384, 3, 1, 1, 2),
            ("conv5", 384, 13, 256, 3, 1, 1, 2)]
    for name, c, hw, o, k, s, p, g in alex:
        cases += conv_cases(f"alexnet {name} b{n}", n, c, hw, o, k, s, p, g, first=name == "conv1")
    nl = 16 if quick else 64
    cases += conv_cases(f"lenet conv1 b{nl}", nl, 1, 32, 6, 5, 1, 0, 1, first=True)
    cases += conv_cases(f"lenet conv2 b{nl}", nl, 6, 14, 16, 5, 1, 0, 1)

    shape = (n, 96, 55, 55)
    elems = float(np.prod(shape))

    def torch_lrn(runner):
        import torch
        return lambda x: torch.nn.functional.local_response_norm(x, 5, alpha=5e-4, beta=0.75, k=2.0)

    def torch_pool(runner):
        import torch
        return lambda x: torch.nn.functional.max_pool2d(x, 3, 2)

    cases.append(layer_case(f"alexnet lrn1 b{n} fwd+bwd", shape,
                            lambda r: lambda x: F.local_response_norm(x, 5, 1e-4, 0.75, 2.0, convention="paper"),
                            torch_lrn, 20 * elems))
    cases.append(layer_case(f"alexnet maxpool1 b{n} fwd+bwd", shape,
                            lambda r: lambda x: F.max_pool2d(x, 3, 2), torch_pool, 10 * elems))
    return cases


# --- whole training steps ------------------------------------------------------------------------
def _torch_lenet():
    import torch.nn as nn
    return nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(),
                         nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def _torch_alexnet(num_classes):
    import torch.nn as nn
    lrn = lambda: nn.LocalResponseNorm(5, alpha=5 * 1e-4, beta=0.75, k=2.0)  # noqa: E731
    return nn.Sequential(
        nn.Conv2d(3, 96, 11, 4), nn.ReLU(), lrn(), nn.MaxPool2d(3, 2),
        nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(), lrn(), nn.MaxPool2d(3, 2),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(), nn.MaxPool2d(3, 2), nn.Flatten(),
        nn.Dropout(0.5), nn.Linear(9216, 4096), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4096, 4096),
        nn.ReLU(), nn.Linear(4096, num_classes))


def step_case(name, make_tc_model, make_torch_model, x_shape, num_classes, flops):
    def build(runner):
        x = _array(x_shape, 5)
        y = np.random.default_rng(6).integers(0, num_classes, x_shape[0])
        if runner.startswith("torch"):
            import torch
            model = make_torch_model()
            if runner == "torch-cuda":
                model = model.cuda()
            opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
            xt, yt = _torch_tensor(x, runner), torch.from_numpy(y).to(next(model.parameters()).device)
            sync = _sync(runner)

            def call():
                loss = torch.nn.functional.cross_entropy(model(xt), yt)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sync()
            return call
        tc.manual_seed(0)
        model = make_tc_model()
        if runner == "cupy":
            model.to("cuda")
        opt = optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        xt, yt = _tc_tensor(x, runner), _tc_tensor(y, runner)

        def fn():
            loss = F.cross_entropy(model(xt), yt)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return _run_tc(runner, fn)
    return Case(name, "model", flops, build)


def _model_flops(model, input_shape, batch):
    """3 x forward MACs x 2 (forward, grad-input, grad-weight), the usual training estimate."""
    from tinyconv.summary import summarize
    return 6.0 * summarize(model, input_shape)["total_macs"] * batch


def model_cases(quick=False):
    cases = []
    lenet_flops = _model_flops(models.lenet5(), (1, 32, 32), 1)
    for b in ((64,) if quick else (64, 256)):
        cases.append(step_case(f"lenet5 train step b{b}", models.lenet5, _torch_lenet, (b, 1, 32, 32),
                               10, lenet_flops * b))
    b = 4 if quick else 16
    alex_flops = _model_flops(models.alexnet(), (3, 227, 227), 1)
    cases.append(step_case(f"alexnet(original) train step b{b}", lambda: models.alexnet(num_classes=1000),
                           lambda: _torch_alexnet(1000), (b, 3, 227, 227), 1000, alex_flops * b))
    return cases
