"""LeNet-5 and AlexNet: parameter counts, shapes, initialisation, PyTorch parity with copied
weights, training smoke tests and bad input.

AlexNet passes are expensive on a CPU, so each test pushes at most a couple of images through
it, and the models are built once per module.
"""
import time

import numpy as np
import pytest

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv import models, nn, optim
from tinyconv.models import count_parameters


@pytest.fixture(scope="module")
def alex_original():
    tc.manual_seed(0)
    return models.alexnet("original")


@pytest.fixture(scope="module")
def alex_torchvision():
    tc.manual_seed(0)
    return models.alexnet("torchvision")


def _image(shape, seed=0, scale=1.0):
    return tc.tensor((scale * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32))


# --- structure --------------------------------------------------------------------------------------
def test_lenet5_counts_and_shapes():
    for activation in ("relu", "tanh"):
        for pool in ("max", "avg"):
            model = models.lenet5(activation=activation, pool=pool)
            assert count_parameters(model) == 61_706
            kinds = {type(m).__name__ for m in model.modules()}
            assert {"ReLU" if activation == "relu" else "Tanh", "MaxPool2d" if pool == "max" else "AvgPool2d"} <= kinds
    model = models.lenet5(num_classes=7)
    assert count_parameters(model) == 61_706 - 84 * 3 - 3
    assert list(model.state_dict()) == [
        "features.0.weight", "features.0.bias", "features.3.weight", "features.3.bias",
        "classifier.0.weight", "classifier.0.bias", "classifier.2.weight", "classifier.2.bias",
        "classifier.4.weight", "classifier.4.bias"]
    x = _image((3, 1, 32, 32))
    h = model.features(x)
    assert h.shape == (3, 16, 5, 5)
    assert model(x).shape == (3, 7)


def test_alexnet_parameter_counts(alex_original, alex_torchvision):
    assert count_parameters(alex_original) == 60_965_224
    assert count_parameters(alex_original.classifier) == 58_631_144
    assert count_parameters(alex_torchvision) == 61_100_840
    gap = models.alexnet("gap")
    assert count_parameters(gap.classifier) == 257_000  # 256 * 1000 + 1000
    assert count_parameters(gap) == 60_965_224 - 58_631_144 + 257_000
    assert count_parameters(models.alexnet("gap", num_classes=10)) == 2_334_080 + 2570


def test_alexnet_original_structure(alex_original):
    convs = [m for m in alex_original.features if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding, c.groups) for c in convs] == [
        (3, 96, (11, 11), (4, 4), (0, 0), 1), (96, 256, (5, 5), (1, 1), (2, 2), 2),
        (256, 384, (3, 3), (1, 1), (1, 1), 1), (384, 384, (3, 3), (1, 1), (1, 1), 2),
        (384, 256, (3, 3), (1, 1), (1, 1), 2)]
    names = [type(m).__name__ for m in alex_original.features]
    assert names[:8] == ["Conv2d", "ReLU", "LocalResponseNorm", "MaxPool2d"] * 2  # conv, ReLU, LRN, pool
    lrn = alex_original.features[2]
    assert (lrn.size, lrn.alpha, lrn.beta, lrn.k, lrn.convention) == (5, 1e-4, 0.75, 2.0, "paper")
    assert [type(m).__name__ for m in alex_original.classifier] == [
        "Dropout", "Linear", "ReLU", "Dropout", "Linear", "ReLU", "Linear"]
    assert alex_original.classifier[0].p == 0.5 and alex_original.classifier[1].in_features == 9216


def test_alexnet_paper_initialisation(alex_original):
    convs = [m for m in alex_original.features if isinstance(m, nn.Conv2d)]
    linears = [m for m in alex_original.classifier if isinstance(m, nn.Linear)]
    layers = convs + linears
    for layer in layers:
        w = layer.weight.numpy()
        assert abs(w.mean()) < 1e-3
        assert w.std() == pytest.approx(0.01, rel=0.03)
    biases = [float(np.unique(layer.bias.numpy()).item()) for layer in layers]
    # conv1..conv5, fc6, fc7, fc8
    assert biases == [0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0]


