"""Grayscale (torchvision's luma), the coloured-digits builder, and a grayscale first layer in
AlexNet (parameters and MACs through tinyconv.summary and `tinyconv summary`)."""
import numpy as np
import pytest

from tinyconv import cli, data, models
from tinyconv.summary import summarize


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_grayscale_is_itu_601_luma(dtype, rng):
    x = rng.random((4, 3, 5, 6)).astype(dtype)
    want = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]  # torchvision's documented formula
    y = data.Grayscale()(x)
    assert y.shape == (4, 1, 5, 6) and y.dtype == dtype
    np.testing.assert_allclose(y[:, 0], want, rtol=1e-6 if dtype == np.float32 else 1e-15)
    y3 = data.Grayscale(num_output_channels=3)(x)
    assert y3.shape == x.shape and np.array_equal(y3[:, 0], y[:, 0]) and np.array_equal(y3[:, 2], y[:, 0])
    # white stays white, pure primaries give their weights
    prim = np.eye(3, dtype=dtype)[:, :, None, None]
    np.testing.assert_allclose(data.Grayscale()(prim).ravel(), [0.299, 0.587, 0.114], rtol=1e-7)
    assert data.Grayscale()(np.ones((1, 3, 1, 1), dtype)).item() == pytest.approx(1.0, abs=1e-7)


def test_grayscale_single_channel_and_bad_input(rng):
    x = rng.random((2, 1, 3, 3)).astype(np.float32)
    y = data.Grayscale()(x)
    assert np.array_equal(y, x) and y is not x
    assert data.Grayscale(3)(x).shape == (2, 3, 3, 3)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        data.Grayscale()(rng.random((2, 4, 3, 3)))
    with pytest.raises(ValueError, match="num_output_channels"):
        data.Grayscale(2)
    with pytest.raises(TypeError, match="floating"):
        data.Grayscale()(np.zeros((1, 3, 2, 2), np.uint8))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        data.Grayscale()(np.zeros((3, 2, 2)))
    assert repr(data.Grayscale(3)) == "Grayscale(num_output_channels=3)"


def test_colored_mnist_shapes_ranges_and_determinism():
    a = data.colored_mnist(train=False, informative=True, seed=5)
    b = data.colored_mnist(train=False, informative=True, seed=5)
    x, y = a.arrays
    assert x.shape == (1000, 3, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() <= 1.0 and x.max() > 0.99
    assert np.array_equal(x, b.arrays[0]) and np.array_equal(a.colors, b.colors)
    assert np.array_equal(a.colors, y)  # agreement 1: the colour names the digit
    # every pixel is intensity * its image's palette colour
    digits = data.MNIST(train=False)
    want = digits.data[:, None].astype(np.float32) / 255 * data.COLORED_MNIST_PALETTE[a.colors][:, :, None, None]
    np.testing.assert_allclose(x, want, rtol=1e-6, atol=1e-7)


def test_colored_mnist_colour_statistics():
    loose = data.colored_mnist(train=True, informative=True, agreement=0.7, seed=1)
    y = loose.arrays[1]
    agree = np.mean(loose.colors == y)
    assert abs(agree - 0.7) < 0.03 and len(np.unique(loose.colors[loose.colors != y])) == 10
    noise = data.colored_mnist(train=True, informative=False, seed=1)
    assert abs(np.mean(noise.colors == noise.arrays[1]) - 0.1) < 0.03
    counts = np.bincount(noise.colors, minlength=10)
    assert counts.min() > 320 and counts.max() < 480  # uniform over 10 colours, 4,000 images
    other = data.colored_mnist(train=True, informative=False, seed=2)
    assert not np.array_equal(other.colors, noise.colors)
    with pytest.raises(ValueError, match="agreement"):
        data.colored_mnist(agreement=1.5)
    with pytest.raises(ValueError, match="seed"):
        data.colored_mnist(seed=-1)


def test_grayscale_removes_exactly_the_colour():
    palette = data.COLORED_MNIST_PALETTE
    np.testing.assert_allclose(palette @ [0.299, 0.587, 0.114], 0.4, rtol=1e-12)
    assert np.all((palette >= 0) & (palette <= 1))
    assert min(np.abs(palette[i] - palette[j]).max() for i in range(10) for j in range(i)) > 0.1
    a = data.Grayscale()(data.colored_mnist(train=False, informative=True).arrays[0])
    b = data.Grayscale()(data.colored_mnist(train=False, informative=False).arrays[0])
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(a[:, 0], 0.4 * data.MNIST(train=False).data / 255, atol=1e-6)


def test_grayscale_first_layer_of_alexnet(capsys):
    # the paper's conv stack with the small gap head and its smallest input: cheap to build and run
    rgb, gray = models.alexnet("gap", 10), models.alexnet("gap", 10, in_channels=1)
    saved = models.count_parameters(rgb) - models.count_parameters(gray)
    assert saved == 2 * 96 * 11 * 11  # conv1 loses two of its three input planes
    assert gray.features[0].weight.shape == (96, 1, 11, 11)
    s_rgb, s_gray = summarize(rgb, (3, 67, 67)), summarize(gray, (1, 67, 67))
    assert s_rgb["total_macs"] - s_gray["total_macs"] == 2 * 96 * 11 * 11 * 15 * 15
    assert [r["output"] for r in s_rgb["rows"]] == [r["output"] for r in s_gray["rows"]]
    assert cli.main(["summary", "alexnet", "--variant", "gap", "--num-classes", "10",
                     "--input", "1,67,67"]) == 0
    assert f"{s_gray['total_params']:,} parameters, {s_gray['total_macs']:,} MACs" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"expects \(N, 1, H, W\)"):
        import tinyconv as tc
        gray(tc.tensor(np.zeros((1, 3, 67, 67), np.float32)))
    with pytest.raises(ValueError, match="in_channels"):
        models.alexnet(in_channels=0)
