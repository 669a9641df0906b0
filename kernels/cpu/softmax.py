"""Row-wise (log-)softmax and fused softmax-cross-entropy, compiled with Numba (parallel rows)."""
import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def log_softmax_forward(x):
    n, c = x.shape
    y = np.empty_like(x)
    for r in prange(n):
        m = x[r, 0]
        for j in range(1, c):
            m = max(m, x[r, j])
        s = 0.0  # float64 sum of exps
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
    for r in prange(n):
        m = x[r, 0]
        for j in range(1, c):
            m = max(m, x[r, j])
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
        s = 0.0
        for j in range(c):
            s += logp[r, j]
        loss[r] = -(1 - eps) * logp[r, target[r]] - (eps / c) * s
    return loss, logp


@njit(parallel=True, cache=True)
def _ce_backward(gloss, logp, target, eps):
    n, c = logp.shape
    g = np.empty_like(logp)
    for r in prange(n):
        for j in range(c):
            g[r, j] = (np.exp(logp[r, j]) - eps / c) * gloss[r]
        g[r, target[r]] -= (1 - eps) * gloss[r]
    return g


def cross_entropy_forward(logits, target, label_smoothing):
    return _ce_forward(logits, target, float(label_smoothing))


def cross_entropy_backward(gloss, logp, target, label_smoothing):
    return _ce_backward(np.ascontiguousarray(gloss), logp, target, float(label_smoothing))