def test_alexnet_original_shape_chain(alex_original):
    x = _image((1, 3, 227, 227), scale=50.0)
    shapes = {}
    with tc.no_grad():
        for i, layer in enumerate(alex_original.features):
            x = layer(x)
            shapes[i] = x.shape[1:]
    assert shapes[0] == (96, 55, 55) and shapes[3] == (96, 27, 27)
    assert shapes[4] == (256, 27, 27) and shapes[7] == (256, 13, 13)
    assert shapes[8] == (384, 13, 13) and shapes[10] == (384, 13, 13) and shapes[12] == (256, 13, 13)
    assert shapes[14] == (256, 6, 6)
    with tc.no_grad():
        logits = alex_original.eval().classifier(F.flatten(x, 1))
    alex_original.train()
    assert logits.shape == (1, 1000) and np.all(np.isfinite(logits.numpy()))


def test_alexnet_torchvision_keys(alex_torchvision):
    sd = alex_torchvision.state_dict()
    expected = []
    for prefix, shapes in (("features", {0: (64, 3, 11, 11), 3: (192, 64, 5, 5), 6: (384, 192, 3, 3),
                                         8: (256, 384, 3, 3), 10: (256, 256, 3, 3)}),
                           ("classifier", {1: (4096, 9216), 4: (4096, 4096), 6: (1000, 4096)})):
        for i, shape in shapes.items():
            expected += [(f"{prefix}.{i}.weight", shape), (f"{prefix}.{i}.bias", shape[:1])]
    assert [(k, v.shape) for k, v in sd.items()] == expected
    assert [n for n, _ in alex_torchvision.named_children()] == ["features", "avgpool", "classifier"]
    assert alex_torchvision.avgpool.output_size == (6, 6)


def test_gap_variant_any_size_above_minimum():
    tc.manual_seed(0)
    gap = models.alexnet("gap", num_classes=7).eval()
    with tc.no_grad():
        assert gap(_image((1, 3, 67, 67))).shape == (1, 7)
        assert gap(_image((2, 3, 67, 90))).shape == (2, 7)
    with pytest.raises(ValueError, match=r"at least 67x67, got \(1, 3, 66, 66\)"):
        gap(_image((1, 3, 66, 66)))
    assert isinstance(gap.classifier, nn.Linear) and gap.classifier.in_features == 256


def test_models_reproducible_with_seed():
    tc.manual_seed(123)
    a = models.lenet5().state_dict()
    tc.manual_seed(123)
    b = models.lenet5().state_dict()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    c = models.lenet5().state_dict()
    assert not np.array_equal(a["features.0.weight"], c["features.0.weight"])


# --- bad input --------------------------------------------------------------------------------------
def test_bad_input_and_unknown_variant(alex_original, alex_torchvision):
    lenet = models.lenet5()
    with pytest.raises(ValueError, match=r"LeNet-5 expects \(N, 1, 32, 32\) input, got \(2, 1, 28, 28\); "
                                         r"pad 28x28 MNIST with Pad\(2\)"):
        lenet(_image((2, 1, 28, 28)))
    with pytest.raises(ValueError, match="LeNet-5 expects"):
        lenet(_image((1, 32, 32)))
    with pytest.raises(TypeError, match="Tensor"):
        lenet(np.zeros((1, 1, 32, 32), np.float32))
    with pytest.raises(ValueError, match=r"expects \(N, 3, 227, 227\) input .*got \(1, 3, 224, 224\)"):
        alex_original(_image((1, 3, 224, 224)))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\) input, got \(1, 1, 227, 227\)"):
        alex_original(_image((1, 1, 227, 227)))
    with pytest.raises(ValueError, match="at least 63x63"):
        alex_torchvision(_image((1, 3, 62, 62)))
    with pytest.raises(ValueError, match="unknown variant 'vgg'; valid variants: original, torchvision, gap"):
        models.alexnet("vgg")
    with pytest.raises(ValueError, match="activation must be one of"):
        models.lenet5(activation="gelu")
    with pytest.raises(ValueError, match="pool must be one of"):
        models.lenet5(pool="lp")
    with pytest.raises(ValueError, match="num_classes"):
        models.alexnet(num_classes=0)


