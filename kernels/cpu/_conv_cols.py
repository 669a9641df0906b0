"""Columns for conv2d: im2col / col2im of one work item (a run of samples, a run of channels).

Two layouts of the columns of a sample:
- rows: row r = (c, i, j), columns (oh, ow) as in the contract. For any stride. For each tap
  the outputs whose input lies inside the image are found once (`valid_range`), so the copy of
  a row has no test in it.
- wide (stride 1 only): output (y, x) reads padded input (y + i*dh, x + j*dw). Numbering the
  outputs p = y*Wp + x (Wp: padded width) makes each kernel tap ONE contiguous slice of the
  padded plane, starting at i*dh*Wp + j*dw, of length Lw = (OH-1)*Wp + OW: im2col and col2im
  become long vectorised copies. The Wp - OW positions past each output row are computed and
  dropped; their gradient is 0, so they add nothing to the weight gradient.
"""
from numba import njit

from . import _vec


@njit(cache=True)
def valid_range(o, s, p, off, n):
    """[lo, hi): the outputs t in [0, o) whose input index t*s - p + off lies inside [0, n)."""
    start = off - p
    lo = (-start + s - 1) // s if start < 0 else 0
    lo = min(lo, o)  # a tap that never lands inside the input: empty, never past the row end
    hi = (n - 1 - start) // s + 1 if n - 1 - start >= 0 else 0
    return lo, max(lo, min(o, hi))


def wide_length(oh, ow, kw, dw):
    return (oh - 1) * (ow + (kw - 1) * dw) + ow


@njit(cache=True)
def _split_phases(plane, sw, phases):
    """phases[q, y, m] = plane[y, q + m*sw]: each column phase of a strided conv made contiguous."""
    h, w = plane.shape
    for q in range(sw):
        for y in range(h):
            src = plane[y, q::sw]
            _vec.copy(phases[q, y, :src.shape[0]], src)


@njit(cache=True)
def im2col_rows(x, n0, ns, step, c0, cg, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, cols, scratch):
    """cols (cg*kh*kw, ns*oh*ow) <- samples n0, n0+step, ... (ns of them), channels [c0, c0+cg)
    of x.

    With a column stride sw > 1 and `scratch` shaped (1, sw, H, ceil(W/sw)), each input plane is
    first split into its sw column phases, so that every tap's row becomes a contiguous copy
    instead of a strided gather (AlexNet conv1: 11 taps read each input row at stride 4)."""
    h, w = x.shape[2], x.shape[3]
    L = oh * ow
    phased = sw > 1 and scratch.shape[1] == sw
    for s in range(ns):
        for ci in range(cg):
            plane = x[n0 + s * step, c0 + ci]
            if phased:
                _split_phases(plane, sw, scratch[0])
            for i in range(kh):
                y0, y1 = valid_range(oh, sh, ph, i * dh, h)
                for j in range(kw):
                    x0, x1 = valid_range(ow, sw, pw, j * dw, w)
                    row = cols[(ci * kh + i) * kw + j, s * L:(s + 1) * L]
                    if x1 == x0:  # no output of this tap sees the image (and an empty strided
                        row[:] = 0  # slice would wrap around): the row is all padding
                        continue
                    src0 = x0 * sw - pw + j * dw
                    row[:y0 * ow] = 0
                    row[y1 * ow:] = 0
                    for y in range(y0, y1):
                        dst = row[y * ow:(y + 1) * ow]
                        dst[:x0] = 0
                        dst[x1:] = 0
                        iy = y * sh - ph + i * dh
                        if sw == 1:
                            _vec.copy(dst[x0:x1], plane[iy, src0:src0 + x1 - x0])
                        elif phased:
                            m0 = src0 // sw
                            _vec.copy(dst[x0:x1], scratch[0, src0 % sw, iy, m0:m0 + x1 - x0])
                        else:
                            _vec.copy(dst[x0:x1], plane[iy, src0:src0 + (x1 - x0 - 1) * sw + 1:sw])


@njit(cache=True)
def col2im_rows(cols, n0, ns, step, c0, cg, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, gx):
    """gx[n0:n0+ns*step:step, c0:c0+cg] = the adjoint of im2col_rows applied to cols (overwrites)."""
    h, w = gx.shape[2], gx.shape[3]
    L = oh * ow
    for s in range(ns):
        for ci in range(cg):
            plane = gx[n0 + s * step, c0 + ci]
            plane[:] = 0
            for i in range(kh):
                y0, y1 = valid_range(oh, sh, ph, i * dh, h)
                for j in range(kw):
                    x0, x1 = valid_range(ow, sw, pw, j * dw, w)
                    if x1 == x0:  # no output of this tap sees the image (an empty
                        continue  # strided slice would wrap around)
                    dst0 = x0 * sw - pw + j * dw
                    row = cols[(ci * kh + i) * kw + j, s * L:(s + 1) * L]
                    for y in range(y0, y1):
                        src = row[y * ow + x0:y * ow + x1]
                        dst = plane[y * sh - ph + i * dh]
                        if sw == 1:
                            _vec.add(dst[dst0:dst0 + x1 - x0], src)
                        else:
                            _vec.add(dst[dst0:dst0 + (x1 - x0 - 1) * sw + 1:sw], src)


