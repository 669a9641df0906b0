"""Common image corruptions at five severities, for robustness tests (Hendrycks & Dietterich's
ImageNet-C protocol, with parameters chosen for 28x28 digits).

Every corruption is `f(images, severity, seed=None) -> corrupted`:

    images    float32 or float64 NumPy array, (N, C, H, W) or (N, H, W), values in [0, 1]
              (divide uint8 pixels by 255 first); the result has the same shape and dtype
    severity  an int 0..5; 0 returns an unchanged copy, 1..5 pick `SEVERITIES[name][severity - 1]`
    seed      an int (the same seed gives the same result for the same batch shape), a
              numpy Generator, or None (tinyconv's global generator: `tinyconv.manual_seed`)

Results are clipped to [0, 1]. Each function draws the same random numbers at every severity, so
one seed gives the same noise pattern, blur direction or rotation sign growing in strength.
Channels get independent noise but the same geometric warp. Spatial parameters are stated for
28x28 images and scale with min(H, W) / 28 (pixels grow with the image, frequency cutoffs shrink).

    name               parameter per severity 1..5
    gaussian_noise     standard deviation added to every pixel
    shot_noise         photons per unit intensity (Poisson counts / photons; fewer = noisier)
    impulse_noise      fraction of pixels set to 0 or 1 (salt and pepper, half each)
    gaussian_blur      Gaussian sigma (pixels), reflect padding
    defocus_blur       disk radius (pixels), anti-aliased, reflect padding
    motion_blur        streak length (pixels) along a random direction per image, border padding
    contrast           factor c: mean + c * (x - mean), mean per image and channel
    brightness         value added to every pixel
    pixelate           area-downsample to this fraction of the size, then nearest-upsample
    elastic_transform  RMS length (pixels) of the displacements along a smooth random field
                       (Simard et al. 2003: uniform noise blurred with sigma 4 px), bilinear,
                       zeros outside
    rotate             degrees, counter-clockwise or clockwise at random per image (as
                       torchvision's rotate: about the centre, filled with 0)
    translate          shift (pixels) in a random direction per image, filled with 0
    low_pass           keeps spatial frequencies up to this radius (cycles/pixel; Nyquist 0.5)
    high_pass          removes spatial frequencies up to this radius (cycles/pixel), keeps the
                       mean (zero frequency) so the image keeps its brightness

low_pass and high_pass are ideal radial filters in the frequency domain (`frequency_split`):
their two halves add up to the image exactly, which is what a cue-conflict image needs.
`elastic` is another name for `elastic_transform`. `CORRUPTIONS` maps every name to its function.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import random as _random
from . import _imageops as ops

CORRUPTIONS = {}
SEVERITIES = {}
_BASE_SIZE = 28  # the image size the spatial parameters are stated for


def _check_images(images, op: str) -> np.ndarray:
    if not isinstance(images, np.ndarray):
        raise TypeError(f"{op}: images must be a NumPy array, got {type(images).__name__}")
    if images.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: images must be float32 or float64 in [0, 1], got {images.dtype} "
                        f"(shape {images.shape}); convert uint8 pixels with .astype(np.float32) / 255")
    if images.ndim not in (3, 4):
        raise ValueError(f"{op}: images must be (N, C, H, W) or (N, H, W), got shape {images.shape}")
    if min(images.shape[-2:]) < 2:
        raise ValueError(f"{op}: images must be at least 2x2, got shape {images.shape}")
    if images.size and not np.isfinite(images).all():
        raise ValueError(f"{op}: images contain NaN or infinity (shape {images.shape})")
    if images.size and (images.min() < 0 or images.max() > 1):
        raise ValueError(f"{op}: images must lie in [0, 1], got values in "
                         f"[{images.min():.4g}, {images.max():.4g}] (shape {images.shape}); "
                         "scale uint8 pixels by 1/255")
    return images


def _check_severity(severity, op: str) -> int:
    if isinstance(severity, bool) or not isinstance(severity, numbers.Integral):
        raise TypeError(f"{op}: severity must be an int in 0..5, got {severity!r}")
    if not 0 <= severity <= 5:
        raise ValueError(f"{op}: severity must be in 0..5 (0 = unchanged), got {severity}")
    return int(severity)


def _generator(seed, op: str) -> np.random.Generator:
    if seed is None:
        return _random.generator()
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{op}: seed must be an int, a numpy Generator or None, got {seed!r}")
    if seed < 0:
        raise ValueError(f"{op}: seed must be >= 0, got {seed}")
    return np.random.default_rng(int(seed))


def _corruption(*params):
    """Register `core(x, param, rng, scale)` (x float64 (N, C, H, W), scale = min(H, W) / 28)
    as the public `f(images, severity, seed=None)` under its own name."""
    assert len(params) == 5

    def register(core):
        name = core.__name__

        def corrupt(images, severity, seed=None):
            _check_images(images, name)
            level = _check_severity(severity, name)
            rng = _generator(seed, name)
            if level == 0 or images.size == 0:
                return images.copy()
            x = images.astype(np.float64).reshape((images.shape[0], -1) + images.shape[-2:])
            out = core(x, params[level - 1], rng, min(x.shape[-2:]) / _BASE_SIZE)
            return np.clip(out, 0.0, 1.0).astype(images.dtype).reshape(images.shape)

        corrupt.__name__ = corrupt.__qualname__ = name
        corrupt.__doc__ = (f"{core.__doc__.strip()}\n\n{name}(images, severity, seed=None): images "
                           f"(N, C, H, W) or (N, H, W) in [0, 1]; severity 0..5 with parameters "
                           f"{params}; see tinyconv.data.corruptions.")
        CORRUPTIONS[name] = corrupt
        SEVERITIES[name] = params
        return corrupt
    return register


@_corruption(0.08, 0.12, 0.18, 0.26, 0.38)
def gaussian_noise(x, sigma, rng, scale):
    """Additive Gaussian noise of standard deviation `sigma` on every pixel and channel."""
    return x + sigma * rng.standard_normal(x.shape)


@_corruption(60, 25, 12, 5, 3)
def shot_noise(x, photons, rng, scale):
    """Photon (Poisson) noise: each pixel becomes Poisson(x * photons) / photons."""
    return rng.poisson(x * photons) / photons


@_corruption(0.03, 0.06, 0.09, 0.17, 0.27)
def impulse_noise(x, amount, rng, scale):
    """Salt-and-pepper noise: a fraction `amount` of the pixels turns 0 or 1 (half each); a
    pixel hit at one severity is hit at every higher one."""
    hit, salt = rng.random(x.shape), rng.random(x.shape) < 0.5
    return np.where(hit < amount, salt.astype(np.float64), x)


@_corruption(0.5, 0.75, 1.0, 1.5, 2.0)
def gaussian_blur(x, sigma, rng, scale):
    """Gaussian blur with standard deviation `sigma` pixels (kernel radius ceil(3 sigma))."""
    return ops.gaussian_filter(x, sigma * scale)


@_corruption(0.75, 1.0, 1.5, 2.0, 2.5)
def defocus_blur(x, radius, rng, scale):
    """Out-of-focus blur: the average over an anti-aliased disk of `radius` pixels."""
    return ops.correlate2d(x, ops.disk_kernel(radius * scale))


@_corruption(2.0, 3.5, 5.0, 7.0, 9.0)
def motion_blur(x, length, rng, scale):
    """Camera shake: the average along a straight streak of `length` pixels centred on each
    pixel, in a direction drawn per image."""
    angle = rng.uniform(0, np.pi, size=(x.shape[0], 1))
    length = length * scale
    # taps at most half a pixel apart (bilinear reads between them leave no gaps), at the
    # midpoints of equal pieces of the streak, so their spread is the streak's (L^2 / 12)
    n = int(np.ceil(2 * length))
    steps = ((np.arange(n) + 0.5) / n - 0.5) * length
    kernels = ops.line_kernels(steps * np.sin(angle), steps * np.cos(angle))
    return ops.correlate2d_per_image(x, kernels)


@_corruption(0.4, 0.3, 0.2, 0.1, 0.05)
def contrast(x, factor, rng, scale):
    """Contrast reduced to `factor` around each image's (and channel's) mean."""
    mean = x.mean(axis=(2, 3), keepdims=True)
    return mean + factor * (x - mean)


@_corruption(0.1, 0.2, 0.3, 0.4, 0.5)
def brightness(x, delta, rng, scale):
    """`delta` added to every pixel (then clipped: bright strokes saturate)."""
    return x + delta


@_corruption(0.6, 0.5, 0.4, 0.3, 0.25)
def pixelate(x, fraction, rng, scale):
    """Blocky resampling: box-average down to `fraction` of the size, nearest-neighbour back."""
    h, w = x.shape[2:]
    sh, sw = max(1, round(h * fraction)), max(1, round(w * fraction))
    down_up_h = ops.nearest_resize_matrix(h, sh) @ ops.area_resize_matrix(sh, h)
    down_up_w = ops.nearest_resize_matrix(w, sw) @ ops.area_resize_matrix(sw, w)
    return down_up_h @ x @ down_up_w.T


@_corruption(0.7, 1.4, 2.1, 2.8, 3.5)
def elastic_transform(x, displacement, rng, scale):
    """Elastic distortion (Simard et al. 2003): every pixel moves along a smooth random field
    (uniform noise blurred with sigma 4 px) scaled to an RMS length of `displacement` pixels."""
    n = x.shape[0]
    field = ops.gaussian_filter(rng.uniform(-1, 1, size=(n, 2) + x.shape[2:]), 4.0 * scale)
    rms = np.sqrt((field ** 2).sum(axis=1, keepdims=True).mean(axis=(2, 3), keepdims=True))
    field *= displacement * scale / np.maximum(rms, 1e-12)
    rows, cols = ops.pixel_grid(n, *x.shape[2:])
    return ops.sample_bilinear(x, rows + field[:, 0], cols + field[:, 1], "zeros")


elastic = elastic_transform


@_corruption(10.0, 20.0, 30.0, 45.0, 60.0)
def rotate(x, degrees, rng, scale):
    """Rotation by `degrees` about the image centre, counter-clockwise or clockwise at random
    per image (positive = counter-clockwise, as torchvision); bilinear, 0 outside."""
    n, _, h, w = x.shape
    theta = np.deg2rad(degrees) * rng.choice([-1.0, 1.0], size=(n, 1, 1))
    rows, cols = ops.pixel_grid(n, h, w)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    # output pixel (y up, x right) reads the source point rotated back by -theta
    xo, yo = cols - cx, cy - rows
    xs = np.cos(theta) * xo + np.sin(theta) * yo
    ys = -np.sin(theta) * xo + np.cos(theta) * yo
    return ops.sample_bilinear(x, cy - ys, xs + cx, "zeros")


@_corruption(1.5, 3.0, 4.5, 6.0, 7.5)
def translate(x, shift, rng, scale):
    """A shift of `shift` pixels in a direction drawn per image; bilinear, 0 outside."""
    n, _, h, w = x.shape
    direction = rng.uniform(0, 2 * np.pi, size=(n, 1, 1))
    rows, cols = ops.pixel_grid(n, h, w)
    d = shift * scale
    return ops.sample_bilinear(x, rows - d * np.sin(direction), cols - d * np.cos(direction), "zeros")


@_corruption(0.25, 0.18, 0.13, 0.09, 0.06)
def low_pass(x, cutoff, rng, scale):
    """Ideal low-pass filter: only spatial frequencies of radius <= `cutoff` cycles/pixel stay."""
    return ops.frequency_split(x, cutoff / scale)[0]


@_corruption(0.02, 0.04, 0.06, 0.09, 0.13)
def high_pass(x, cutoff, rng, scale):
    """Ideal high-pass filter: spatial frequencies of radius <= `cutoff` cycles/pixel are
    removed, the mean brightness is put back."""
    return ops.frequency_split(x, cutoff / scale)[1] + x.mean(axis=(2, 3), keepdims=True)


def frequency_split(images, cutoff):
    """(low, high), both the dtype and shape of `images`, with low + high == images (to rounding):
    `low` holds the spatial frequencies of radius sqrt(fy^2 + fx^2) <= cutoff cycles/pixel, `high`
    the rest (zero mean, negative values). Unlike the corruptions nothing is clipped and the
    cutoff is not rescaled with the image size. Planes are reflect-padded by half their size
    before the FFT, so opposite borders do not leak into each other."""
    _check_images(images, "frequency_split")
    if isinstance(cutoff, bool) or not isinstance(cutoff, numbers.Real) or not 0 <= cutoff:
        raise ValueError(f"frequency_split: cutoff must be a number >= 0 (cycles/pixel), got {cutoff!r}")
    low, high = ops.frequency_split(images.astype(np.float64), float(cutoff))
    return low.astype(images.dtype), high.astype(images.dtype)


__all__ = ["CORRUPTIONS", "SEVERITIES", "frequency_split", "elastic", *CORRUPTIONS]
