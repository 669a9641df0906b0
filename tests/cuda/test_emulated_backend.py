"""tinyconv.set_backend("cuda-emulated"): whole models through the CUDA kernels run on the CPU,
equal to the NumPy reference backend."""
from __future__ import annotations

import numpy as np
import pytest

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv import backend, models, optim
from tinyconv.kernels.cuda import _cuda, emulate

pytestmark = [pytest.mark.emulated,
              pytest.mark.skipif(not emulate.available(), reason="no C++ compiler (g++) for the emulated kernels")]


def test_every_cuda_launcher_has_an_emulated_twin():
    launchers = sorted(p.stem for p in _cuda.HERE.glob("*.py") if not p.stem.startswith("_"))
    assert launchers == sorted(emulate.LAUNCHERS)


def test_switch_selects_the_emulated_kernels():
    x = np.zeros((1, 1, 4, 4), np.float32)
    with tc.use_backend("cuda-emulated"):
        assert tc.get_backend() == "cuda-emulated"
        for family in emulate.LAUNCHERS:
            assert backend.kernels(family, x).__name__ == f"tinyconv.kernels.cuda.emulate.{family}"
    assert backend.kernels("conv", x).__name__ != "tinyconv.kernels.cuda.emulate.conv"
    with pytest.raises(ValueError, match="unknown backend"):
        tc.set_backend("cuda-emulate")


def _lenet_step(name, images, labels):
    """One SGD step (momentum, weight decay) of a float64 LeNet-5 on `name`; what it produced."""
    with tc.use_backend(name):
        tc.manual_seed(0)
        model = models.lenet5(activation="tanh", pool="avg").double()
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
        loss = F.cross_entropy(model(tc.tensor(images)), tc.tensor(labels), label_smoothing=0.1)
        opt.zero_grad()
        loss.backward()
        grads = {k: p.grad.numpy().copy() for k, p in model.named_parameters()}
        opt.step()
        # a second forward with the updated weights, max-pool and ReLU this time
        relu_model = models.lenet5().double()
        relu_model.load_state_dict(model.state_dict())
        logits = relu_model(tc.tensor(images)).numpy()
        return float(loss.item()), grads, {k: np.array(v) for k, v in model.state_dict().items()}, logits


def test_lenet5_training_step_equals_the_reference():
    rng = np.random.default_rng(3)
    images = rng.standard_normal((4, 1, 32, 32))
    labels = rng.integers(0, 10, 4)
    loss, grads, params, logits = _lenet_step("cuda-emulated", images, labels)
    loss_ref, grads_ref, params_ref, logits_ref = _lenet_step("numpy", images, labels)
    assert abs(loss - loss_ref) <= 1e-10 * abs(loss_ref)
    assert grads.keys() == grads_ref.keys() and len(grads) == 10
    for k in grads:
        np.testing.assert_allclose(grads[k], grads_ref[k], rtol=1e-10, atol=1e-10 * np.abs(grads_ref[k]).max(),
                                   err_msg=k)
        assert np.abs(grads_ref[k]).max() > 0, k
    for k in params:
        np.testing.assert_allclose(params[k], params_ref[k], rtol=1e-10, atol=1e-12, err_msg=k)
    np.testing.assert_allclose(logits, logits_ref, rtol=1e-10, atol=1e-10 * np.abs(logits_ref).max())


def test_alexnet_forward_equals_the_reference():
    """The paper's AlexNet (grouped convs, LRN, overlapping max-pools) at 227x227, in eval mode."""
    tc.manual_seed(0)
    model = models.alexnet("original").eval()
    x = tc.tensor(np.random.default_rng(0).standard_normal((1, 3, 227, 227)).astype(np.float32))
    out = {}
    for name in ("numpy", "cuda-emulated"):
        with tc.use_backend(name), tc.no_grad():
            out[name] = model(x).numpy()
    ref = out["numpy"]
    assert out["cuda-emulated"].shape == (1, 1000) and out["cuda-emulated"].dtype == np.float32
    np.testing.assert_allclose(out["cuda-emulated"], ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())
