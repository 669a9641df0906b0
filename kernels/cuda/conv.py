"""conv2d on CuPy arrays: conv.cu's kernels around cuBLAS GEMMs (see kernels/README.md, "conv").

algo="im2col": columns from the im2col kernel, then one batched cupy.matmul (groups ride along
as a batch axis). algo="direct": the tiled implicit-GEMM kernels, which never store the columns.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _cuda
from .activation import bias_add

_kernels = _cuda.Kernels("conv", (
    "im2col", "col2im", "conv2d_forward_direct", "conv2d_grad_input_direct",
    "conv2d_grad_weight_direct", "conv2d_bias_grad"))
NAME_EXPRESSIONS = _kernels.name_expressions

GRAD_WEIGHT_TARGET_BLOCKS = 1024  # enough blocks to fill any current GPU several times over
GRAD_WEIGHT_MIN_STEPS = 8         # reduction steps per split, so a block does more than load


def output_size(n, k, s, p, d):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


class Geometry(NamedTuple):
    """Sizes of one convolution, in the order every conv.cu kernel takes them."""
    N: int
    C: int
    H: int
    W: int
    kh: int
    kw: int
    sh: int
    sw: int
    ph: int
    pw: int
    dh: int
    dw: int
    OH: int
    OW: int

    def args(self):
        return _cuda.i64(*self)


def geometry(x_shape, kernel_size, stride, padding, dilation) -> Geometry:
    n, c, h, w = (int(v) for v in x_shape)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    return Geometry(n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw,
                    output_size(h, kh, sh, ph, dh), output_size(w, kw, sw, pw, dw))


def tile_rows(rows: int) -> int:
    """Thread rows of a tiled kernel's block for `rows` output rows (channels): the next power of
    two, at most TILE, so few channels do not leave most of a TILE x TILE block idle."""
    return int(min(_cuda.TILE, 1 << max(int(rows) - 1, 0).bit_length()))


def tiled_grid(cols: int, rows: int, batches: int, rows_per_tile: int = _cuda.TILE) -> tuple:
    """Grid of a tiled kernel: TILE-wide tiles over cols, rows_per_tile-high over rows; z walks
    `batches` (strided)."""
    row_tiles = -(-int(rows) // rows_per_tile)
    if row_tiles > _cuda.MAX_GRID:
        raise ValueError(f"conv2d (cuda): {rows} rows per group exceed the grid "
                         f"({_cuda.MAX_GRID} tiles of {rows_per_tile})")
    return (_cuda.tiles(cols), max(row_tiles, 1), int(min(max(batches, 1), _cuda.MAX_GRID)))


def _tiled(cols: int, rows: int, batches: int) -> tuple:
    """(grid, block) of a tiled kernel with `rows` output rows."""
    r = tile_rows(rows)
    return tiled_grid(cols, rows, batches, r), (_cuda.TILE, r)


# --- the direct kernels' tables (conv.cu, "direct convolution") -------------------------------------
def column_table(g: Geometry, cg: int) -> np.ndarray:
    """(cg*kh*kw, 3) int64: column row k = (c, i, j) -> (c*H*W + i*dh*W + j*dw, i*dh, j*dw)."""
    c, i, j = np.meshgrid(np.arange(cg), np.arange(g.kh), np.arange(g.kw), indexing="ij")
    ih, jw = i * g.dh, j * g.dw
    return np.stack([c * g.H * g.W + ih * g.W + jw, ih, jw], axis=-1).reshape(-1, 3).astype(np.int64)


def position_table(g: Geometry) -> np.ndarray:
    """(OH*OW, 2) int64: column l = (oh, ow) -> (oh*sh - ph, ow*sw - pw)."""
    oh, ow = np.meshgrid(np.arange(g.OH), np.arange(g.OW), indexing="ij")
    return np.stack([oh * g.sh - g.ph, ow * g.sw - g.pw], axis=-1).reshape(-1, 2).astype(np.int64)


def stride_phase_tables(g: Geometry, out_per_group: int, cg: int) -> tuple:
    """(phases, taps) of conv2d_grad_input_direct: per stride phase (rh, rw), its input pixels
    and the taps (o, i, j) that reach them; see conv.cu."""
    def axis(r, n, p, s, k, d):
        first = (r - p) % s  # first input index whose (index + padding) % stride == r
        count = len(range(first, n, s))
        return first, count, [(t, (first + p - t * d) // s) for t in range(k) if (t * d - r) % s == 0]

    phases = np.zeros((g.sh * g.sw, 6), np.int64)
    taps = []
    for rh in range(g.sh):
        h0, n_rows, rows = axis(rh, g.H, g.ph, g.sh, g.kh, g.dh)
        for rw in range(g.sw):
            w0, n_cols, cols = axis(rw, g.W, g.pw, g.sw, g.kw, g.dw)
            entries = [((o * cg) * g.kh * g.kw + i * g.kw + j, o * g.OH * g.OW, di, dj)
                       for o in range(out_per_group) for i, di in rows for j, dj in cols]
            phases[rh * g.sw + rw] = (h0, n_rows, w0, n_cols, len(taps), len(entries))
            taps += entries
    return phases, np.array(taps, np.int64).reshape(-1, 4)


def _device(table):
    return _cuda.cupy().asarray(table)


def grad_weight_splits(g: Geometry, out_channels: int, groups: int) -> int:
    """Pieces the weight gradient's N*L-long reduction is cut into (their sum is taken after)."""
    k = g.C // groups * g.kh * g.kw
    blocks = groups * _cuda.tiles(out_channels // groups) * _cuda.tiles(k)
    steps = g.N * _cuda.tiles(g.OH * g.OW)
    wanted = -(-GRAD_WEIGHT_TARGET_BLOCKS // blocks)
    return int(max(1, min(wanted, -(-steps // GRAD_WEIGHT_MIN_STEPS), _cuda.MAX_GRID // groups)))


# --- im2col / col2im ------------------------------------------------------------------------------
def _im2col_into(x, out, g: Geometry, col_stride_n, col_stride_r):
    _kernels.launch("im2col", x.dtype, (_cuda.blocks(g.N * g.C * g.OH * g.OW),), (_cuda.THREADS,),
                    (x, out, *g.args(), *_cuda.i64(col_stride_n, col_stride_r)))
    return out


def im2col(x, kernel_size, stride, padding, dilation):
    cp = _cuda.cupy()
    g = geometry(x.shape, kernel_size, stride, padding, dilation)
    rows, length = g.C * g.kh * g.kw, g.OH * g.OW
    cols = cp.empty((g.N, rows, length), dtype=x.dtype)
    if cols.size:
        _im2col_into(x, cols, g, rows * length, length)
    return cols


def col2im(cols, x_shape, kernel_size, stride, padding, dilation):
    cp = _cuda.cupy()
    g = geometry(x_shape, kernel_size, stride, padding, dilation)
    x = cp.empty(tuple(int(v) for v in x_shape), dtype=cols.dtype)
    if x.size:
        _kernels.launch("col2im", cols.dtype, (_cuda.blocks(x.size),), (_cuda.THREADS,),
                        (cols, x, *g.args()))
    return x


# --- conv2d -----------------------------------------------------------------------------------------
def _bias_grad(gy):
    cp = _cuda.cupy()
    n, o = gy.shape[:2]
    gb = cp.empty((o,), dtype=gy.dtype)
    if gb.size:
        _kernels.launch("conv2d_bias_grad", gy.dtype, (min(o, _cuda.MAX_GRID),),
                        (_cuda.REDUCE_THREADS,), (gy, gb, *_cuda.i64(n, o, gy.shape[2] * gy.shape[3])))
    return gb


def conv2d_forward(x, w, b, stride, padding, dilation, groups, algo):
    cp = _cuda.cupy()
    o, cg, kh, kw = w.shape
    g = geometry(x.shape, (kh, kw), stride, padding, dilation)
    length = g.OH * g.OW
    if algo == "im2col":
        cols = im2col(x, (kh, kw), stride, padding, dilation).reshape(g.N, groups, cg * kh * kw, length)
        # (G, O/G, K) @ (N, G, K, L) -> (N, G, O/G, L): one batched GEMM, W broadcast over N
        y = cp.matmul(w.reshape(groups, o // groups, cg * kh * kw), cols)
        y = y.reshape(g.N, o, g.OH, g.OW)
    elif algo == "direct":
        y = cp.empty((g.N, o, g.OH, g.OW), dtype=x.dtype)
        if y.size:
            _kernels.launch("conv2d_forward_direct", x.dtype, *_tiled(length, o // groups, g.N * groups),
                            (x, w, y, _device(column_table(g, cg)), _device(position_table(g)),
                             *g.args(), *_cuda.i64(o, groups)))
    else:
        raise ValueError(f"conv2d: unknown algo {algo!r}")
    if b is not None:
        y = bias_add(y, b)
    return y


def conv2d_backward(gy, x, w, stride, padding, dilation, groups, algo, need_input_grad=True):
    cp = _cuda.cupy()
    o, cg, kh, kw = w.shape
    g = geometry(x.shape, (kh, kw), stride, padding, dilation)
    length, k = g.OH * g.OW, cg * kh * kw
    gb = _bias_grad(gy)
    gx = None
    if algo == "im2col":
        # gw[g] = gy[g] (O/G, N*L) @ columns[g]^T (N*L, K): one GEMM per group over the whole
        # batch, with the columns laid out (C*kh*kw, N*L) and gy transposed to (G, N*L, O/G)
        # so both operands are C-contiguous (cupy.matmul copies any other layout first).
        cols_t = cp.empty((groups, k, g.N * length), dtype=x.dtype)
        if cols_t.size:
            _im2col_into(x, cols_t, g, length, g.N * length)
        gy_t = gy.reshape(g.N, groups, o // groups, length).transpose(1, 0, 3, 2)  # (G, N, L, O/G)
        gy_t = cp.ascontiguousarray(gy_t).reshape(groups, g.N * length, o // groups)
        gw = cp.ascontiguousarray(cp.matmul(cols_t, gy_t).transpose(0, 2, 1)).reshape(w.shape)
        if need_input_grad:
            w_t = cp.ascontiguousarray(w.reshape(groups, o // groups, k).transpose(0, 2, 1))
            gcols = cp.matmul(w_t, gy.reshape(g.N, groups, o // groups, length))  # (N, G, K, L)
            gx = col2im(gcols.reshape(g.N, g.C * kh * kw, length), x.shape, (kh, kw),
                        stride, padding, dilation)
    elif algo == "direct":
        splits = grad_weight_splits(g, o, groups)
        parts = cp.empty((splits, o, k), dtype=x.dtype)
        if parts.size:
            _kernels.launch("conv2d_grad_weight_direct", x.dtype, *_tiled(k, o // groups, groups * splits),
                            (gy, x, parts, _device(column_table(g, cg)), _device(position_table(g)),
                             *g.args(), *_cuda.i64(o, groups, splits)))
        gw = (parts[0] if splits == 1 else parts.sum(axis=0)).reshape(w.shape)
        if need_input_grad:
            gx = cp.empty(x.shape, dtype=x.dtype)
            if gx.size:
                phases, taps = stride_phase_tables(g, o // groups, cg)
                pixels = -(-g.H // g.sh) * -(-g.W // g.sw)  # the most any phase has
                _kernels.launch("conv2d_grad_input_direct", x.dtype,
                                *_tiled(pixels, cg, g.N * groups * g.sh * g.sw),
                                (gy, w, gx, _device(phases), _device(taps), *g.args(), *_cuda.i64(o, groups)))
    else:
        raise ValueError(f"conv2d: unknown algo {algo!r}")
    return gx, gw, gb
