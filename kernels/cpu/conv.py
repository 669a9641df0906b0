"""conv2d compiled with Numba: the same contract as kernels/reference/conv.py.

im2col path. Forward: the batch is cut into chunks of S samples; one work item is (chunk, group).
A thread builds the item's columns (C/groups*kh*kw, S*Lc) in its own reused workspace (a few MB,
so they stay in cache; stride 1 uses the "wide" layout of _conv_cols.py) and calls a
single-threaded GEMM on them (`_blas.gemm`): y[chunk, group] = W_g @ cols, copied into NCHW with
the bias added on the way. S is picked so a GEMM has ~COLS_PER_GEMM columns and every thread
gets the same number of items.
Backward: the weight gradient is summed over the batch leaf by leaf (_tree.py: leaf l = samples
l, l+L, ...), so a work item is (leaf, group, block of input channels); it walks its leaf's
samples S_leaf at a time (a count fixed by the layer alone) and builds only its channels' rows:
  grad weight  gW_leaf[:, block] += gy[samples, group] @ cols^T   (one partial sum per leaf)
  grad input   gx[samples, block]  = col2im(W_g[:, block]^T @ gy[samples, group])
then the leaves are folded. Numba's threads are the only pool: BLAS never starts its own (see
_blas.py).

direct path. No columns: stride 1 sweeps each kernel tap as one long vectorised multiply-add
(forward, grad input) or dot product (grad weight) over a padded plane; other strides find, per
tap, the outputs whose input lies inside the image once (`valid_range`) and loop over them
without a test. It needs no column scratch; im2col is faster on every layer measured
(see tinyconv.ops.conv.choose_algo).
"""
import functools

import numpy as np
from numba import njit, prange

from . import _blas, _vec
from ._blas import NO_TRANS, TRANS, gemm
from ._conv_cols import (col2im_rows, columns, crop_planes, im2col_rows, pad_planes,
                         scatter_columns, valid_range)
from ._alloc import empty
from ._tree import CONV_LEAF, fold, fold_vector, leaf_rows, leaf_stride
from ._workspace import threads, workspace

COLS_PER_GEMM = 768
WORKSPACE_BYTES = 16 * 2**20  # per thread: columns + a GEMM-sized gradient block


def _out(n, k, s, p, d):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