@njit(cache=True)
def pad_planes(x, n0, ns, step, c0, cg, ph, pw, xp):
    """xp[:ns] (each cg x (H+2ph) x (W+2pw)) <- zero-padded samples n0, n0+step, ... (ns of
    them), channels [c0, c0+cg) of x."""
    h, w = x.shape[2], x.shape[3]
    for s in range(ns):
        for ci in range(cg):
            plane = xp[s, ci]
            plane[:ph] = 0
            plane[ph + h:] = 0
            for yy in range(h):
                row = plane[ph + yy]
                row[:pw] = 0
                row[pw + w:] = 0
                _vec.copy(row[pw:pw + w], x[n0 + s * step, c0 + ci, yy])


@njit(cache=True)
def crop_planes(gp, ns, n0, step, c0, cg, ph, pw, gx):
    """gx[n0:n0+ns*step:step, c0:c0+cg] <- the interior of padded planes gp[:ns, :cg]."""
    h, w = gx.shape[2], gx.shape[3]
    for s in range(ns):
        for ci in range(cg):
            for yy in range(h):
                _vec.copy(gx[n0 + s * step, c0 + ci, yy], gp[s, ci, ph + yy, pw:pw + w])


@njit(cache=True)
def im2col_wide(xp, n0, ns, step, c0, cg, kh, kw, dh, dw, Lw, cols):
    """cols (cg*kh*kw, ns*Lw) from the padded planes xp[n0:n0+ns*step:step, c0:c0+cg] (each
    Hp x Wp)."""
    Wp = xp.shape[3]
    for s in range(ns):
        for ci in range(cg):
            src = xp[n0 + s * step, c0 + ci].ravel()  # a C-contiguous plane: ravel is a view
            for i in range(kh):
                for j in range(kw):
                    off = i * dh * Wp + j * dw
                    _vec.copy(cols[(ci * kh + i) * kw + j, s * Lw:(s + 1) * Lw], src[off:off + Lw])


@njit(cache=True)
def col2im_wide(cols, n0, ns, step, c0, cg, kh, kw, dh, dw, Lw, gp):
    """gp[n0:n0+ns*step:step, c0:c0+cg] = the adjoint of im2col_wide applied to cols (overwrites)."""
    Wp = gp.shape[3]
    for s in range(ns):
        for ci in range(cg):
            dst = gp[n0 + s * step, c0 + ci].ravel()
            dst[:] = 0
            for i in range(kh):
                for j in range(kw):
                    off = i * dh * Wp + j * dw
                    _vec.add(dst[off:off + Lw], cols[(ci * kh + i) * kw + j, s * Lw:(s + 1) * Lw])


@njit(cache=True)
def columns(x, n0, ns, step, c0, cg, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, wide, cols, xp):
    """The columns of one work item (samples n0, n0+step, ... ns of them) in either layout (xp:
    scratch for padded planes)."""
    if not wide:
        im2col_rows(x, n0, ns, step, c0, cg, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, cols, xp)
        return
    Lw = (oh - 1) * (ow + (kw - 1) * dw) + ow
    if ph == 0 and pw == 0:
        im2col_wide(x, n0, ns, step, c0, cg, kh, kw, dh, dw, Lw, cols)
    else:
        pad_planes(x, n0, ns, step, c0, cg, ph, pw, xp)
        im2col_wide(xp, 0, ns, 1, 0, cg, kh, kw, dh, dw, Lw, cols)


@njit(cache=True)
def scatter_columns(cols, n0, ns, step, c0, cg, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, wide, gx, gp):
    """gx[n0:n0+ns*step:step, c0:c0+cg] = col2im of cols in either layout (gp: padded scratch)."""
    if not wide:
        col2im_rows(cols, n0, ns, step, c0, cg, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, gx)
        return
    Lw = (oh - 1) * (ow + (kw - 1) * dw) + ow
    if ph == 0 and pw == 0:
        col2im_wide(cols, n0, ns, step, c0, cg, kh, kw, dh, dw, Lw, gx)
    else:
        col2im_wide(cols, 0, ns, 1, 0, cg, kh, kw, dh, dw, Lw, gp)
        crop_planes(gp, ns, n0, step, c0, cg, ph, pw, gx)