# --- parity with PyTorch ----------------------------------------------------------------------------
def _torch_lenet(torch, activation, pool):
    tnn = torch.nn
    act = tnn.ReLU if activation == "relu" else tnn.Tanh
    pl = tnn.MaxPool2d if pool == "max" else tnn.AvgPool2d

    class LeNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.features = tnn.Sequential(tnn.Conv2d(1, 6, 5), act(), pl(2), tnn.Conv2d(6, 16, 5), act(), pl(2))
            self.flatten = tnn.Flatten()
            self.classifier = tnn.Sequential(tnn.Linear(400, 120), act(), tnn.Linear(120, 84), act(),
                                             tnn.Linear(84, 10))

        def forward(self, x):
            return self.classifier(self.flatten(self.features(x)))
    return LeNet()


def _to_torch(torch, state_dict):
    return {k: torch.from_numpy(np.array(v)) for k, v in state_dict.items()}


@pytest.mark.parametrize("activation, pool", [("relu", "max"), ("tanh", "avg")])
def test_lenet5_matches_torch(activation, pool):
    torch = pytest.importorskip("torch")
    tc.manual_seed(7)
    ours = models.lenet5(activation=activation, pool=pool)
    theirs = _torch_lenet(torch, activation, pool)
    theirs.load_state_dict(_to_torch(torch, ours.state_dict()))  # strict: the keys match exactly
    x = np.random.default_rng(1).standard_normal((4, 1, 32, 32)).astype(np.float32)
    g = np.random.default_rng(2).standard_normal((4, 10)).astype(np.float32)
    yt = theirs(torch.from_numpy(x))
    yt.backward(torch.from_numpy(g))
    yo = ours(tc.tensor(x))
    yo.backward(g)
    scale = np.abs(yt.detach().numpy()).max()
    np.testing.assert_allclose(yo.numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-5 * scale)
    for name, p in ours.named_parameters():
        tg = theirs.get_parameter(name).grad.numpy()
        np.testing.assert_allclose(p.grad.numpy(), tg, rtol=1e-4, atol=1e-5 * np.abs(tg).max(), err_msg=name)


def _torch_alexnet_torchvision(torch, num_classes=1000):
    """torchvision.models.AlexNet, written out (torchvision itself is not a dependency)."""
    tnn = torch.nn

    class AlexNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.features = tnn.Sequential(
                tnn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), tnn.ReLU(inplace=True),
                tnn.MaxPool2d(kernel_size=3, stride=2),
                tnn.Conv2d(64, 192, kernel_size=5, padding=2), tnn.ReLU(inplace=True),
                tnn.MaxPool2d(kernel_size=3, stride=2),
                tnn.Conv2d(192, 384, kernel_size=3, padding=1), tnn.ReLU(inplace=True),
                tnn.Conv2d(384, 256, kernel_size=3, padding=1), tnn.ReLU(inplace=True),
                tnn.Conv2d(256, 256, kernel_size=3, padding=1), tnn.ReLU(inplace=True),
                tnn.MaxPool2d(kernel_size=3, stride=2))
            self.avgpool = tnn.AdaptiveAvgPool2d((6, 6))
            self.classifier = tnn.Sequential(
                tnn.Dropout(p=0.5), tnn.Linear(256 * 6 * 6, 4096), tnn.ReLU(inplace=True),
                tnn.Dropout(p=0.5), tnn.Linear(4096, 4096), tnn.ReLU(inplace=True),
                tnn.Linear(4096, num_classes))

        def forward(self, x):
            return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))
    return AlexNet()


