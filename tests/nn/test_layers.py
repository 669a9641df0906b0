"""Layers: PyTorch's default initialisation, argument validation, and each layer against its
torch.nn twin with the same weights (forward, input and weight gradients)."""
import math

import numpy as np
import pytest

import tinyconv as tc
from tinyconv import nn


def test_default_init_bounds_like_pytorch():
    tc.manual_seed(0)
    conv = nn.Conv2d(16, 120, 5)  # fan_in 400, 48,000 weights
    lin = nn.Linear(400, 120)
    for layer in (conv, lin):
        bound = 1 / math.sqrt(400)
        w, b = layer.weight.numpy(), layer.bias.numpy()
        assert w.dtype == np.float32 and b.dtype == np.float32
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.999 * bound
        assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)  # uniform, not normal
        assert np.abs(b).max() <= bound and b.std() > 0.3 * bound
    grouped = nn.Conv2d(96, 256, 5, groups=2)  # fan_in counts the 48 channels of a group
    assert grouped.weight.shape == (256, 48, 5, 5)
    assert np.abs(grouped.weight.numpy()).max() <= 1 / math.sqrt(48 * 25)
    assert np.abs(grouped.weight.numpy()).max() > 0.99 / math.sqrt(48 * 25)


def test_seed_makes_layers_reproducible_and_dtype():
    tc.manual_seed(5)
    a = nn.Linear(7, 3)
    tc.manual_seed(5)
    b = nn.Linear(7, 3)
    np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy())
    np.testing.assert_array_equal(a.bias.numpy(), b.bias.numpy())
    assert nn.Conv2d(1, 2, 3, dtype=np.float64).weight.dtype == np.float64
    assert nn.Linear(2, 3, bias=False).bias is None
    assert [n for n, _ in nn.Linear(2, 3, bias=False).named_parameters()] == ["weight"]


@pytest.mark.parametrize("make, error, pattern", [
    (lambda: nn.Conv2d(3, 4, 3, groups=2), ValueError, r"in_channels \(3\) must be divisible by groups \(2\)"),
    (lambda: nn.Conv2d(4, 3, 3, groups=2), ValueError, r"out_channels \(3\) must be divisible by groups \(2\)"),
    (lambda: nn.Conv2d(0, 4, 3), ValueError, "in_channels must be positive"),
    (lambda: nn.Conv2d(3, 4, 0), ValueError, "kernel_size must be positive"),
    (lambda: nn.Conv2d(3, 4, (3, 3, 3)), ValueError, "kernel_size must be an int or a pair"),
    (lambda: nn.Conv2d(3, 4, 3, stride=0), ValueError, "stride must be positive"),
    (lambda: nn.Conv2d(3, 4, 3, padding=-1), ValueError, "padding must be non-negative"),
    (lambda: nn.Conv2d(3, 4, 3, padding="full"), ValueError, "padding must be an int"),
    (lambda: nn.Conv2d(3, 4, 3, stride=2, padding="same"), ValueError, "needs stride 1"),
    (lambda: nn.Conv2d(3, 4, 3, algo="fft"), ValueError, "algo must be one of"),
    (lambda: nn.Conv2d(3.0, 4, 3), TypeError, "in_channels must be an int"),
    (lambda: nn.Conv2d(3, 4, 3, dtype=np.int32), TypeError, "float32 or float64"),
    (lambda: nn.Linear(0, 4), ValueError, "in_features must be positive"),
    (lambda: nn.Linear(4, -2), ValueError, "out_features must be positive"),
    (lambda: nn.MaxPool2d(0), ValueError, "kernel_size must be positive"),
    (lambda: nn.MaxPool2d(2, padding=2), ValueError, "at most half of kernel_size"),
    (lambda: nn.AvgPool2d(3, stride=0), ValueError, "stride must be positive"),
    (lambda: nn.AdaptiveAvgPool2d(0), ValueError, "output_size must be positive"),
    (lambda: nn.AdaptiveAvgPool2d((1, 2, 3)), ValueError, "an int or a pair"),
    (lambda: nn.LocalResponseNorm(0), ValueError, "size must be positive"),
    (lambda: nn.LocalResponseNorm(5, k=0.0), ValueError, "k must be positive"),
    (lambda: nn.LocalResponseNorm(5, alpha=-1.0), ValueError, "alpha must be non-negative"),
    (lambda: nn.LocalResponseNorm(5, convention="caffe"), ValueError, "convention must be"),
    (lambda: nn.Dropout(1.5), ValueError, r"p must be in \[0, 1\]"),
    (lambda: nn.LeakyReLU("x"), TypeError, "negative_slope must be a finite number"),
    (lambda: nn.Flatten(1.5), TypeError, "start_dim must be an int"),
])
def test_constructor_validation(make, error, pattern):
    with pytest.raises(error, match=pattern):
        make()


