"""Batch transforms: exact values against loops over images, reproducible draws, bad arguments."""
import numpy as np
import pytest

from tinyconv.data import (Compose, Normalize, Pad, PCAColorAugmentation, RandomCrop,
                           RandomHorizontalFlip, TensorDataset, channel_pca)


@pytest.fixture
def batch(rng):
    return rng.random((5, 3, 6, 7)).astype(np.float32)


def test_pad_mnist_to_lenet_size(rng):
    x = rng.random((2, 1, 28, 28)).astype(np.float32)
    y = Pad(2)(x)
    assert y.shape == (2, 1, 32, 32) and y.dtype == np.float32
    np.testing.assert_array_equal(y[:, :, 2:30, 2:30], x)
    inner = np.zeros((32, 32), bool)
    inner[2:30, 2:30] = True
    assert (y[:, :, ~inner] == 0).all()


def test_pad_forms_follow_torchvision(batch):
    y = Pad((1, 2))(batch)  # left/right 1, top/bottom 2
    assert y.shape == (5, 3, 10, 9)
    np.testing.assert_array_equal(y[:, :, 2:8, 1:8], batch)
    y = Pad((1, 2, 3, 4), fill=-1.0)(batch)  # left, top, right, bottom
    assert y.shape == (5, 3, 12, 11)
    np.testing.assert_array_equal(y[:, :, 2:8, 1:8], batch)
    assert y[0, 0, 0, 0] == -1.0 and y[0, 0, -1, -1] == -1.0
    for mode in ("edge", "reflect"):
        np.testing.assert_array_equal(Pad(2, padding_mode=mode)(batch),
                                      np.pad(batch, ((0, 0), (0, 0), (2, 2), (2, 2)), mode=mode))


def test_normalize_per_channel_by_hand():
    x = np.array([1.0, 2.0, 3.0], np.float32).reshape(1, 3, 1, 1) * np.ones((2, 3, 2, 2), np.float32)
    y = Normalize(mean=[1.0, 1.0, 1.0], std=[1.0, 0.5, 4.0])(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y[1, :, 1, 1], [0.0, 2.0, 0.5])
    np.testing.assert_allclose(Normalize(0.5, 0.25)(x)[0, :, 0, 0], [2.0, 6.0, 10.0])


def test_random_crop_matches_a_loop_over_images(batch):
    for size, padding in [((4, 5), 0), (6, 2), ((6, 8), (1, 0)), ((3, 3), (0, 1, 2, 3))]:
        crop = RandomCrop(size, padding=padding)
        out = crop(batch, rng=np.random.default_rng(3))
        h, w = crop.size
        padded = Pad(padding)(batch)
        draws = np.random.default_rng(3)
        tops = draws.integers(0, padded.shape[2] - h + 1, size=5)
        lefts = draws.integers(0, padded.shape[3] - w + 1, size=5)
        expected = np.stack([padded[n, :, t:t + h, l:l + w] for n, (t, l) in enumerate(zip(tops, lefts))])
        assert out.shape == (5, 3, h, w)
        np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(RandomCrop((6, 7))(batch, rng=np.random.default_rng(0)), batch)


def test_random_crop_covers_every_offset():
    x = np.arange(3, dtype=np.float32).reshape(1, 1, 1, 3).repeat(300, axis=0)
    firsts = RandomCrop((1, 1))(x, rng=np.random.default_rng(0))[:, 0, 0, 0]
    assert set(firsts.tolist()) == {0.0, 1.0, 2.0}


def test_horizontal_flip(batch):
    np.testing.assert_array_equal(RandomHorizontalFlip(0.0)(batch), batch)
    np.testing.assert_array_equal(RandomHorizontalFlip(1.0)(batch), batch[..., ::-1])
    out = RandomHorizontalFlip(0.5)(batch, rng=np.random.default_rng(4))
    flips = np.random.default_rng(4).random(5) < 0.5
    assert 0 < flips.sum() < 5  # this seed exercises both branches
    np.testing.assert_array_equal(out[flips], batch[flips][..., ::-1])
    np.testing.assert_array_equal(out[~flips], batch[~flips])


def test_pca_color_shift_by_hand(batch):
    eigvals = np.array([0.5, 0.2, 0.1])
    eigvecs = np.linalg.qr(np.random.default_rng(1).standard_normal((3, 3)))[0]
    out = PCAColorAugmentation(eigvals, eigvecs, std=0.1)(batch, rng=np.random.default_rng(9))
    alpha = np.random.default_rng(9).normal(0.0, 0.1, size=(5, 3))
    for n in range(5):
        shift = eigvecs @ (alpha[n] * eigvals)  # the paper's [p1 p2 p3][a1 l1, a2 l2, a3 l3]^T
        np.testing.assert_allclose(out[n], batch[n] + shift[:, None, None].astype(np.float32), rtol=1e-6)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(PCAColorAugmentation(eigvals, eigvecs, std=0)(batch), batch)


