"""Pooling as Numba loops (same contract as kernels/reference/pool.py; see kernels/README.md).

Every (n, c) plane is independent, so each kernel runs `prange` over the N*C planes.

Fixed windows. With padding, a plane is first copied into a padded scratch plane (-inf for max,
0 for average); without, the plane itself is used. Then every window is complete, and tap t of
the window whose top-left corner is `corner` sits at `corner + offset[t]`: one flat loop of
kh*kw taps per output. This runs about twice as fast as nested row/column loops with the window
clamped to the input, whose two- or three-trip inner loops cost more in loop control than in
arithmetic. Backward kernels scatter into their own plane only, which is why they need no atomics.
"""
import numpy as np
from numba import njit, prange

from ._alloc import empty


def _out(n, k, s, p, d=1):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


@njit(cache=True)
def _tap_offsets(kh, kw, row_length, dh=1, dw=1):
    """offset[t] of tap t = (t // kw, t % kw) from the window's corner, in a flat plane; a dilated
    window reads every dh-th row and dw-th column, so dilation costs nothing in the hot loop."""
    offset = np.empty(kh * kw, np.int64)
    for t in range(kh * kw):
        offset[t] = (t // kw) * dh * row_length + (t % kw) * dw
    return offset


@njit(cache=True, inline="always")
def _first_real(start, d):
    """The first tap start + m*d (m >= 0) that is not in the leading padding."""
    return start if start >= 0 else start + (-start + d - 1) // d * d


@njit(cache=True)
def _padded(plane, h, w, ph, pw, fill):
    """The (h + 2ph) x (w + 2pw) plane, flattened, with `fill` around the copy of `plane`."""
    wp = w + 2 * pw
    out = np.full((h + 2 * ph) * wp, fill, plane.dtype)
    for r in range(h):
        out[(r + ph) * wp + pw:(r + ph) * wp + pw + w] = plane[r * w:(r + 1) * w]
    return out


@njit(cache=True)
def _has_nan(a):
    found = False
    for k in range(a.size):  # no early exit: an or-reduction vectorises
        found |= a[k] != a[k]
    return found


# --- max ----------------------------------------------------------------------------------------
@njit(cache=True, parallel=True)
def _max_forward(x, kh, kw, sh, sw, ph, pw, dh, dw, y, argmax):
    planes, h, w = x.shape
    oh, ow = y.shape[1], y.shape[2]
    wp = w + 2 * pw
    flat = x.reshape(planes, h * w)
    offset = _tap_offsets(kh, kw, wp, dh, dw)
    unpadded = _tap_offsets(kh, kw, w, dh, dw)  # the same taps in the input plane (no integer division)
    halving = kh == 2 and kw == 2 and sh == 2 and sw == 2 and ph == 0 and pw == 0 and dh == 1 and dw == 1
    for p in prange(planes):
        src = flat[p] if ph == 0 and pw == 0 else _padded(flat[p], h, w, ph, pw, -np.inf)
        # NaN must win (PyTorch: the last NaN in the window). Testing every tap for it triples
        # the cost of the hot loop, so only planes that hold a NaN pay for the test.
        nan_aware = _has_nan(flat[p])
        if halving and not nan_aware:
            _max_2x2(x[p], y[p], argmax[p])
            continue
        for i in range(oh):
            for j in range(ow):
                corner = i * sh * wp + j * sw
                best = src[corner]
                win = 0
                # Branch-free updates (selects): a mispredicted branch per new maximum costs more
                # than the comparison. Strictly greater keeps the first maximum in row-major order.
                if nan_aware:
                    for t in range(1, kh * kw):
                        v = src[corner + offset[t]]
                        better = (v > best) | (v != v)
                        best = v if better else best
                        win = t if better else win
                else:
                    for t in range(1, kh * kw):
                        v = src[corner + offset[t]]
                        better = v > best
                        best = v if better else best
                        win = t if better else win
                if best == -np.inf:
                    # every real tap is -inf, so a padded tap may have "won": PyTorch reports the
                    # first real one
                    win_index = _first_real(i * sh - ph, dh) * w + _first_real(j * sw - pw, dw)
                else:
                    win_index = (i * sh - ph) * w + (j * sw - pw) + unpadded[win]
                y[p, i, j] = best
                argmax[p, i, j] = win_index


@njit(cache=True, inline="always")
def _max_2x2(x, y, argmax):
    """The common 2x2 / stride 2 window (LeNet, VGG) of a plane without NaN, as a tournament of
    selects that LLVM vectorises across a row (6x the generic loop on LeNet-5's first pool).
    Ties go to the left pair, then to the left of a pair: the first maximum in row-major order."""
    w = x.shape[1]
    for i in range(y.shape[0]):
        top, bottom, yr, ar = x[2 * i], x[2 * i + 1], y[i], argmax[i]
        for j in range(y.shape[1]):
            a, b, c, d = top[2 * j], top[2 * j + 1], bottom[2 * j], bottom[2 * j + 1]
            upper, lower = b > a, d > c
            m1, w1 = (b, 1) if upper else (a, 0)
            m2, w2 = (d, w + 1) if lower else (c, w)
            down = m2 > m1
            yr[j] = m2 if down else m1
            ar[j] = 2 * i * w + 2 * j + (w2 if down else w1)


@njit(cache=True, parallel=True)
def _max_backward(gy, argmax, gx):
    hw = gx.shape[1]
    for p in prange(gx.shape[0]):
        gx[p] = 0
        for m in range(gy.shape[1]):
            a = argmax[p, m]
            if 0 <= a < hw:  # a dilated window without real taps may point outside: PyTorch drops it
                gx[p, a] += gy[p, m]


def max_pool2d_forward(x, kernel_size, stride, padding, dilation=(1, 1)):
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow = _out(h, kh, sh, ph, dh), _out(w, kw, sw, pw, dw)
    y = empty((n, c, oh, ow), x.dtype)
    argmax = empty((n, c, oh, ow), np.int64)
    _max_forward(x.reshape(n * c, h, w), kh, kw, sh, sw, ph, pw, dh, dw,
                 y.reshape(n * c, oh, ow), argmax.reshape(n * c, oh, ow))
    return y, argmax


def max_pool2d_backward(gy, argmax, x_shape):
    n, c, h, w = x_shape
    gx = empty(x_shape, gy.dtype)
    _max_backward(gy.reshape(n * c, -1), argmax.reshape(n * c, -1), gx.reshape(n * c, h * w))
    return gx


# --- average (count_include_pad=True) -----------------------------------------------------------
@njit(cache=True, parallel=True)
def _avg_forward(x, kh, kw, sh, sw, ph, pw, y):
    planes, h, w = x.shape
    oh, ow = y.shape[1], y.shape[2]
    wp = w + 2 * pw
    flat = x.reshape(planes, h * w)
    offset = _tap_offsets(kh, kw, wp)
    area = kh * kw  # padded taps count: the divisor is always the full window
    for p in prange(planes):
        src = flat[p] if ph == 0 and pw == 0 else _padded(flat[p], h, w, ph, pw, 0.0)
        for i in range(oh):
            for j in range(ow):
                corner = i * sh * wp + j * sw
                total = 0.0
                for t in range(area):
                    total += src[corner + offset[t]]
                y[p, i, j] = total / area


@njit(cache=True, parallel=True)
def _avg_backward(gy, kh, kw, sh, sw, ph, pw, gx):
    planes, h, w = gx.shape
    oh, ow = gy.shape[1], gy.shape[2]
    wp = w + 2 * pw
    flat = gx.reshape(planes, h * w)
    offset = _tap_offsets(kh, kw, wp)
    area = kh * kw
    padded = ph != 0 or pw != 0
    for p in prange(planes):
        # scatter into a padded scratch plane (shares landing in the padding are dropped below)
        dst = np.zeros((h + 2 * ph) * wp, gx.dtype) if padded else flat[p]
        if not padded:
            dst[:] = 0
        for i in range(oh):
            for j in range(ow):
                corner = i * sh * wp + j * sw
                share = gy[p, i, j] / area
                for t in range(area):
                    dst[corner + offset[t]] += share
        if padded:
            for r in range(h):
                flat[p, r * w:(r + 1) * w] = dst[(r + ph) * wp + pw:(r + ph) * wp + pw + w]


def avg_pool2d_forward(x, kernel_size, stride, padding):
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    oh, ow = _out(h, kh, sh, ph), _out(w, kw, sw, pw)
    y = empty((n, c, oh, ow), x.dtype)
    _avg_forward(x.reshape(n * c, h, w), kh, kw, sh, sw, ph, pw, y.reshape(n * c, oh, ow))
    return y


def avg_pool2d_backward(gy, x_shape, kernel_size, stride, padding):
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    gx = empty(x_shape, gy.dtype)
    _avg_backward(gy.reshape(n * c, gy.shape[2], gy.shape[3]), kh, kw, sh, sw, ph, pw,
                  gx.reshape(n * c, h, w))
    return gx


# --- adaptive average ---------------------------------------------------------------------------
# Windows differ in size from one output to the next, so these loop over each clamped window.
@njit(cache=True, inline="always")
def _bounds(i, n_in, n_out):
    """PyTorch's window for output i: [floor(i*n_in/n_out), ceil((i+1)*n_in/n_out))."""
    return (i * n_in) // n_out, ((i + 1) * n_in + n_out - 1) // n_out


@njit(cache=True, parallel=True)
def _adaptive_forward(x, y):
    planes, h, w = x.shape
    oh, ow = y.shape[1], y.shape[2]
    flat = x.reshape(planes, h * w)
    for p in prange(planes):
        plane = flat[p]
        for i in range(oh):
            hs, he = _bounds(i, h, oh)
            for j in range(ow):
                ws, we = _bounds(j, w, ow)
                total = 0.0
                for r in range(hs, he):
                    for k in range(r * w + ws, r * w + we):
                        total += plane[k]
                y[p, i, j] = total / ((he - hs) * (we - ws))


@njit(cache=True, parallel=True)
def _adaptive_backward(gy, gx):
    planes, h, w = gx.shape
    oh, ow = gy.shape[1], gy.shape[2]
    flat = gx.reshape(planes, h * w)
    for p in prange(planes):
        plane = flat[p]
        plane[:] = 0
        for i in range(oh):
            hs, he = _bounds(i, h, oh)
            for j in range(ow):
                ws, we = _bounds(j, w, ow)
                share = gy[p, i, j] / ((he - hs) * (we - ws))
                for r in range(hs, he):
                    for k in range(r * w + ws, r * w + we):
                        plane[k] += share


def adaptive_avg_pool2d_forward(x, output_size):
    n, c, h, w = x.shape
    oh, ow = output_size
    y = empty((n, c, oh, ow), x.dtype)
    _adaptive_forward(x.reshape(n * c, h, w), y.reshape(n * c, oh, ow))
    return y


def adaptive_avg_pool2d_backward(gy, x_shape, output_size):
    n, c, h, w = x_shape
    oh, ow = output_size
    gx = empty(x_shape, gy.dtype)
    _adaptive_backward(gy.reshape(n * c, oh, ow), gx.reshape(n * c, h, w))
    return gx