def test_conv_algorithms_and_same_padding():
    tc.manual_seed(1)
    conv = nn.Conv2d(4, 6, (3, 5), padding="same", dilation=(1, 2), groups=2)
    x = tc.tensor(np.random.default_rng(0).standard_normal((2, 4, 9, 11)).astype(np.float32))
    y = conv(x)
    assert y.shape == (2, 6, 9, 11)
    direct = nn.Conv2d(4, 6, (3, 5), padding="same", dilation=(1, 2), groups=2, algo="direct")
    direct.load_state_dict(conv.state_dict())
    np.testing.assert_allclose(direct(x).numpy(), y.numpy(), rtol=1e-5, atol=1e-5)
    assert "algo='direct'" in repr(direct) and "padding='same'" in repr(direct)


# --- parity with torch.nn -----------------------------------------------------------------------
def _copy_weights(ours, theirs, torch):
    with torch.no_grad():
        for name, p in ours.named_parameters():
            getattr(theirs, name).copy_(torch.from_numpy(p.numpy()))


def _layer_pairs(torch):
    tnn = torch.nn
    return [
        ("conv", nn.Conv2d(4, 6, 3, stride=2, padding=1, dilation=1, groups=2),
         tnn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), (2, 4, 9, 8)),
        ("conv-dil", nn.Conv2d(3, 5, (3, 2), stride=(1, 2), padding=(2, 1), dilation=(2, 1), bias=False),
         tnn.Conv2d(3, 5, (3, 2), stride=(1, 2), padding=(2, 1), dilation=(2, 1), bias=False), (2, 3, 8, 9)),
        ("linear", nn.Linear(12, 5), tnn.Linear(12, 5), (3, 12)),
        ("maxpool", nn.MaxPool2d(3, 2, 1), tnn.MaxPool2d(3, 2, 1), (2, 3, 9, 8)),
        ("avgpool", nn.AvgPool2d((2, 3), stride=(2, 1)), tnn.AvgPool2d((2, 3), stride=(2, 1)), (2, 3, 8, 7)),
        ("adaptive", nn.AdaptiveAvgPool2d((3, 2)), tnn.AdaptiveAvgPool2d((3, 2)), (2, 3, 7, 5)),
        ("lrn-torch", nn.LocalResponseNorm(3, alpha=0.3, beta=0.75, k=1.5),
         tnn.LocalResponseNorm(3, alpha=0.3, beta=0.75, k=1.5), (2, 6, 4, 4)),
        ("lrn-paper", nn.LocalResponseNorm(5, alpha=0.1, beta=0.75, k=2.0, convention="paper"),
         tnn.LocalResponseNorm(5, alpha=0.5, beta=0.75, k=2.0), (2, 7, 3, 3)),
        ("relu", nn.ReLU(), tnn.ReLU(), (4, 5)),
        ("leaky", nn.LeakyReLU(0.2), tnn.LeakyReLU(0.2), (4, 5)),
        ("tanh", nn.Tanh(), tnn.Tanh(), (4, 5)),
        ("sigmoid", nn.Sigmoid(), tnn.Sigmoid(), (4, 5)),
        ("flatten", nn.Flatten(), tnn.Flatten(), (2, 3, 4, 5)),
        ("flatten-mid", nn.Flatten(1, 2), tnn.Flatten(1, 2), (2, 3, 4, 5)),
        ("dropout-eval", nn.Dropout(0.5).eval(), tnn.Dropout(0.5).eval(), (4, 5)),
    ]


def test_layers_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    for name, ours, theirs, shape in _layer_pairs(torch):
        _copy_weights(ours, theirs, torch)
        # distinct values (no max-pool ties) kept away from 0 (no ReLU kink)
        x = rng.permutation(np.linspace(0.05, 3.0, int(np.prod(shape)))) * rng.choice([-1, 1], int(np.prod(shape)))
        x = x.reshape(shape).astype(np.float32)
        xt = torch.tensor(x, requires_grad=True)
        yt = theirs(xt)
        g = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
        yt.backward(torch.from_numpy(g))
        xo = tc.tensor(x, requires_grad=True)
        yo = ours(xo)
        assert yo.shape == tuple(yt.shape), name
        np.testing.assert_allclose(yo.numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=name)
        yo.backward(g)
        np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)
        for pname, p in ours.named_parameters():
            np.testing.assert_allclose(p.grad.numpy(), getattr(theirs, pname).grad.numpy(),
                                       rtol=1e-5, atol=1e-5, err_msg=f"{name}.{pname}")


def test_reprs_match_torch():
    torch = pytest.importorskip("torch")
    for name, ours, theirs, _ in _layer_pairs(torch):
        if name in ("maxpool", "avgpool", "dropout-eval", "lrn-paper"):
            continue  # torch prints options tinyconv's pools lack (dilation, ceil_mode, ...)
        assert repr(ours) == repr(theirs), name