def test_channel_pca_matches_numpy_covariance(rng):
    mix = np.array([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.3, 0.2, 0.1]])
    pixels = mix @ rng.standard_normal((3, 7 * 4 * 5)) + np.array([[0.5], [0.4], [0.3]])
    images = pixels.reshape(3, 7, 4, 5).transpose(1, 0, 2, 3).astype(np.float32)
    cov = np.cov(images.transpose(1, 0, 2, 3).reshape(3, -1).astype(np.float64))
    eigvals, eigvecs = channel_pca(images, chunk=3)  # chunks of 3, 3 and 1 images
    assert np.all(np.diff(eigvals) <= 0)
    np.testing.assert_allclose(eigvals, np.sort(np.linalg.eigvalsh(cov))[::-1], rtol=1e-9)
    np.testing.assert_allclose(cov @ eigvecs, eigvecs * eigvals, atol=1e-10)
    np.testing.assert_allclose(eigvecs.T @ eigvecs, np.eye(3), atol=1e-12)
    from_dataset, _ = channel_pca(TensorDataset(images, np.zeros(7)), chunk=2)
    np.testing.assert_allclose(from_dataset, eigvals, rtol=1e-9)


def test_compose_runs_in_order_with_one_generator(batch):
    pipeline = Compose([Pad(1), RandomCrop((6, 7)), Normalize(0.5, 0.5)])
    a = pipeline(batch, rng=np.random.default_rng(2))
    b = pipeline(batch, rng=np.random.default_rng(2))
    np.testing.assert_array_equal(a, b)
    rng = np.random.default_rng(2)
    expected = Normalize(0.5, 0.5)(RandomCrop((6, 7))(Pad(1)(batch), rng=rng))
    np.testing.assert_array_equal(a, expected)


@pytest.mark.parametrize("make, error, match", [
    (lambda: Pad(-1), ValueError, "non-negative"),
    (lambda: Pad((1, 2, 3)), TypeError, "2 or 4"),
    (lambda: Pad(1, padding_mode="wrap"), ValueError, "padding_mode"),
    (lambda: Normalize([0.5], [0.0]), ValueError, "positive"),
    (lambda: Normalize([[0.5]], [1.0]), ValueError, "1-D"),
    (lambda: RandomCrop(0), ValueError, "size"),
    (lambda: RandomCrop(3, padding=-1), ValueError, "padding"),
    (lambda: RandomCrop(3, padding=1.5), TypeError, "padding"),
    (lambda: RandomHorizontalFlip(1.5), ValueError, "p"),
    (lambda: PCAColorAugmentation([1.0, 2.0], np.eye(3)), ValueError, r"\(C, C\)"),
    (lambda: PCAColorAugmentation([-1.0], np.eye(1)), ValueError, "non-negative"),
    (lambda: PCAColorAugmentation([1.0], np.eye(1), std=-0.1), ValueError, "std"),
    (lambda: Compose([Pad(1), "crop"]), TypeError, r"transforms\[1\]"),
])
def test_bad_hyper_parameters(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_bad_batches(batch):
    with pytest.raises(ValueError, match=r"\(N, C, H, W\).*\(3, 6, 7\)"):
        Pad(1)(batch[0])
    with pytest.raises(ValueError, match="2 values.*3 channels"):
        Normalize([0.1, 0.2], [1.0, 1.0])(batch)
    with pytest.raises(TypeError, match="floating"):
        Normalize(0.1, 1.0)(batch.astype(np.uint8))
    with pytest.raises(ValueError, match="larger than the padded image"):
        RandomCrop(8)(batch)
    RandomCrop((6, 9), padding=(1, 0))(batch)  # (left/right, top/bottom): 7 + 2 columns fit
    with pytest.raises(ValueError, match="larger than the padded image"):
        RandomCrop((7, 9), padding=(1, 0))(batch)
    with pytest.raises(ValueError, match="3 channels.*has 1"):
        PCAColorAugmentation([1.0, 1.0, 1.0], np.eye(3))(batch[:, :1])
    with pytest.raises(ValueError, match="reflect"):
        Pad(6, padding_mode="reflect")(batch)
    with pytest.raises(TypeError, match="NumPy batch"):
        RandomHorizontalFlip()(batch.tolist())
