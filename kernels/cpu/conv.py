"""conv2d compiled with Numba: the same contract as kernels/reference/conv.py.

im2col path: the columns of the whole batch are laid out as (groups, C/groups*kh*kw, N*OH*OW),
so each group is ONE large GEMM (numpy.matmul -> BLAS) instead of N small ones; Numba does the
gathers (im2col), the scatter (col2im) and the (G, O/G, N, L) <-> (N, O, L) reshuffles.
direct path: loop nests over the output (forward), over input planes (grad input) and over
weights (grad weight), parallel over independent planes so no two threads write one element.
"""
import numpy as np
from numba import njit, prange


def _out(n, k, s, p, d):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


@njit(cache=True)
def _valid_range(o, s, p, off, n):
    """The outputs t in [0, o) whose input index t*s - p + off lies inside [0, n)."""
    lo = 0
    start = off - p
    if start < 0:
        lo = (-start + s - 1) // s
    hi = (n - 1 - start) // s + 1 if n - 1 - start >= 0 else 0
    return lo, max(lo, min(o, hi))


@njit(parallel=True, cache=True)
def _im2col_gl(x, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    """x (N, C, H, W) -> cols (C*kh*kw, N*oh*ow): rows (c, i, j), columns (n, oh, ow).

    The valid output range of each tap is computed once, so the inner copy has no branch
    (and is a plain contiguous copy when the stride is 1).
    """
    n, c, h, w = x.shape
    L = oh * ow
    cols = np.empty((c * kh * kw, n * L), dtype=x.dtype)
    for r in prange(c * kh * kw):
        ci = r // (kh * kw)
        i = (r // kw) % kh
        j = r % kw
        y0, y1 = _valid_range(oh, sh, ph, i * dh, h)
        x0, x1 = _valid_range(ow, sw, pw, j * dw, w)
        src0 = x0 * sw - pw + j * dw
        for b in range(n):
            for y in range(oh):
                o = b * L + y * ow
                if y < y0 or y >= y1:
                    for xo in range(ow):
                        cols[r, o + xo] = 0
                    continue
                ih = y * sh - ph + i * dh
                for xo in range(x0):
                    cols[r, o + xo] = 0
                for xo in range(x1, ow):
                    cols[r, o + xo] = 0
                for xo in range(x1 - x0):
                    cols[r, o + x0 + xo] = x[b, ci, ih, src0 + xo * sw]
    return cols


@njit(parallel=True, cache=True)
def _col2im_gl(cols, n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    """The adjoint of _im2col_gl; parallel over (n, c) planes, so writes never collide."""
    x = np.zeros((n, c, h, w), dtype=cols.dtype)
    L = oh * ow
    for p in prange(n * c):
        b = p // c
        ci = p % c
        for i in range(kh):
            y0, y1 = _valid_range(oh, sh, ph, i * dh, h)
            for j in range(kw):
                x0, x1 = _valid_range(ow, sw, pw, j * dw, w)
                r = (ci * kh + i) * kw + j
                src0 = x0 * sw - pw + j * dw
                for y in range(y0, y1):
                    ih = y * sh - ph + i * dh
                    o = b * L + y * ow + x0
                    for xo in range(x1 - x0):
                        x[b, ci, ih, src0 + xo * sw] += cols[r, o + xo]
    return x


@njit(parallel=True, cache=True)
def _gl_to_nol(yg, n, bias, has_bias):
    """(O, N*L) -> (N, O, L), adding the bias on the way."""
    o, nl = yg.shape
    L = nl // n
    y = np.empty((n, o, L), dtype=yg.dtype)
    for p in prange(n * o):
        b = p // o
        k = p % o
        add = bias[k] if has_bias else 0
        for l in range(L):
            y[b, k, l] = yg[k, b * L + l] + add
    return y


@njit(parallel=True, cache=True)
def _nol_to_gl(gy):
    """(N, O, L) -> (O, N*L)."""
    n, o, L = gy.shape
    out = np.empty((o, n * L), dtype=gy.dtype)
    for p in prange(n * o):
        b = p // o
        k = p % o
        for l in range(L):
            out[k, b * L + l] = gy[b, k, l]
    return out


def im2col(x, kernel_size, stride, padding, dilation):
    """(N, C, H, W) -> (N, C*kh*kw, OH*OW), the contract's layout."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    n, c, h, w = x.shape
    oh, ow = _out(h, kh, sh, ph, dh), _out(w, kw, sw, pw, dw)
    cols = _im2col_gl(np.ascontiguousarray(x), kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)
    return np.ascontiguousarray(cols.reshape(c * kh * kw, n, oh * ow).transpose(1, 0, 2))


def col2im(cols, x_shape, kernel_size, stride, padding, dilation):
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    n, c, h, w = x_shape
    oh, ow = _out(h, kh, sh, ph, dh), _out(w, kw, sw, pw, dw)
    gl = np.ascontiguousarray(cols.transpose(1, 0, 2)).reshape(c * kh * kw, n * oh * ow)
    return _col2im_gl(gl, n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)


# --- direct convolution ---------------------------------------------------------------------
@njit(parallel=True, cache=True)
def _direct_forward(x, w, bias, has_bias, sh, sw, ph, pw, dh, dw, groups, oh, ow):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    og = o // groups
    y = np.empty((n, o, oh, ow), dtype=x.dtype)
    for p in prange(n * o):
        b = p // o
        k = p % o
        c0 = (k // og) * cg
        acc = np.zeros((oh, ow), dtype=x.dtype)
        for ci in range(cg):
            for i in range(kh):
                for j in range(kw):
                    wv = w[k, ci, i, j]
                    for yy in range(oh):
                        ih = yy * sh - ph + i * dh
                        if ih < 0 or ih >= h:
                            continue
                        for xx in range(ow):
                            iw = xx * sw - pw + j * dw
                            if 0 <= iw < wd:
                                acc[yy, xx] += wv * x[b, c0 + ci, ih, iw]
        add = bias[k] if has_bias else 0
        for yy in range(oh):
            for xx in range(ow):
                y[b, k, yy, xx] = acc[yy, xx] + add
    return y


@njit(parallel=True, cache=True)
def _direct_grad_input(gy, w, h, wd, sh, sw, ph, pw, dh, dw, groups):
    n, o, oh, ow = gy.shape
    _, cg, kh, kw = w.shape
    og = o // groups
    c = cg * groups
    gx = np.zeros((n, c, h, wd), dtype=gy.dtype)
    for p in prange(n * c):
        b = p // c
        ch = p % c
        g = ch // cg
        ci = ch % cg
        for k in range(g * og, (g + 1) * og):
            for i in range(kh):
                for j in range(kw):
                    wv = w[k, ci, i, j]
                    for yy in range(oh):
                        ih = yy * sh - ph + i * dh
                        if ih < 0 or ih >= h:
                            continue
                        for xx in range(ow):
                            iw = xx * sw - pw + j * dw
                            if 0 <= iw < wd:
                                gx[b, ch, ih, iw] += wv * gy[b, k, yy, xx]
    return gx


@njit(parallel=True, cache=True)
def _direct_grad_weight(gy, x, kh, kw, sh, sw, ph, pw, dh, dw, groups):
    n, o, oh, ow = gy.shape
    _, c, h, wd = x.shape
    cg = c // groups
    og = o // groups
    gw = np.zeros((o, cg, kh, kw), dtype=x.dtype)
    for p in prange(o * cg):
        k = p // cg
        ci = p % cg
        ch = (k // og) * cg + ci
        for i in range(kh):
            for j in range(kw):
                acc = 0.0
                for b in range(n):
                    for yy in range(oh):
                        ih = yy * sh - ph + i * dh
                        if ih < 0 or ih >= h:
                            continue
                        for xx in range(ow):
                            iw = xx * sw - pw + j * dw
                            if 0 <= iw < wd:
                                acc += gy[b, k, yy, xx] * x[b, ch, ih, iw]
                gw[k, ci, i, j] = acc
    return gw


@njit(parallel=True, cache=True)
def _bias_grad(gy):
    n, o, oh, ow = gy.shape
    gb = np.zeros(o, dtype=gy.dtype)
    for k in prange(o):
        acc = 0.0  # float64 accumulator: a sum over N*OH*OW terms
        for b in range(n):
            for yy in range(oh):
                for xx in range(ow):
                    acc += gy[b, k, yy, xx]
        gb[k] = acc
    return gb


# --- the contract ---------------------------------------------------------------------------
def _bias_arg(b, o, dtype):
    return (np.zeros(o, dtype=dtype), False) if b is None else (np.ascontiguousarray(b), True)


def conv2d_forward(x, w, b, stride, padding, dilation, groups, algo):
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    oh, ow = _out(h, kh, sh, ph, dh), _out(wd, kw, sw, pw, dw)
    bias, has_bias = _bias_arg(b, o, x.dtype)
    if algo == "direct":
        return _direct_forward(x, w, bias, has_bias, sh, sw, ph, pw, dh, dw, groups, oh, ow)
    if algo != "im2col":
        raise ValueError(f"conv2d: unknown algo {algo!r}")
    cols = _im2col_gl(x, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)  # (C*kh*kw, N*L)
    cols = cols.reshape(groups, cg * kh * kw, n * oh * ow)
    yg = np.matmul(w.reshape(groups, o // groups, cg * kh * kw), cols).reshape(o, n * oh * ow)
    return _gl_to_nol(yg, n, bias, has_bias).reshape(n, o, oh, ow)


def conv2d_backward(gy, x, w, stride, padding, dilation, groups, algo, need_input_grad=True):
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    oh, ow = gy.shape[2], gy.shape[3]
    gy = np.ascontiguousarray(gy)
    gb = _bias_grad(gy)
    if algo == "direct":
        gw = _direct_grad_weight(gy, x, kh, kw, sh, sw, ph, pw, dh, dw, groups)
        gx = _direct_grad_input(gy, w, h, wd, sh, sw, ph, pw, dh, dw, groups) if need_input_grad else None
        return gx, gw, gb
    if algo != "im2col":
        raise ValueError(f"conv2d: unknown algo {algo!r}")
    K = cg * kh * kw
    g = _nol_to_gl(gy.reshape(n, o, oh * ow)).reshape(groups, o // groups, n * oh * ow)
    cols = _im2col_gl(x, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow).reshape(groups, K, n * oh * ow)
    gw = np.matmul(g, cols.transpose(0, 2, 1)).reshape(w.shape)
    gx = None
    if need_input_grad:
        wg = w.reshape(groups, o // groups, K)
        gcols = np.matmul(wg.transpose(0, 2, 1), g).reshape(c * kh * kw, n * oh * ow)
        gx = _col2im_gl(gcols, n, c, h, wd, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)
    return gx, gw, gb
