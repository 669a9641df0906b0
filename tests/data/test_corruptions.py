"""tinyconv.data.corruptions: contract (determinism, range, identity, monotone severity, bad
input) for every corruption, and each one's geometry or statistics measured on crafted images."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinyconv as tc
from tinyconv import data
from tinyconv.data import corruptions as C

NAMES = sorted(C.CORRUPTIONS)
RANDOM = {"gaussian_noise", "shot_noise", "impulse_noise", "motion_blur", "elastic_transform",
          "rotate", "translate"}


@pytest.fixture(scope="module")
def digits():
    return data.MNIST(train=False).data[:32].astype(np.float32) / 255


def _blob(size=28, centre=None, sigma=1.5):
    cy, cx = centre if centre is not None else ((size - 1) / 2, (size - 1) / 2)
    r, c = np.mgrid[:size, :size]
    return np.exp(-((r - cy) ** 2 + (c - cx) ** 2) / (2 * sigma ** 2))


def _centroid(img):
    r, c = np.mgrid[:img.shape[-2], :img.shape[-1]]
    m = img.sum(axis=(-2, -1))
    return (img * r).sum(axis=(-2, -1)) / m, (img * c).sum(axis=(-2, -1)) / m


def test_registry_lists_every_corruption_with_five_severities():
    assert NAMES == sorted(["gaussian_noise", "shot_noise", "impulse_noise", "gaussian_blur",
                            "defocus_blur", "motion_blur", "contrast", "brightness", "pixelate",
                            "elastic_transform", "rotate", "translate", "low_pass", "high_pass"])
    assert C.elastic is C.elastic_transform and tc.data.corruptions is C
    for name, f in C.CORRUPTIONS.items():
        assert f.__name__ == name and getattr(C, name) is f and len(C.SEVERITIES[name]) == 5
        assert "severity" in f.__doc__


@pytest.mark.parametrize("name", NAMES)
def test_contract(name, digits):
    f = C.CORRUPTIONS[name]
    # severity 0 is the identity, as a new array
    out = f(digits, 0, seed=1)
    assert out is not digits and np.array_equal(out, digits)
    # deterministic for a seed, shape / dtype / range kept, both layouts, both dtypes
    for x in (digits, digits[:, None].astype(np.float64)):
        a, b = f(x, 3, seed=7), f(x, 3, seed=7)
        assert a.shape == x.shape and a.dtype == x.dtype and np.array_equal(a, b)
        assert a.min() >= 0 and a.max() <= 1
    if name in RANDOM:
        assert not np.array_equal(f(digits, 3, seed=7), f(digits, 3, seed=8))
        tc.manual_seed(5)
        first = f(digits, 2)
        tc.manual_seed(5)
        assert np.array_equal(first, f(digits, 2))
        rng = np.random.default_rng(7)
        assert np.array_equal(f(digits, 3, seed=rng), f(digits, 3, seed=7))
    else:  # the seed does not matter
        assert np.array_equal(f(digits, 3, seed=7), f(digits, 3, seed=8))
    # the 3-D and the 4-D layout give the same images
    assert np.array_equal(f(digits, 4, seed=3), f(digits[:, None], 4, seed=3)[:, 0])
    # float32 follows float64 to float32 rounding
    np.testing.assert_allclose(f(digits, 4, seed=3), f(digits.astype(np.float64), 4, seed=3), atol=1e-6)
    # the effect grows with the severity: mean distance from the clean digits
    dist = [np.abs(f(digits, s, seed=11) - digits).mean() for s in range(6)]
    assert dist[0] == 0 and all(b > a for a, b in zip(dist, dist[1:])), dist


@pytest.mark.parametrize("name", NAMES)
def test_colour_images_keep_shape_range_and_get_one_warp_for_all_channels(name, rng):
    x = rng.random((3, 3, 20, 24))
    x[:, 1] = x[:, 0]  # two identical channels stay identical unless the corruption is noise
    y = C.CORRUPTIONS[name](x, 5, seed=2)
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1
    same = np.array_equal(y[:, 0], y[:, 1])
    assert same == (name not in {"gaussian_noise", "shot_noise", "impulse_noise"})


@given(name=st.sampled_from(NAMES), severity=st.integers(0, 5), n=st.integers(1, 3),
       channels=st.sampled_from([None, 1, 3]), h=st.integers(2, 13), w=st.integers(2, 13),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2 ** 32),
       data_seed=st.integers(0, 2 ** 16))
def test_any_shape_keeps_shape_dtype_range_and_replays(name, severity, n, channels, h, w, dtype, seed, data_seed):
    shape = (n, h, w) if channels is None else (n, channels, h, w)
    x = np.random.default_rng(data_seed).random(shape).astype(dtype)
    f = C.CORRUPTIONS[name]
    y = f(x, severity, seed=seed)
    assert y.shape == x.shape and y.dtype == x.dtype and np.isfinite(y).all()
    assert y.min() >= 0 and y.max() <= 1
    assert np.array_equal(y, f(x, severity, seed=seed))
    if severity == 0:
        assert np.array_equal(y, x)


def test_bad_input_is_refused_by_name():
    x = np.zeros((2, 8, 8), np.float32)
    f = C.gaussian_noise
    with pytest.raises(TypeError, match="float32 or float64.*uint8"):
        f(np.zeros((2, 8, 8), np.uint8), 1)
    with pytest.raises(TypeError, match="NumPy array.*list"):
        f(x.tolist(), 1)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\) or \(N, H, W\).*\(8, 8\)"):
        f(x[0], 1)
    with pytest.raises(ValueError, match=r"at least 2x2.*\(2, 1, 8\)"):
        f(np.zeros((2, 1, 8), np.float32), 1)
    with pytest.raises(ValueError, match=r"\[0, 1\].*255"):
        f(x + 2, 1)
    with pytest.raises(ValueError, match="NaN"):
        f(np.full((2, 8, 8), np.nan), 1)
    for bad in (6, -1):
        with pytest.raises(ValueError, match="severity must be in 0..5"):
            f(x, bad)
    for bad in (2.0, True, "3"):
        with pytest.raises(TypeError, match="severity must be an int"):
            f(x, bad)
    with pytest.raises(TypeError, match="seed"):
        f(x, 1, seed="a")
    with pytest.raises(ValueError, match="seed must be >= 0"):
        f(x, 1, seed=-1)
    with pytest.raises(ValueError, match="cutoff"):
        C.frequency_split(x, -0.1)
    assert C.rotate(np.zeros((0, 8, 8)), 3).shape == (0, 8, 8)


def test_noise_statistics():
    grey = np.full((4, 64, 64), 0.5)
    sigma = C.SEVERITIES["gaussian_noise"][0]
    assert abs((C.gaussian_noise(grey, 1, seed=0) - 0.5).std() - sigma) < 0.003
    photons = C.SEVERITIES["shot_noise"][2]
    y = C.shot_noise(grey, 3, seed=0)
    assert abs(y.mean() - 0.5) < 0.005 and abs(y.var() - 0.5 / photons) < 0.1 * 0.5 / photons
    hit = [C.impulse_noise(grey, s, seed=0) != 0.5 for s in range(1, 6)]
    for s, h in enumerate(hit):
        assert abs(h.mean() - C.SEVERITIES["impulse_noise"][s]) < 0.01
    for a, b in zip(hit, hit[1:]):  # a pixel hit once stays hit
        assert not (a & ~b).any()
    assert set(np.unique(C.impulse_noise(grey, 5, seed=0))) == {0.0, 0.5, 1.0}


def test_blurs_spread_a_point_as_their_kernels():
    point = np.zeros((1, 28, 28))  # at 28x28 the parameters are in pixels as stated
    point[0, 14, 14] = 1.0
    r, c = np.mgrid[:28, :28] - 14
    g = C.gaussian_blur(point, 5)[0]  # sigma 2 px
    assert g.sum() == pytest.approx(1, abs=1e-12)
    # variance sigma^2, less the tails beyond the kernel's 3 sigma (1.2%)
    assert (g * r ** 2).sum() == pytest.approx(4.0, rel=0.02) and (g * c ** 2).sum() == pytest.approx(4.0, rel=0.02)
    d = C.defocus_blur(point, 5)[0]  # radius 2.5 px
    assert d.sum() == pytest.approx(1, abs=1e-12) and d[np.hypot(r, c) > 3.3].max() == 0
    assert np.ptp(d[np.hypot(r, c) <= 1.5]) < 1e-12  # flat inside the disk
    tiny = np.random.default_rng(0).random((1, 2, 2))  # radius 0.75 * 2/28 px: less than a pixel
    np.testing.assert_array_equal(C.defocus_blur(tiny, 1), tiny)
    # motion blur: a streak of the stated length (uniform along a line: variance L^2 / 12)
    m = C.motion_blur(np.repeat(point, 6, axis=0), 5, seed=4)
    length = C.SEVERITIES["motion_blur"][4]
    for img in m:
        assert img.sum() == pytest.approx(1, abs=1e-9)
        cov = np.cov(np.stack([r.ravel(), c.ravel()]), aweights=img.ravel(), bias=True)
        minor, major = np.linalg.eigvalsh(cov)
        assert major == pytest.approx(length ** 2 / 12, rel=0.05) and minor < 0.35


def test_rotate_and_translate_move_a_blob_where_they_say():
    blob = np.repeat(_blob(28, centre=(13.5, 20.5))[None], 16, axis=0)
    for s, degrees in enumerate(C.SEVERITIES["rotate"], 1):
        cy, cx = _centroid(C.rotate(blob, s, seed=1))
        theta = np.deg2rad(degrees)
        # counter-clockwise moves a point right of the centre up (row decreases), clockwise down
        ccw, cw = (13.5 - 7 * np.sin(theta), 13.5 + 7 * np.sin(theta))
        assert np.allclose(cx, 13.5 + 7 * np.cos(theta), atol=0.05)
        assert all(min(abs(y - ccw), abs(y - cw)) < 0.05 for y in cy)
        assert np.any(abs(cy - ccw) < 0.05) and np.any(abs(cy - cw) < 0.05)
    centre = _blob(28)[None].repeat(16, axis=0)
    for s, shift in enumerate(C.SEVERITIES["translate"], 1):
        cy, cx = _centroid(C.translate(centre, s, seed=3))
        assert np.allclose(np.hypot(cy - 13.5, cx - 13.5), shift, atol=0.02)
    # at twice the size every pixel distance doubles
    cy, cx = _centroid(C.translate(_blob(56)[None], 2, seed=3))
    assert np.hypot(cy - 27.5, cx - 27.5) == pytest.approx(2 * C.SEVERITIES["translate"][1], abs=0.02)


def test_elastic_displacement_has_the_stated_rms():
    # bilinear sampling is exact on a ramp: (warped - ramp) / slope is the displacement itself;
    # a channel of ones reads exactly 1 wherever no tap fell outside the image
    r, c = np.mgrid[:64, :64] / 63.0
    ramps = np.stack([0.25 + 0.5 * r, 0.25 + 0.5 * c, np.ones_like(r)])[None].repeat(8, axis=0)
    for s in (1, 3, 5):
        warped = C.elastic_transform(ramps, s, seed=6)
        disp = (warped[:, :2] - ramps[:, :2]) / (0.5 / 63)
        inside = np.abs(warped[:, 2] - 1) < 1e-12
        assert inside.mean() > 0.8
        rms = np.sqrt((disp ** 2).sum(axis=1)[inside].mean())
        want = C.SEVERITIES["elastic_transform"][s - 1] * 64 / 28
        assert rms == pytest.approx(want, rel=0.15)
        # smooth: neighbouring displacements differ by far less than the displacement
        both = inside[:, :, 1:] & inside[:, :, :-1]
        assert np.abs(np.diff(disp, axis=-1))[:, 0][both].mean() < 0.15 * rms


def test_contrast_brightness_pixelate_values():
    rng = np.random.default_rng(0)
    x = rng.random((2, 2, 28, 28))
    mean = x.mean(axis=(2, 3), keepdims=True)
    np.testing.assert_allclose(C.contrast(x, 1), mean + 0.4 * (x - mean), atol=1e-15)
    np.testing.assert_allclose(C.brightness(x, 2), np.minimum(x + 0.2, 1), atol=1e-15)
    # severity 5 keeps a quarter of the size: 28 -> 7, each 4x4 block becomes its mean
    blocks = x.reshape(2, 2, 7, 4, 7, 4).mean(axis=(3, 5))
    np.testing.assert_allclose(C.pixelate(x, 5), blocks.repeat(4, axis=2).repeat(4, axis=3), atol=1e-14)


def test_frequency_split():
    rng = np.random.default_rng(1)
    x = rng.random((3, 2, 20, 26))
    low, high = C.frequency_split(x, 0.1)
    np.testing.assert_allclose(low + high, x, atol=1e-14)
    # a checkerboard is the Nyquist frequency (radius 0.71): below it only the mean is left
    board = (np.indices((16, 16)).sum(0) % 2).astype(np.float64)[None]
    low, high = C.frequency_split(board, 0.45)
    np.testing.assert_allclose(low, 0.5, atol=1e-12)
    np.testing.assert_allclose(C.frequency_split(board, 0.71)[0], board, atol=1e-12)
    # a constant image has only the zero frequency: it is all low
    low, high = C.frequency_split(np.full((1, 10, 10), 0.3, np.float32), 0.0)
    assert low.dtype == np.float32 and np.allclose(low, 0.3) and np.allclose(high, 0, atol=1e-7)
    # the corruptions: low_pass of a smooth blob changes it little, of the board removes it;
    # high_pass keeps the board and the mean brightness, removes the blob
    blob = _blob(28, sigma=4.0)[None]
    board28 = (np.indices((28, 28)).sum(0) % 2).astype(np.float64)[None]
    assert np.abs(C.low_pass(blob, 1) - blob).max() < 0.02
    np.testing.assert_allclose(C.low_pass(board28, 1), 0.5, atol=1e-12)
    np.testing.assert_allclose(C.high_pass(board28, 1), board28, atol=1e-12)
    hp = C.high_pass(blob, 5)
    assert np.abs(hp - blob.mean()).max() < 0.1 * np.abs(blob - blob.mean()).max()


def test_motion_blur_equals_averaged_bilinear_shifts(rng):
    # the per-image kernels are a shortcut for: read the image at every tap of the streak
    # (bilinear, edge pixels outside) and average
    from tinyconv.data import _imageops as ops
    x = rng.random((4, 2, 12, 15))
    length = C.SEVERITIES["motion_blur"][3] * 12 / 28
    angle = np.random.default_rng(9).uniform(0, np.pi, size=(4, 1, 1))
    n = int(np.ceil(2 * length))
    rows, cols = ops.pixel_grid(4, 12, 15)
    want = np.mean([ops.sample_bilinear(x, rows + t * np.sin(angle), cols + t * np.cos(angle), "border")
                    for t in ((np.arange(n) + 0.5) / n - 0.5) * length], axis=0)
    np.testing.assert_allclose(C.motion_blur(x, 4, seed=9), np.clip(want, 0, 1), atol=1e-12)