@njit(parallel=True, cache=True)
def _im2col_all(x, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    n, c = x.shape[0], x.shape[1]
    cols = np.empty((n, c * kh * kw, oh * ow), dtype=x.dtype)
    no_phases = np.empty((1, 1, 1, 1), dtype=x.dtype)  # the strided gather: no scratch per sample
    for b in prange(n):
        im2col_rows(x, b, 1, 1, 0, c, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, cols[b], no_phases)
    return cols


@njit(parallel=True, cache=True)
def _col2im_all(cols, gx, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    for b in prange(gx.shape[0]):
        col2im_rows(cols[b], b, 1, 1, 0, gx.shape[1], kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, gx)
    return gx


# --- im2col + GEMM --------------------------------------------------------------------------
@njit(parallel=True, cache=True)
def _gemm_forward(x, w2, bias, has_bias, kh, kw, sh, sw, ph, pw, dh, dw, groups, oh, ow, wide, S,
                  ws, pad, y):
    """y (N, O, OH, OW); w2 (O, K); ws (T, K*S*Lc + og*S*Lc), pad (T, S, C/groups, Hp, Wp) the
    threads' scratch (Lc = columns per sample: OH*OW, or the wide grid's (OH-1)*Wp + OW)."""
    n, c = x.shape[0], x.shape[1]
    o, K = w2.shape
    og, cg = o // groups, c // groups
    rw = ow + (kw - 1) * dw if wide else ow  # distance between output rows in a column block
    Lc = (oh - 1) * rw + ow
    T = ws.shape[0]
    items = (n + S - 1) // S * groups
    for t in prange(T):
        for it in range(t, items, T):
            n0, g = it // groups * S, it % groups
            ns = min(S, n - n0)
            width = ns * Lc
            cols = ws[t, :K * width].reshape(K, width)
            columns(x, n0, ns, 1, g * cg, cg, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, wide, cols, pad[t])
            if ns == 1 and rw == ow:  # one sample, plain rows: the GEMM writes NCHW itself
                gemm(NO_TRANS, NO_TRANS, og, width, K, w2[g * og:].ctypes.data, K, cols.ctypes.data,
                     width, 0.0, y[n0, g * og:].ctypes.data, width, y)
                if has_bias:
                    for r in range(og):
                        plane = y[n0, g * og + r].ravel()
                        _vec.add_scalar(plane, bias[g * og + r])
                continue
            out = ws[t, K * width:K * width + og * width].reshape(og, width)
            gemm(NO_TRANS, NO_TRANS, og, width, K, w2[g * og:].ctypes.data, K, cols.ctypes.data,
                 width, 0.0, out.ctypes.data, width, y)
            for s in range(ns):  # (og, ns*Lc) -> NCHW, bias added on the way
                for r in range(og):
                    add = bias[g * og + r] if has_bias else 0
                    for yy in range(oh):
                        row = out[r, s * Lc + yy * rw:s * Lc + yy * rw + ow]
                        _vec.copy_add(y[n0 + s, g * og + r, yy], row, add)
    return y


@njit(parallel=True, cache=True)
def _gemm_backward(gy, x, w2, need_gx, kh, kw, sh, sw, ph, pw, dh, dw, groups, wide, S, cb, ws,
                   pad, gwp, gbp, gx):
    """gx (or an empty array), and the leaves' partial sums gwp (L, O, K), gbp (L, O) float64:
    leaf l sums samples l, l+L, ... in that order (_tree.py). A work item is (leaf, group, block
    of input channels): its columns are only its channels' rows, so no two items build the same
    column, and it writes only its own columns of gW and its own channels of gx (cb channels a
    block)."""
    n, c = x.shape[0], x.shape[1]
    o, K = w2.shape
    oh, ow = gy.shape[2], gy.shape[3]
    og, cg = o // groups, c // groups
    taps = kh * kw
    blocks = -(-cg // cb)
    rw = ow + (kw - 1) * dw if wide else ow
    Lc = (oh - 1) * rw + ow
    T, L = ws.shape[0], gwp.shape[0]
    items = L * groups * blocks
    for t in prange(T):
        for it in range(t, items, T):
            leaf, g, blk = it // (groups * blocks), it // blocks % groups, it % blocks
            c0, nc = blk * cb, min(cb, cg - blk * cb)
            k0, kn = c0 * taps, nc * taps
            rows = leaf_rows(n, L, leaf)
            if blk == 0:
                gbp[leaf, g * og:(g + 1) * og] = 0
            if rows == 0:
                gwp[leaf, g * og:(g + 1) * og, k0:k0 + kn] = 0
            for s0 in range(0, rows, S):  # the leaf's samples, S per GEMM, in order
                n0, ns = leaf + s0 * L, min(S, rows - s0)
                width = ns * Lc
                cols = ws[t, :kn * width].reshape(kn, width)
                gyc = ws[t, kn * width:kn * width + og * width].reshape(og, width)
                columns(x, n0, ns, L, g * cg + c0, nc, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, wide,
                        cols, pad[t])
                for s in range(ns):  # gy -> (og, ns*Lc), zeros between wide rows; bias on the way
                    for r in range(og):
                        dst = gyc[r, s * Lc:(s + 1) * Lc]
                        if wide:
                            dst[:] = 0
                        for yy in range(oh):
                            _vec.copy(dst[yy * rw:yy * rw + ow], gy[n0 + s * L, g * og + r, yy])
                        if blk == 0:
                            gbp[leaf, g * og + r] += _vec.total(dst)
                gemm(NO_TRANS, TRANS, og, kn, width, gyc.ctypes.data, width, cols.ctypes.data, width,
                     0.0 if s0 == 0 else 1.0, gwp[leaf, g * og, k0:].ctypes.data, K, gyc)
                if need_gx:  # the columns are no longer needed: their space takes W_g^T @ gy
                    gemm(TRANS, NO_TRANS, kn, width, og, w2[g * og, k0:].ctypes.data, K,
                         gyc.ctypes.data, width, 0.0, cols.ctypes.data, width, gyc)
                    scatter_columns(cols, n0, ns, L, g * cg + c0, nc, kh, kw, sh, sw, ph, pw, dh, dw,
                                    oh, ow, wide, gx, pad[t])
    return gx


class _Plan:
    """How one conv call is cut: threads, samples per GEMM, wide grid or not, scratch shapes.

    The forward may cut the batch any way (each sample's output is computed alone). The
    backward's weight gradient is summed leaf by leaf (_tree.py), so its cut may depend on the
    layer and the leaf only: S_leaf samples per GEMM, never the batch size or thread count; the
    threads share a leaf's work by blocks of input channels when there are fewer leaves than
    threads."""

    def __init__(self, x_shape, w_shape, stride, padding, dilation, groups, oh, ow, itemsize, threads):
        n, c, h, wd = x_shape
        o, cg, kh, kw = w_shape
        self.threads = threads
        self.wide = stride == (1, 1)
        hp, wp = h + 2 * padding[0], wd + 2 * padding[1]
        lc = (oh - 1) * wp + ow if self.wide else oh * ow
        K, og = cg * kh * kw, o // groups
        fit = max(1, min(-(-COLS_PER_GEMM // lc), WORKSPACE_BYTES // (itemsize * (K + og) * lc)))
        S = max(1, min(n, fit))
        if n >= self.threads:  # the nearest S that gives every thread the same number of items
            even = [s for s in range(1, 2 * S + 1) if -(-n // s) * groups % self.threads == 0]
            if even:
                S = min(even, key=lambda s: (abs(s - S), s))
        self.S = S
        self.leaves = leaf_stride(n, CONV_LEAF)
        self.S_leaf = min(fit, CONV_LEAF)
        items = self.leaves * groups  # fewer than threads: split a leaf's channels among them
        self.cb = -(-cg // min(cg, -(-threads // items))) if items < threads else cg
        self.ws = (self.threads, (K + og) * max(S, self.S_leaf) * lc)
        padded = self.wide and padding != (0, 0)
        self.pad = (self.threads, max(S, self.S_leaf), cg, hp, wp) if padded else (self.threads, 1, 1, 1, 1)
        if stride[1] > 1:  # column phases of one input plane (see _conv_cols.im2col_rows)
            self.pad = (self.threads, 1, stride[1], h, -(-wd // stride[1]))


_plan = functools.lru_cache(maxsize=256)(_Plan)


class _DirectPlan:
    """Per-thread scratch of the direct kernels: one padded sample and one wide output row."""

    def __init__(self, x_shape, stride, padding, oh, ow):
        n, c, h, wd = x_shape
        self.threads = threads()
        if stride == (1, 1):
            hp, wp = h + 2 * padding[0], wd + 2 * padding[1]
            self.pad = (self.threads, 1, c, hp, wp)
            self.row = (self.threads, (oh - 1) * wp + ow)
        else:
            self.pad, self.row = (self.threads, 1, 1, 1, 1), (self.threads, 1)


# --- direct convolution ---------------------------------------------------------------------
# Stride 1: on the wide grid (see _conv_cols.py) every tap of a (sample, out channel) plane is one
# long axpy (forward, grad input) or dot product (grad weight) over the padded input plane.
# Other strides: per tap, per output row, the valid output columns found once.

@njit(parallel=True, cache=True)
def _direct_forward(x, w, bias, has_bias, sh, sw, ph, pw, dh, dw, groups, oh, ow, pad, acc, y):
    """pad (T, 1, C, Hp, Wp) and acc (T, Lw) per-thread scratch (used for stride 1)."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    og = o // groups
    T = pad.shape[0]
    wide = sh == 1 and sw == 1
    Wp = wd + 2 * pw
    Lw = (oh - 1) * Wp + ow
    for t in prange(T):
        for b in range(t, n, T):
            if wide:
                pad_planes(x, b, 1, 1, 0, c, ph, pw, pad[t])
            for k in range(o):
                c0 = (k // og) * cg
                add = bias[k] if has_bias else 0
                if wide:
                    a = acc[t, :Lw]
                    a[:] = add
                    for ci in range(cg):
                        src = pad[t, 0, c0 + ci].ravel()
                        for i in range(kh):
                            for j in range(kw):
                                off = i * dh * Wp + j * dw
                                _vec.axpy(a, w[k, ci, i, j], src[off:off + Lw])
                    for yy in range(oh):
                        _vec.copy(y[b, k, yy], a[yy * Wp:yy * Wp + ow])
                    continue
                out = y[b, k]
                out[:] = add
                for ci in range(cg):
                    plane = x[b, c0 + ci]
                    for i in range(kh):
                        y0, y1 = valid_range(oh, sh, ph, i * dh, h)
                        for j in range(kw):
                            x0, x1 = valid_range(ow, sw, pw, j * dw, wd)
                            if x1 == x0:  # no output of this tap sees the image (an empty
                                continue  # strided slice would wrap around)
                            s0 = x0 * sw - pw + j * dw
                            for yy in range(y0, y1):
                                src = plane[yy * sh - ph + i * dh, s0:s0 + (x1 - x0 - 1) * sw + 1:sw]
                                _vec.axpy(out[yy, x0:x1], w[k, ci, i, j], src)
    return y


@njit(parallel=True, cache=True)
def _direct_backward(gy, x, w, need_gx, sh, sw, ph, pw, dh, dw, groups, pad, gpad, gyw, gwp, gbp,
                     gx):
    """gx (or an empty array); the leaves' partial sums gwp (L, O, C/g, kh, kw), gbp (L, O)
    float64 (leaf l: samples l, l+L, ... in that order, _tree.py); a thread takes whole leaves."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    oh, ow = gy.shape[2], gy.shape[3]
    og = o // groups
    T, L = pad.shape[0], gwp.shape[0]
    wide = sh == 1 and sw == 1
    Wp = wd + 2 * pw
    Lw = (oh - 1) * Wp + ow
    for t in prange(T):
        for leaf in range(t, L, T):
            gwp[leaf] = 0
            gbp[leaf] = 0
            for b in range(leaf, n, L):
                if wide:
                    pad_planes(x, b, 1, 1, 0, c, ph, pw, pad[t])
                    if need_gx:
                        gpad[t] = 0
                elif need_gx:
                    gx[b] = 0
                for k in range(o):
                    c0 = (k // og) * cg
                    gbp[leaf, k] += _vec.total(gy[b, k].ravel())
                    if wide:
                        g = gyw[t, :Lw]
                        g[:] = 0
                        for yy in range(oh):
                            _vec.copy(g[yy * Wp:yy * Wp + ow], gy[b, k, yy])
                        for ci in range(cg):
                            src = pad[t, 0, c0 + ci].ravel()
                            for i in range(kh):
                                for j in range(kw):
                                    off = i * dh * Wp + j * dw
                                    gwp[leaf, k, ci, i, j] += _vec.dot(g, src[off:off + Lw])
                            if need_gx:
                                dst = gpad[t, 0, c0 + ci].ravel()
                                for i in range(kh):
                                    for j in range(kw):
                                        off = i * dh * Wp + j * dw
                                        _vec.axpy(dst[off:off + Lw], w[k, ci, i, j], g)
                        continue
                    for ci in range(cg):
                        for i in range(kh):
                            y0, y1 = valid_range(oh, sh, ph, i * dh, h)
                            for j in range(kw):
                                x0, x1 = valid_range(ow, sw, pw, j * dw, wd)
                                if x1 == x0:  # no output of this tap sees the image (an empty
                                    continue  # strided slice would wrap around)
                                s0 = x0 * sw - pw + j * dw
                                acc = 0.0
                                for yy in range(y0, y1):
                                    row = yy * sh - ph + i * dh
                                    src = x[b, c0 + ci, row, s0:s0 + (x1 - x0 - 1) * sw + 1:sw]
                                    acc += _vec.dot(gy[b, k, yy, x0:x1], src)
                                    if need_gx:
                                        dst = gx[b, c0 + ci, row, s0:s0 + (x1 - x0 - 1) * sw + 1:sw]
                                        _vec.axpy(dst, w[k, ci, i, j], gy[b, k, yy, x0:x1])
                                gwp[leaf, k, ci, i, j] += acc
                if wide and need_gx:
                    crop_planes(gpad[t], 1, b, 1, 0, c, ph, pw, gx)
    return gx


# --- the contract ---------------------------------------------------------------------------
def im2col(x, kernel_size, stride, padding, dilation):
    """(N, C, H, W) -> (N, C*kh*kw, OH*OW), the contract's layout."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow = _out(x.shape[2], kh, sh, ph, dh), _out(x.shape[3], kw, sw, pw, dw)
    return _im2col_all(np.ascontiguousarray(x), kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)


def col2im(cols, x_shape, kernel_size, stride, padding, dilation):
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    n, c, h, w = x_shape
    oh, ow = _out(h, kh, sh, ph, dh), _out(w, kw, sw, pw, dw)
    gx = np.empty(x_shape, dtype=cols.dtype)
    return _col2im_all(np.ascontiguousarray(cols), gx, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)


def _grad_input(x, need):
    return empty(x.shape, x.dtype) if need else np.empty((0, 0, 0, 0), x.dtype)


def _leaf_sums(gwp, gbp, w_shape, dtype):
    """(gW, gb) from the leaves' partial sums, folded in the tree's order (_tree.py)."""
    gw = empty(w_shape, dtype)
    gw.reshape(w_shape[0], -1)[...] = fold(gwp.reshape(gwp.shape[0], w_shape[0], -1))
    return gw, fold_vector(gbp, dtype)


def _bias_arg(b, o, dtype):
    return (np.zeros(o, dtype=dtype), False) if b is None else (np.ascontiguousarray(b), True)


def conv2d_forward(x, w, b, stride, padding, dilation, groups, algo):
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    oh, ow = _out(h, kh, sh, ph, dh), _out(wd, kw, sw, pw, dw)
    bias, has_bias = _bias_arg(b, o, x.dtype)
    if algo == "direct":
        d = _DirectPlan(x.shape, stride, padding, oh, ow)
        return _direct_forward(x, w, bias, has_bias, sh, sw, ph, pw, dh, dw, groups, oh, ow,
                               workspace("conv.pad", d.pad, x.dtype),
                               workspace("conv", d.row, x.dtype), empty((n, o, oh, ow), x.dtype))
    if algo != "im2col":
        raise ValueError(f"conv2d: unknown algo {algo!r}")
    p = _plan(x.shape, w.shape, stride, padding, dilation, groups, oh, ow, x.dtype.itemsize,
              threads())
    ws, pad = workspace("conv", p.ws, x.dtype), workspace("conv.pad", p.pad, x.dtype)
    with _blas.one_thread(x.dtype):
        return _gemm_forward(x, w.reshape(o, -1), bias, has_bias, kh, kw, sh, sw, ph, pw, dh, dw,
                             groups, oh, ow, p.wide, p.S, ws, pad, empty((n, o, oh, ow), x.dtype))


def conv2d_backward(gy, x, w, stride, padding, dilation, groups, algo, need_input_grad=True):
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    gy = np.ascontiguousarray(gy)
    if algo == "direct":
        d = _DirectPlan(x.shape, stride, padding, gy.shape[2], gy.shape[3])
        L = leaf_stride(n, CONV_LEAF)
        gwp = workspace("conv.gw", (L,) + w.shape, x.dtype)
        gbp = workspace("conv.gb", (L, o), np.float64)
        gx = _direct_backward(gy, x, w, need_input_grad, sh, sw, ph, pw, dh, dw, groups,
                              workspace("conv.pad", d.pad, x.dtype),
                              workspace("conv.gpad", d.pad if need_input_grad else (1,) * 5, x.dtype),
                              workspace("conv", d.row, x.dtype), gwp, gbp, _grad_input(x, need_input_grad))
        return ((gx if need_input_grad else None),) + _leaf_sums(gwp, gbp, w.shape, x.dtype)
    if algo != "im2col":
        raise ValueError(f"conv2d: unknown algo {algo!r}")
    p = _plan(x.shape, w.shape, stride, padding, dilation, groups, gy.shape[2], gy.shape[3],
              x.dtype.itemsize, threads())
    ws, pad = workspace("conv", p.ws, x.dtype), workspace("conv.pad", p.pad, x.dtype)
    gwp = workspace("conv.gw", (p.leaves, o, cg * kh * kw), x.dtype)
    gbp = workspace("conv.gb", (p.leaves, o), np.float64)
    with _blas.one_thread(x.dtype):
        gx = _gemm_backward(gy, x, w.reshape(o, -1), need_input_grad, kh, kw, sh, sw, ph, pw, dh, dw,
                            groups, p.wide, p.S_leaf, p.cb, ws, pad, gwp, gbp,
                            _grad_input(x, need_input_grad))
    return ((gx if need_input_grad else None),) + _leaf_sums(gwp, gbp, w.shape, x.dtype)
