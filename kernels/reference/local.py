"""Locally connected 2-D layer, the executable specification: a convolution whose filter is
different at every output position (no weight sharing).

Shapes: x (N, C, H, W), w (OH, OW, O, C, kh, kw), b (O, OH, OW) or None, y (N, O, OH, OW) with
OH = floor((H + 2p - kh)/s) + 1 (likewise OW):

    y[n, o, i, j] = b[o, i, j] + sum_{c, u, v} w[i, j, o, c, u, v] * xpad[n, c, i*s + u, j*s + v]

Each output position is its own small GEMM, so all OH*OW of them run as one batched matmul.
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided


def _out(n, k, s, p):
    return (n + 2 * p - k) // s + 1


def _patches(x, kernel_size, stride, padding):
    """(OH*OW, N, C*kh*kw): the receptive field of every output position, position-major."""
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, c = x.shape[:2]
    oh, ow = _out(x.shape[2], kh, sh, ph), _out(x.shape[3], kw, sw, pw)
    s0, s1, s2, s3 = xp.strides
    win = as_strided(xp, (oh, ow, n, c, kh, kw), (s2 * sh, s3 * sw, s0, s1, s2, s3), writeable=False)
    return win.reshape(oh * ow, n, c * kh * kw)


def local2d_forward(x, w, b, stride, padding):
    oh, ow, o, c, kh, kw = w.shape
    n = x.shape[0]
    cols = _patches(x, (kh, kw), stride, padding)                  # (P, N, K)
    y = np.matmul(cols, w.reshape(oh * ow, o, c * kh * kw).transpose(0, 2, 1))  # (P, N, O)
    y = y.transpose(1, 2, 0).reshape(n, o, oh, ow)
    if b is not None:
        y = y + b
    return np.ascontiguousarray(y, dtype=x.dtype)


def local2d_backward(gy, x, w, stride, padding, need_input_grad=True):
    """(gx, gw, gb); gx is None when need_input_grad is False, gb = gy.sum(0) always."""
    oh, ow, o, c, kh, kw = w.shape
    n, _, h, wd = x.shape
    (sh, sw), (ph, pw) = stride, padding
    g = gy.reshape(n, o, oh * ow).transpose(2, 0, 1)                # (P, N, O)
    cols = _patches(x, (kh, kw), stride, padding)                  # (P, N, K)
    gw = np.matmul(g.transpose(0, 2, 1), cols).reshape(w.shape)    # (P, O, K)
    gx = None
    if need_input_grad:
        gcols = np.matmul(g, w.reshape(oh * ow, o, c * kh * kw))    # (P, N, K)
        gcols = gcols.reshape(oh, ow, n, c, kh, kw)
        out = np.zeros((n, c, h + 2 * ph, wd + 2 * pw), dtype=gy.dtype)
        for u in range(kh):  # a loop over taps: each adds one strided slab
            for v in range(kw):
                out[:, :, u:u + sh * (oh - 1) + 1:sh, v:v + sw * (ow - 1) + 1:sw] += \
                    gcols[:, :, :, :, u, v].transpose(2, 3, 0, 1)
        gx = np.ascontiguousarray(out[:, :, ph:ph + h, pw:pw + wd], dtype=x.dtype)
    return gx, np.ascontiguousarray(gw, dtype=x.dtype), gy.sum(axis=0).astype(x.dtype)
