"""Image operations behind `tinyconv.data.corruptions`, vectorised NumPy on (N, C, H, W) float64.

Filters loop over kernel taps (at most a few dozen), never over images or pixels: each tap is
one shifted slice of the whole batch. Geometric warps sample every output pixel at once.
"""
from __future__ import annotations

import numpy as np


def gaussian_kernel1d(sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian taps over [-ceil(3 sigma), ceil(3 sigma)]."""
    radius = max(1, int(np.ceil(3 * sigma)))
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def disk_kernel(radius: float, supersample: int = 8) -> np.ndarray:
    """A normalised disk: each tap is the fraction of its pixel inside the circle (anti-aliased,
    so a radius of 1.5 blurs more than 1.0 and less than 2.0)."""
    r = int(np.ceil(radius))
    offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
    centres = np.arange(-r, r + 1, dtype=np.float64)
    pos = (centres[:, None] + offsets[None, :]).ravel()  # sub-pixel positions, tap-major
    inside = (pos[:, None] ** 2 + pos[None, :] ** 2) <= radius ** 2
    k = inside.reshape(2 * r + 1, supersample, 2 * r + 1, supersample).mean(axis=(1, 3))
    if k.sum() == 0:  # a disk smaller than one sub-pixel (tiny images): it covers the centre only
        k[r, r] = 1.0
    return k / k.sum()


def correlate2d(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Same-size 2-D correlation of every plane of x with one kernel, reflect padding (as
    torchvision's gaussian_blur)."""
    kh, kw = kernel.shape
    ph, pw = kh // 2, kw // 2
    h, w = x.shape[-2:]
    xp = np.pad(x, ((0, 0),) * (x.ndim - 2) + ((ph, ph), (pw, pw)), mode="reflect")
    out = np.zeros_like(x)
    for i in range(kh):
        for j in range(kw):
            if kernel[i, j] != 0:
                out += kernel[i, j] * xp[..., i:i + h, j:j + w]
    return out


def correlate2d_per_image(x: np.ndarray, kernels: np.ndarray) -> np.ndarray:
    """Same-size 2-D correlation of image n of x (N, C, H, W) with its own kernels[n] (N, kh, kw),
    edge padding (PyTorch's "replicate"). Sparse kernels are cheap: each tap offset touches only
    the images whose kernel is non-zero there."""
    n, _, h, w = x.shape
    kh, kw = kernels.shape[1:]
    xp = np.pad(x, ((0, 0), (0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2)), mode="edge")
    out = np.zeros_like(x)
    for i in range(kh):
        for j in range(kw):
            hit = np.flatnonzero(kernels[:, i, j])
            if hit.size == n:
                out += kernels[:, i, j, None, None, None] * xp[:, :, i:i + h, j:j + w]
            elif hit.size:
                out[hit] += kernels[hit, i, j, None, None, None] * xp[hit, :, i:i + h, j:j + w]
    return out


def line_kernels(dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """(N, k, k) kernels, k = 2 * max|offset| + 3: kernel n averages bilinear reads at the
    offsets (dy[n, t], dx[n, t]) (N, T), i.e. correlating with it equals averaging the image
    sampled bilinearly at every pixel + offset (each read splits over 4 integer offsets)."""
    n, taps = dy.shape
    r = int(np.ceil(max(np.abs(dy).max(), np.abs(dx).max()))) + 1
    kernels = np.zeros((n, 2 * r + 1, 2 * r + 1))
    y0, x0 = np.floor(dy), np.floor(dx)
    fy, fx = dy - y0, dx - x0
    img = np.repeat(np.arange(n), taps)
    for oy, wy in ((0, 1 - fy), (1, fy)):
        for ox, wx in ((0, 1 - fx), (1, fx)):
            rows = (y0 + oy + r).astype(np.int64).ravel()
            cols = (x0 + ox + r).astype(np.int64).ravel()
            np.add.at(kernels, (img, rows, cols), (wy * wx).ravel() / taps)
    return kernels


def gaussian_filter(x: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of every plane (last two axes), reflect padding."""
    k = gaussian_kernel1d(sigma)
    return correlate2d(correlate2d(x, k[:, None]), k[None, :])


def sample_bilinear(x: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                    padding_mode: str = "zeros") -> np.ndarray:
    """Read x (N, C, H, W) at fractional positions rows, cols (N, H, W) (pixel centres at
    integers), the same positions for every channel. padding_mode as torch's grid_sample:
    "zeros" (outside reads 0) or "border" (outside reads the nearest edge pixel)."""
    n, c, h, w = x.shape
    if padding_mode == "border":
        xp, rows, cols = x, np.clip(rows, 0, h - 1), np.clip(cols, 0, w - 1)
    else:
        # one ring of zeros; positions beyond it only ever touch zeros, so clipping is exact
        xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        rows, cols = np.clip(rows, -1, h) + 1, np.clip(cols, -1, w) + 1
    hp, wp = xp.shape[2:]
    r0 = np.clip(np.floor(rows), 0, hp - 2).astype(np.int64)
    c0 = np.clip(np.floor(cols), 0, wp - 2).astype(np.int64)
    fr, fc = (rows - r0)[:, None], (cols - c0)[:, None]
    flat = xp.reshape(n, c, hp * wp)

    def tap(r, col):
        return np.take_along_axis(flat, (r * wp + col).reshape(n, 1, -1), axis=2).reshape(n, c, h, w)

    top = tap(r0, c0) * (1 - fc) + tap(r0, c0 + 1) * fc
    bottom = tap(r0 + 1, c0) * (1 - fc) + tap(r0 + 1, c0 + 1) * fc
    return top * (1 - fr) + bottom * fr


def pixel_grid(n: int, h: int, w: int):
    """rows, cols (N, H, W): every pixel's own position."""
    rows, cols = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    return np.broadcast_to(rows, (n, h, w)), np.broadcast_to(cols, (n, h, w))


def frequency_split(x: np.ndarray, cutoff: float):
    """(low, high) with low + high == x: low keeps the spatial frequencies of radius
    sqrt(fy^2 + fx^2) <= cutoff (cycles per pixel, Nyquist = 0.5) and nothing else (an ideal
    radial filter). Each plane is reflect-padded by half its size first, so the FFT's
    wrap-around does not mix opposite borders."""
    h, w = x.shape[-2:]
    ph, pw = h // 2, w // 2
    xp = np.pad(x, ((0, 0),) * (x.ndim - 2) + ((ph, ph), (pw, pw)), mode="reflect")
    hp, wp = xp.shape[-2:]
    radius = np.hypot(np.fft.fftfreq(hp)[:, None], np.fft.rfftfreq(wp)[None, :])
    spectrum = np.fft.rfft2(xp)
    low = np.fft.irfft2(spectrum * (radius <= cutoff), s=(hp, wp))[..., ph:ph + h, pw:pw + w]
    return low, x - low


def area_resize_matrix(n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in): output pixel i averages input pixels over [i, i + 1) * n_in / n_out,
    weighting each by its overlap (box / area downsampling)."""
    edges = np.arange(n_out + 1) * (n_in / n_out)
    lo, hi = edges[:-1, None], edges[1:, None]
    px = np.arange(n_in, dtype=np.float64)[None, :]
    overlap = np.clip(np.minimum(hi, px + 1) - np.maximum(lo, px), 0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def nearest_resize_matrix(n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in): output pixel i copies the input pixel whose area holds its centre."""
    src = np.minimum(((np.arange(n_out) + 0.5) * n_in / n_out).astype(np.int64), n_in - 1)
    m = np.zeros((n_out, n_in))
    m[np.arange(n_out), src] = 1.0
    return m
