"""Row-wise (log-)softmax and fused softmax-cross-entropy, compiled with Numba.

`prange` over rows: each row is normalised independently, max-subtracted as in the reference
(every exp sees x - max <= 0), with its sum of exps accumulated in float64.
"""
import numpy as np
from numba import njit, prange


@njit(cache=True, inline="always")
def _row_max(x, r):
    m = x[r, 0]
    for j in range(1, x.shape[1]):
        m = max(m, x[r, j])  # a NaN anywhere still makes the whole row NaN through exp below
    return m


@njit(parallel=True, cache=True)
def log_softmax_forward(x):
    n, c = x.shape
    y = np.empty_like(x)
    if c == 0:  # no classes: nothing to normalise, and x[r, 0] would not exist
        return y
    for r in prange(n):
        m = _row_max(x, r)
        s = 0.0
        for j in range(c):
            s += np.exp(x[r, j] - m)
        lse = m + np.log(s)
        for j in range(c):
            y[r, j] = x[r, j] - lse
    return y


@njit(parallel=True, cache=True)
def log_softmax_backward(gy, y):
    n, c = gy.shape
    gx = np.empty_like(gy)
    for r in prange(n):
        s = 0.0
        for j in range(c):
            s += gy[r, j]
        for j in range(c):
            gx[r, j] = gy[r, j] - np.exp(y[r, j]) * s
    return gx


@njit(parallel=True, cache=True)
def softmax_forward(x):
    n, c = x.shape
    y = np.empty_like(x)
    if c == 0:
        return y
    for r in prange(n):
        m = _row_max(x, r)
        s = 0.0
        for j in range(c):
            e = np.exp(x[r, j] - m)
            y[r, j] = e
            s += e
        for j in range(c):
            y[r, j] = y[r, j] / s
    return y


@njit(parallel=True, cache=True)
def softmax_backward(gy, y):
    n, c = gy.shape
    gx = np.empty_like(gy)
    for r in prange(n):
        s = 0.0
        for j in range(c):
            s += gy[r, j] * y[r, j]
        for j in range(c):
            gx[r, j] = y[r, j] * (gy[r, j] - s)
    return gx


@njit(parallel=True, cache=True)
def _ce_forward(logits, target, eps):
    n, c = logits.shape
    logp = log_softmax_forward(logits)
    loss = np.empty(n, dtype=logits.dtype)
    for r in prange(n):
        value = -(1 - eps) * logp[r, target[r]]
        if eps > 0:  # skipped at eps = 0 so a -inf logit elsewhere cannot give 0 * -inf = NaN
            s = 0.0
            for j in range(c):
                s += logp[r, j]
            value -= eps / c * s
        loss[r] = value
    return loss, logp


@njit(parallel=True, cache=True)
def _ce_backward(gloss, logp, target, eps):
    n, c = logp.shape
    g = np.empty_like(logp)
    for r in prange(n):
        t = target[r]
        for j in range(c):
            onehot = 1 - eps if j == t else 0.0
            g[r, j] = (np.exp(logp[r, j]) - eps / c - onehot) * gloss[r]
    return g


def cross_entropy_forward(logits, target, label_smoothing):
    return _ce_forward(logits, target, float(label_smoothing))


def cross_entropy_backward(gloss, logp, target, label_smoothing):
    return _ce_backward(gloss, logp, target, float(label_smoothing))
