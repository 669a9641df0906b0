"""Locally connected 2-D layer as Numba loop nests (same contract as kernels/reference/local.py).

Without weight sharing there is no GEMM to hand to BLAS: every output position owns its filter,
so the work is one dot product of length C*kh*kw per (sample, channel, position), and the loops
run directly over the unpadded input with a bounds test standing in for zero padding.
Forward and the input gradient are independent per sample (prange over N); the weight gradient
is independent per output row (prange over OH), so no two threads write the same element.
"""
import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def _forward(x, w, sh, sw, ph, pw, y):
    n_samples, channels, h, wd = x.shape
    oh, ow, out_ch, _, kh, kw = w.shape
    for n in prange(n_samples):
        for i in range(oh):
            for j in range(ow):
                for o in range(out_ch):
                    acc = 0.0  # float64: wider than the input, never narrower
                    for c in range(channels):
                        for u in range(kh):
                            r = i * sh + u - ph
                            if r < 0 or r >= h:
                                continue
                            for v in range(kw):
                                q = j * sw + v - pw
                                if 0 <= q < wd:
                                    acc += w[i, j, o, c, u, v] * x[n, c, r, q]
                    y[n, o, i, j] = acc


@njit(cache=True, parallel=True)
def _grad_input(gy, w, sh, sw, ph, pw, gx):
    n_samples, channels, h, wd = gx.shape
    oh, ow, out_ch, _, kh, kw = w.shape
    for n in prange(n_samples):
        for i in range(oh):
            for j in range(ow):
                for o in range(out_ch):
                    g = gy[n, o, i, j]
                    for c in range(channels):
                        for u in range(kh):
                            r = i * sh + u - ph
                            if r < 0 or r >= h:
                                continue
                            for v in range(kw):
                                q = j * sw + v - pw
                                if 0 <= q < wd:
                                    gx[n, c, r, q] += g * w[i, j, o, c, u, v]


@njit(cache=True, parallel=True)
def _grad_weight(gy, x, sh, sw, ph, pw, gw):
    n_samples, channels, h, wd = x.shape
    oh, ow, out_ch, _, kh, kw = gw.shape
    for i in prange(oh):
        for j in range(ow):
            for o in range(out_ch):
                for c in range(channels):
                    for u in range(kh):
                        r = i * sh + u - ph
                        if r < 0 or r >= h:
                            continue
                        for v in range(kw):
                            q = j * sw + v - pw
                            if q < 0 or q >= wd:
                                continue
                            acc = 0.0
                            for n in range(n_samples):
                                acc += gy[n, o, i, j] * x[n, c, r, q]
                            gw[i, j, o, c, u, v] = acc


def local2d_forward(x, w, b, stride, padding):
    oh, ow, o = w.shape[:3]
    y = np.empty((x.shape[0], o, oh, ow), dtype=x.dtype)
    _forward(x, w, stride[0], stride[1], padding[0], padding[1], y)
    if b is not None:
        y += b
    return y


def local2d_backward(gy, x, w, stride, padding, need_input_grad=True):
    gw = np.zeros_like(w)  # taps that only ever read padding keep a zero gradient
    _grad_weight(gy, x, stride[0], stride[1], padding[0], padding[1], gw)
    gx = None
    if need_input_grad:
        gx = np.zeros_like(x)
        _grad_input(gy, w, stride[0], stride[1], padding[0], padding[1], gx)
    return gx, gw, gy.sum(axis=0).astype(x.dtype)
