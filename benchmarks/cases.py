"""The benchmark cases: AlexNet's and LeNet-5's layers, and whole training steps.

A case knows its FLOPs and can build, for any runner ("numpy", "numba", "cupy", "torch",
"torch-cuda"), a zero-argument callable doing the measured work once.

tinyconv is imported only inside the tinyconv builders (and the model FLOP counts): a PyTorch
worker process must never import it, or PyTorch would be measured next to tinyconv's thread pools.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def _tinyconv():
    import tinyconv
    return tinyconv


@dataclass
class Case:
    name: str
    group: str
    flops: object  # float, or a zero-argument callable (model counts need tinyconv's summary)
    build: object  # build(runner) -> callable
    params: dict = field(default_factory=dict)
    max_repeat: int | None = None  # cap on timed calls (a memory case needs only a few)
    isolate: bool = False  # measured in a worker process of its own (peak RSS of a fresh process)

    def total_flops(self) -> float:
        return float(self.flops() if callable(self.flops) else self.flops)


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
    t = _tinyconv().tensor(a, requires_grad=grad)
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
    tc = _tinyconv()
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
        F = _tinyconv().nn.functional
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
    # lets the report derive backward alone: (fwd+bwd) - fwd, in time and in FLOPs
    fwd.params.update(conv=prefix, part="fwd")
    both.params.update(conv=prefix, part="fwd+bwd")
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

    def tc_lrn(runner):
        F = _tinyconv().nn.functional
        return lambda x: F.local_response_norm(x, 5, 1e-4, 0.75, 2.0, convention="paper")

    def tc_pool(runner):
        F = _tinyconv().nn.functional
        return lambda x: F.max_pool2d(x, 3, 2)

    cases.append(layer_case(f"alexnet lrn1 b{n} fwd+bwd", shape, tc_lrn, torch_lrn, 20 * elems))
    cases.append(layer_case(f"alexnet maxpool1 b{n} fwd+bwd", shape, tc_pool, torch_pool, 10 * elems))
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


def step_case(name, make_tc_model, make_torch_model, x_shape, num_classes, flops, **options):
    def build(runner):
        x = _array(x_shape, 5)
        y = np.random.default_rng(6).integers(0, num_classes, x_shape[0])
        if runner.startswith("torch"):
            import torch
            model = make_torch_model()
            if runner == "torch-cuda":
                model = model.cuda()
            opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
            xt, yt = _torch_tensor(x, runner), torch.from_numpy(y).to(next(model.parameters()).device)
            sync = _sync(runner)

            def call():
                loss = torch.nn.functional.cross_entropy(model(xt), yt)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sync()
            return call
        tc = _tinyconv()
        F = tc.nn.functional
        tc.manual_seed(0)
        model = make_tc_model()
        if runner == "cupy":
            model.to("cuda")
        opt = tc.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
        xt, yt = _tc_tensor(x, runner), _tc_tensor(y, runner)

        def fn():
            loss = F.cross_entropy(model(xt), yt)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return _run_tc(runner, fn)
    return Case(name, "model", flops, build, **options)


def _model_flops(model_name, input_shape, batch):
    """A callable: 6 x forward MACs (forward, grad-input, grad-weight), the usual training estimate."""
    def count():
        tc = _tinyconv()
        from tinyconv.summary import summarize
        model = tc.models.lenet5() if model_name == "lenet5" else tc.models.alexnet(num_classes=1000)
        return 6.0 * summarize(model, input_shape)["total_macs"] * batch
    return count


def _tc_lenet():
    return _tinyconv().models.lenet5()


def _tc_alexnet():
    return _tinyconv().models.alexnet(variant="original", num_classes=1000)


def model_cases(quick=False):
    cases = []
    for b in ((64,) if quick else (64, 256)):
        cases.append(step_case(f"lenet5 train step b{b}", _tc_lenet, _torch_lenet, (b, 1, 32, 32),
                               10, _model_flops("lenet5", (1, 32, 32), b)))
    b = 4 if quick else 16
    cases.append(step_case(f"alexnet(original) train step b{b}", _tc_alexnet,
                           lambda: _torch_alexnet(1000), (b, 3, 227, 227), 1000,
                           _model_flops("alexnet", (3, 227, 227), b)))
    if not quick:
        # for its peak RSS (issue 9's memory criterion), in a fresh process: 1 warm-up + 2 steps
        cases.append(step_case("alexnet(original) train step b64 (peak RSS)", _tc_alexnet,
                               lambda: _torch_alexnet(1000), (64, 3, 227, 227), 1000,
                               _model_flops("alexnet", (3, 227, 227), 64), max_repeat=2, isolate=True))
    return cases


def select(suite="all", quick=False, only=None, names=None, isolated=None):
    """The suite's cases ("layers", "models" or "all"), filtered by a name substring, by exact
    names and by the isolate flag (None: either)."""
    cases = []
    if suite in ("layers", "all"):
        cases += layer_cases(quick)
    if suite in ("models", "all"):
        cases += model_cases(quick)
    if only:
        cases = [c for c in cases if only in c.name]
    if names:
        cases = [c for c in cases if c.name in names]
    if isolated is not None:
        cases = [c for c in cases if c.isolate == isolated]
    return cases
