"""Post-training static quantization of LeNet-5: the integer path against its exact fake-quant
float reference, the accuracy of a trained int8 model, int4 storage, the noise model."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv import data, models, nn, optim
from tinyconv.kernels.cpu import quantized as cpu_kernels
from tinyconv.quantization import (load_quantized, pack_int4, quantize_static, snr_per_layer,
                                   unpack_int4)
from tinyconv.quantization.static import float_requantize

TRANSFORM = data.Compose([data.Pad(2), data.Normalize(data.MNIST_MEAN, data.MNIST_STD)])


def _images(train, n, seed=None):
    loader = data.DataLoader(data.MNIST(train=train), batch_size=n, shuffle=seed is not None, seed=seed,
                             transform=TRANSFORM)
    x, y = next(iter(loader))
    return x.numpy(), y.numpy()


@pytest.fixture(scope="module")
def trained():
    """LeNet-5 after 2 epochs on the 4,000 training digits (seed 0), the 1,000 test digits, and
    512 calibration images from the training split."""
    tc.manual_seed(0)
    model = models.lenet5()
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loader = data.DataLoader(data.MNIST(train=True), batch_size=64, shuffle=True, seed=0, transform=TRANSFORM)
    for _ in range(2):
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    x_test, y_test = _images(False, 1000)
    x_cal, _ = _images(True, 512, seed=1)
    return model, x_test, y_test, x_cal


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_integer_logits_equal_the_fake_quant_reference_untrained(backend):
    # random weights and real digits: nothing about training helps the two paths agree
    tc.manual_seed(3)
    model = models.lenet5()
    x, _ = _images(True, 96, seed=2)
    for observer in ("minmax", "percentile"):
        q = quantize_static(model, x[:64], observer=observer)
        with tc.use_backend(backend):
            logits = q(x).numpy()
        np.testing.assert_array_equal(logits, q.reference_forward(x).numpy())


def test_trained_int8_lenet5(trained, tmp_path):
    model, x_test, y_test, x_cal = trained
    with tc.no_grad():
        fp32 = float((model(tc.tensor(x_test)).numpy().argmax(1) == y_test).mean())
    assert fp32 > 0.9
    q = quantize_static(model, x_cal, observer="minmax")
    logits = q(x_test).numpy()
    np.testing.assert_array_equal(logits, q.reference_forward(x_test).numpy())
    int8 = float((logits.argmax(1) == y_test).mean())
    assert int8 >= fp32 - 0.005, (fp32, int8)  # the acceptance bound: at most 0.5 points lost
    # what is stored: int8 weights, int32 biases, integer multipliers; the float model agrees
    conv1 = q.layers[0]
    assert conv1["weight"].dtype == np.int8 and conv1["bias"].dtype == np.int32
    assert np.abs(conv1["weight"]).max() == 127 and conv1["out_zero_point"] == -128  # ReLU: range [0, max]
    np.testing.assert_allclose(conv1["weight"] * conv1["weight_scale"][:, None, None, None],
                               model.features[0].weight.numpy(), atol=conv1["weight_scale"].max() / 2 * 1.0001)
    # save / load round trip through tinyconv.save gives the same logits
    tc.save(q.state_dict(), tmp_path / "q.npz")
    np.testing.assert_array_equal(load_quantized(tmp_path / "q.npz")(x_test[:50]).numpy(), logits[:50])
    assert q.nbytes() < sum(p.numpy().nbytes for p in model.parameters()) / 3.5


def test_trained_noise_model_predicts_the_measured_snr(trained):
    model, x_test, _, x_cal = trained
    for bits in (8, 4):
        q = quantize_static(model, x_cal, observer="minmax", weight_bits=bits)
        rows = snr_per_layer(model, q, x_test[:300])
        assert [r["name"] for r in rows] == ["conv1+relu", "pool1", "conv2+relu", "pool2", "fc1+relu",
                                             "fc2+relu", "fc3"]
        for r in rows:  # the model tracks the measurement layer by layer within a few dB
            assert abs(r["predicted_db"] - r["measured_db"]) < 4.0, (bits, r)
        # 4 bits fewer on the weights: 6 dB per bit less SNR where weight noise dominates
        if bits == 4:
            assert rows[-1]["measured_db"] < 30
        else:
            assert rows[-1]["measured_db"] > 35
    # the percentile observer clips: only the prediction that counts clipping follows it down
    q = quantize_static(model, x_cal, observer="percentile")
    plain, clip = snr_per_layer(model, q, x_test[:300]), snr_per_layer(model, q, x_test[:300], clipping=True)
    for a, b in zip(plain, clip):
        assert b["predicted_db"] <= a["predicted_db"] + 1e-9 and a["measured_db"] == b["measured_db"]
    for i in (2, 4):  # conv2+relu, fc1+relu
        assert abs(clip[i]["predicted_db"] - clip[i]["measured_db"]) < abs(plain[i]["predicted_db"] - plain[i]["measured_db"])


def test_int4_weights_and_packing(trained, tmp_path):
    model, x_test, y_test, x_cal = trained
    q4 = quantize_static(model, x_cal, weight_bits=4)
    for layer in q4.layers:
        if "weight" in layer:
            assert layer["weight"].dtype == np.int8 and np.abs(layer["weight"]).max() == 7
    np.testing.assert_array_equal(q4(x_test).numpy(), q4.reference_forward(x_test).numpy())
    tc.save(q4.state_dict(), tmp_path / "q4.npz")
    back = load_quantized(tmp_path / "q4.npz")
    for a, b in zip(q4.layers, back.layers):
        if "weight" in a:
            np.testing.assert_array_equal(a["weight"], b["weight"])
    q8 = quantize_static(model, x_cal, weight_bits=8)
    weights8 = sum(layer["weight"].nbytes for layer in q8.layers if "weight" in layer)
    assert q8.nbytes() - q4.nbytes() == weights8 - sum((layer["weight"].size + 1) // 2
                                                        for layer in q4.layers if "weight" in layer)


def test_pack_int4_round_trip():
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 64):
        w = rng.integers(-8, 8, n).astype(np.int8)
        p = pack_int4(w)
        assert p.dtype == np.uint8 and p.size == (n + 1) // 2
        np.testing.assert_array_equal(unpack_int4(p, (n,)), w)
    assert pack_int4(np.array([1, -1], np.int8)).tolist() == [0xF1]
    with pytest.raises(ValueError, match=r"\[-8, 7\]"):
        pack_int4(np.array([8], np.int8))


def test_unsupported_models_are_refused():
    x = np.zeros((2, 1, 32, 32), np.float32)
    with pytest.raises(ValueError, match="Tanh has no integer version"):
        quantize_static(models.lenet5(activation="tanh"), x)
    with pytest.raises(ValueError, match="AvgPool2d"):
        quantize_static(models.lenet5(pool="avg"), x)
    with pytest.raises(ValueError, match="observer"):
        quantize_static(models.lenet5(), x, observer="kl")
    with pytest.raises(ValueError, match="weight_bits"):
        quantize_static(models.lenet5(), x, weight_bits=1)
    with pytest.raises(ValueError, match="end with"):
        quantize_static(nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Flatten()), np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="non-empty"):
        quantize_static(models.lenet5(), x[:0])


def test_sequential_with_padding_and_stride():
    # a chain other than LeNet-5: padded, strided convolution and a ReLU on the last layer
    tc.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 2 * 2, 5), nn.ReLU())
    x = np.random.default_rng(0).standard_normal((16, 2, 9, 9)).astype(np.float32)
    q = quantize_static(model, x)
    logits = q(x).numpy()
    np.testing.assert_array_equal(logits, q.reference_forward(x).numpy())
    assert (logits >= 0).all()
    assert "conv weight (4, 2, 3, 3) int8 + relu" in repr(q) and "linear weight (5, 16) int8 + relu" in repr(q)
    with tc.no_grad():
        ref = model(tc.tensor(x)).numpy()
    assert np.abs(logits - ref).max() < 0.05 * np.abs(ref).max()


def test_float_requantization_is_exact_at_every_shift():
    # the float64 reference against the integer kernel where rounding decides: acc * M0 just
    # below, at and above the half-way points 2**(s-1) and 3 * 2**(s-1), for every shift
    rng = np.random.default_rng(0)
    for s, m0 in [(s, m) for s in range(1, 63) for m in (int(rng.integers(2**30, 2**31)), 2**30, 3 * 2**29)]:
        # (powers of two in M0 make exact ties acc * M0 == 2**(s-1) reachable)
        targets = [2**(s - 1) + d for d in (-2, -1, 0, 1, 2)] + [3 * 2**(s - 1) + d for d in (-1, 0, 1)]
        accs = sorted({t // m0 + e for t in targets for e in (-1, 0, 1)} | {-(t // m0) for t in targets})
        acc = np.array([a for a in accs if abs(a) * m0 < 2**53], np.int64).reshape(1, 1, -1)
        want = cpu_kernels.requantize(acc.astype(np.int32), np.array([m0]), np.array([s]), 3, -128, 127)
        got = float_requantize(acc.astype(np.float64), np.array([m0]), np.array([s]), 3, -128, 127)
        np.testing.assert_array_equal(got, want.astype(np.float64), err_msg=f"shift {s}")


@st.composite
def _chain(draw):
    """A random Conv2d [+ReLU] [+MaxPool2d] -> Flatten -> Linear [+ReLU] -> Linear chain and its input."""
    c, o = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    k, stride, pad = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(0, 1))
    size = draw(st.integers(max(k - 2 * pad, 1) + 3, 9))
    out = (size + 2 * pad - k) // stride + 1
    mods = [nn.Conv2d(c, o, k, stride=stride, padding=pad, bias=draw(st.booleans()))]
    if draw(st.booleans()):
        mods.append(nn.ReLU())
    if out >= 2 and draw(st.booleans()):
        mods.append(nn.MaxPool2d(2))
        out //= 2
    hidden = draw(st.integers(1, 6))
    mods += [nn.Flatten(), nn.Linear(o * out * out, hidden)]
    if draw(st.booleans()):
        mods.append(nn.ReLU())
    mods.append(nn.Linear(hidden, draw(st.integers(1, 4))))
    seed = draw(st.integers(0, 2**31 - 1))
    tc.manual_seed(seed)
    x = (np.random.default_rng(seed).standard_normal((draw(st.integers(1, 12)), c, size, size))
         * 10.0 ** draw(st.integers(-2, 2))).astype(np.float32)
    return nn.Sequential(*mods), x, draw(st.sampled_from(["minmax", "percentile"])), draw(st.sampled_from([8, 4, 3]))


@settings(max_examples=30)
@given(_chain())
def test_integer_path_equals_reference_on_random_chains(case):
    model, x, observer, bits = case
    q = quantize_static(model, x, observer=observer, weight_bits=bits)
    try:
        want = q.reference_forward(x).numpy()
    except OverflowError:  # |acc| * M0 >= 2**53: float64 cannot follow (the kernels' own tests cover it)
        assume(False)
    for backend in ("numpy", "numba"):
        with tc.use_backend(backend):
            np.testing.assert_array_equal(q(x).numpy(), want)


def test_integer_kernels_only_on_cpu_backends(monkeypatch):
    from tinyconv import backend
    tc.manual_seed(0)
    model = models.lenet5()
    model.features[0].bias.numpy()[:] = 1.0  # over an input scale of float32 eps: beyond int32
    with pytest.raises(OverflowError, match="block 0's bias.*nearly constant"):
        quantize_static(model, np.full((2, 1, 32, 32), 1e-6, np.float32))
    quantize_static(model, np.zeros((2, 1, 32, 32), np.float32))  # only zeros: scale 1, no overflow
    q = quantize_static(models.lenet5(), np.random.default_rng(0).standard_normal((2, 1, 32, 32)).astype(np.float32))
    monkeypatch.setitem(backend._state, "backend", "cuda-emulated")
    with pytest.raises(RuntimeError, match="'numpy' and 'numba' backends only, not 'cuda-emulated'"):
        q(np.zeros((1, 1, 32, 32), np.float32))