def test_alexnet_torchvision_matches_torch(alex_torchvision):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = _torch_alexnet_torchvision(torch).eval()
    tsd = theirs.state_dict()
    assert list(tsd) == list(alex_torchvision.state_dict())
    assert [tuple(v.shape) for v in tsd.values()] == [v.shape for v in alex_torchvision.state_dict().values()]
    # torch's weights into ours (what loading pretrained torchvision weights does) ...
    alex_torchvision.load_state_dict(tc.from_torch(tsd))
    # ... and ours back into torch: the same numbers both ways
    theirs.load_state_dict(_to_torch(torch, alex_torchvision.state_dict()))
    x = np.random.default_rng(3).standard_normal((2, 3, 224, 224)).astype(np.float32)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    alex_torchvision.eval()
    with tc.no_grad():
        got = alex_torchvision(tc.tensor(x)).numpy()
    alex_torchvision.train()
    assert got.shape == (2, 1000)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_alexnet_original_matches_torch(alex_original):
    """The paper's net (LRN paper form, groups=2) against the same net written in torch, with
    He-scaled random weights so every layer carries signal."""
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    lrn = lambda: tnn.LocalResponseNorm(5, alpha=5 * 1e-4, beta=0.75, k=2.0)  # noqa: E731  torch divides alpha by n
    features = tnn.Sequential(
        tnn.Conv2d(3, 96, 11, 4), tnn.ReLU(), lrn(), tnn.MaxPool2d(3, 2),
        tnn.Conv2d(96, 256, 5, padding=2, groups=2), tnn.ReLU(), lrn(), tnn.MaxPool2d(3, 2),
        tnn.Conv2d(256, 384, 3, padding=1), tnn.ReLU(),
        tnn.Conv2d(384, 384, 3, padding=1, groups=2), tnn.ReLU(),
        tnn.Conv2d(384, 256, 3, padding=1, groups=2), tnn.ReLU(), tnn.MaxPool2d(3, 2))
    classifier = tnn.Sequential(tnn.Dropout(0.5), tnn.Linear(9216, 4096), tnn.ReLU(), tnn.Dropout(0.5),
                                tnn.Linear(4096, 4096), tnn.ReLU(), tnn.Linear(4096, 1000))
    theirs = tnn.Module()
    theirs.features, theirs.classifier = features, classifier
    rng = np.random.default_rng(4)
    sd = {}
    for k, v in alex_original.state_dict().items():
        fan_in = int(np.prod(v.shape[1:])) if v.ndim > 1 else 1
        sd[k] = (rng.standard_normal(v.shape) * (np.sqrt(2.0 / fan_in) if v.ndim > 1 else 0.1)).astype(np.float32)
    theirs.load_state_dict(_to_torch(torch, sd))
    saved = alex_original.state_dict()
    alex_original.load_state_dict(sd)
    try:
        x = np.random.default_rng(5).standard_normal((1, 3, 227, 227)).astype(np.float32)
        with torch.no_grad():
            expected = classifier.eval()(torch.flatten(features(torch.from_numpy(x)), 1)).numpy()
        alex_original.eval()
        with tc.no_grad():
            got = alex_original(tc.tensor(x)).numpy()
    finally:
        alex_original.train()
        alex_original.load_state_dict(saved)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


# --- training ---------------------------------------------------------------------------------------
def _eval_loss(model, x, y):
    model.eval()
    with tc.no_grad():
        loss = F.cross_entropy(model(x), y).item()
    model.train()
    return loss


def test_lenet5_fits_a_fixed_batch():
    tc.manual_seed(0)
    model = models.lenet5()
    x = _image((16, 1, 32, 32), seed=8)
    y = tc.tensor(np.random.default_rng(9).integers(0, 10, 16))
    opt = optim.Adam(model.parameters(), lr=5e-3)
    before = _eval_loss(model, x, y)
    for _ in range(25):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = _eval_loss(model, x, y)
    assert before > 2.0 and after < 0.5 * before


@pytest.mark.slow
def test_alexnet_original_training_loss_falls():
    """Batch 8 at 227x227, SGD with the paper's momentum and weight decay, 20 steps on one
    fixed batch, dropout active.

    Inputs have the scale of mean-subtracted 0-255 pixels, which the paper's N(0, 0.01^2)
    initialisation assumes, and the two classes differ in brightness. lr is 1e-4, not the paper's
    1e-2: on one fixed batch every gradient points the same way, and the hidden FC activations
    (bias 1 over 4096 units) make the output layer's effective step ~|h|^2 * lr, so 1e-2 (and
    1e-3) overshoot and oscillate. Each step takes ~2-7 s with the numba backend on 2 shared cores.
    """
    tc.manual_seed(0)
    model = models.alexnet("original", num_classes=10)
    rng = np.random.default_rng(10)
    labels = np.arange(8) % 2
    x = 50.0 * rng.standard_normal((8, 3, 227, 227)) + np.where(labels == 0, 50.0, -50.0)[:, None, None, None]
    x, y = tc.tensor(x.astype(np.float32)), tc.tensor(labels)
    opt = optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, weight_decay=5e-4)
    losses = []
    start = time.perf_counter()
    for _ in range(20):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    seconds = time.perf_counter() - start
    assert np.all(np.isfinite(losses))
    assert losses[0] > 2.0  # ten random-ish logits
    assert np.mean(losses[-5:]) < 0.6 * losses[0], (losses, seconds)
