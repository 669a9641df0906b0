"""conv2d, the executable specification: im2col + one batched GEMM, and direct (tap by tap).

The two algorithms compute the same sums in different orders:
- im2col copies every receptive field into a column, then one matrix product does all the work;
- direct never builds columns: for each kernel tap (i, j) it takes ONE strided slice of the
  padded input (the pixel each output position sees through that tap) and adds it, weighted by
  w[:, :, i, j], into the output. kh*kw slices, each a small matrix product over channels.

Shapes: x (N, C, H, W), w (O, C/groups, kh, kw), y (N, O, OH, OW) with
OH = floor((H + 2p - d(kh-1) - 1)/s) + 1 (likewise OW).
"""
import numpy as np

from ._tree import CONV_LEAF, batch_sum
from numpy.lib.stride_tricks import as_strided


def _out(n, k, s, p, d):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _windows(x, kernel_size, stride, padding, dilation):
    """A read-only view (N, C, kh, kw, OH, OW) of every kernel tap over the zero-padded input."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, c, h, w = xp.shape
    oh, ow = _out(x.shape[2], kh, sh, ph, dh), _out(x.shape[3], kw, sw, pw, dw)
    s0, s1, s2, s3 = xp.strides
    return as_strided(xp, (n, c, kh, kw, oh, ow), (s0, s1, s2 * dh, s3 * dw, s2 * sh, s3 * sw),
                      writeable=False)


def im2col(x, kernel_size, stride, padding, dilation):
    """(N, C, H, W) -> (N, C*kh*kw, OH*OW): each column holds one receptive field."""
    win = _windows(x, kernel_size, stride, padding, dilation)
    n, c, kh, kw, oh, ow = win.shape
    return win.reshape(n, c * kh * kw, oh * ow)


def col2im(cols, x_shape, kernel_size, stride, padding, dilation):
    """The adjoint of im2col: every column entry is added back where it was read from."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    n, c, h, w = x_shape
    oh, ow = _out(h, kh, sh, ph, dh), _out(w, kw, sw, pw, dw)
    cols = cols.reshape(n, c, kh, kw, oh, ow)
    out = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for i in range(kh):  # a loop over taps: each adds one strided slab
        for j in range(kw):
            out[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw] += cols[:, :, i, j]
    return out[:, :, ph:ph + h, pw:pw + w]


def _tap(xp, i, j, out_hw, stride, dilation):
    """The strided slice of the padded input that tap (i, j) shows to every output position."""
    (oh, ow), (sh, sw), (dh, dw) = out_hw, stride, dilation
    return xp[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw]


def _direct_forward(x, w, stride, padding, dilation, groups, out_hw):
    n, c = x.shape[:2]
    o, cg, kh, kw = w.shape
    (ph, pw), og = padding, o // groups
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    wg = w.reshape(groups, og, cg, kh, kw)
    y = np.zeros((n, groups, og) + out_hw, dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            window = _tap(xp, i, j, out_hw, stride, dilation).reshape(n, groups, cg, *out_hw)
            y += np.einsum("ngchw,goc->ngohw", window, wg[:, :, :, i, j])
    return y.reshape(n, o, *out_hw)


def _direct_backward(gy, x, w, stride, padding, dilation, groups, need_input_grad):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    (ph, pw), og = padding, o // groups
    out_hw = gy.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    gxp = np.zeros_like(xp) if need_input_grad else None
    gg = gy.reshape(n, groups, og, *out_hw)
    wg = w.reshape(groups, og, cg, kh, kw)
    gw = np.empty((n, groups, og, cg, kh, kw), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            window = _tap(xp, i, j, out_hw, stride, dilation).reshape(n, groups, cg, *out_hw)
            gw[..., i, j] = np.einsum("ngohw,ngchw->ngoc", gg, window)
            if need_input_grad:  # the adjoint: the same slice receives the weighted gradient
                _tap(gxp, i, j, out_hw, stride, dilation)[...] += np.einsum(
                    "ngohw,goc->ngchw", gg, wg[:, :, :, i, j]).reshape(n, c, *out_hw)
    gx = gxp[:, :, ph:ph + h, pw:pw + wd] if need_input_grad else None
    return gx, batch_sum(gw, leaf=CONV_LEAF).reshape(w.shape)


def _grouped(w, groups):
    o, cg, kh, kw = w.shape
    return w.reshape(groups, o // groups, cg * kh * kw)


def conv2d_forward(x, w, b, stride, padding, dilation, groups, algo):
    n, c = x.shape[:2]
    o, cg, kh, kw = w.shape
    oh = _out(x.shape[2], kh, stride[0], padding[0], dilation[0])
    ow = _out(x.shape[3], kw, stride[1], padding[1], dilation[1])
    if algo == "im2col":
        cols = im2col(x, (kh, kw), stride, padding, dilation)  # (N, C*kh*kw, L)
        cols = cols.reshape(n, groups, cg * kh * kw, oh * ow)
        y = np.matmul(_grouped(w, groups), cols)  # (N, G, O/G, L): one batched GEMM
    elif algo == "direct":
        y = _direct_forward(x, w, stride, padding, dilation, groups, (oh, ow))
    else:
        raise ValueError(f"conv2d: unknown algo {algo!r}")
    y = y.reshape(n, o, oh, ow)
    if b is not None:
        y = y + b.reshape(1, o, 1, 1)
    return np.ascontiguousarray(y, dtype=x.dtype)


def conv2d_backward(gy, x, w, stride, padding, dilation, groups, algo, need_input_grad=True):
    n, c = x.shape[:2]
    o, cg, kh, kw = w.shape
    gb = batch_sum(gy.sum(axis=(2, 3)), np.float64, CONV_LEAF)  # _tree.py: the batch axis last
    L = gy.shape[2] * gy.shape[3]
    g = gy.reshape(n, groups, o // groups, L)  # (N, G, O/G, L)
    if algo == "im2col":
        cols = im2col(x, (kh, kw), stride, padding, dilation).reshape(n, groups, cg * kh * kw, L)
        gw = batch_sum(np.matmul(g, cols.transpose(0, 1, 3, 2)), leaf=CONV_LEAF).reshape(w.shape)
        gx = None
        if need_input_grad:
            gcols = np.matmul(_grouped(w, groups).transpose(0, 2, 1), g)  # (N, G, cg*kh*kw, L)
            gx = col2im(gcols.reshape(n, c * kh * kw, L), x.shape, (kh, kw), stride, padding, dilation)
    elif algo == "direct":
        gx, gw = _direct_backward(gy, x, w, stride, padding, dilation, groups, need_input_grad)
    else:
        raise ValueError(f"conv2d: unknown algo {algo!r}")
    if gx is not None:
        gx = np.ascontiguousarray(gx, dtype=x.dtype)
    return gx, np.ascontiguousarray(gw, dtype=x.dtype), gb.astype(x.dtype)
