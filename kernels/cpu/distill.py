"""Knowledge-distillation loss, compiled with Numba: one pass over each row (prange over rows).

The same contract and formulas as kernels/reference/distill.py. Each row's three log-softmaxes
(s/T, t/T, s) are max-subtracted, their sums of exps and the row's KL accumulated in float64.
"""
import numpy as np
from numba import njit, prange


@njit(cache=True, inline="always")
def _row_log_softmax(x, r, scale, out):
    """out[r] = log_softmax(x[r] * scale)."""
    c = x.shape[1]
    m = x[r, 0] * scale
    for j in range(1, c):
        m = max(m, x[r, j] * scale)
    s = 0.0
    for j in range(c):
        s += np.exp(x[r, j] * scale - m)
    lse = m + np.log(s)
    for j in range(c):
        out[r, j] = x[r, j] * scale - lse


@njit(parallel=True, cache=True)
def _forward(student, teacher, target, T, alpha):
    n, c = student.shape
    logp, logq, logr = np.empty_like(student), np.empty_like(student), np.empty_like(student)
    loss = np.empty(n, dtype=student.dtype)
    inv_t = 1.0 / T
    for r in prange(n):
        _row_log_softmax(student, r, inv_t, logp)
        _row_log_softmax(teacher, r, inv_t, logq)
        _row_log_softmax(student, r, 1.0, logr)
        value = 0.0
        if alpha > 0:  # skipped at weight 0, so an infinite term cannot turn 0 * inf into NaN
            kl = 0.0
            for j in range(c):
                q = np.exp(logq[r, j])
                if q > 0:  # the limit of q log q at q = 0
                    kl += q * (logq[r, j] - logp[r, j])
            value += alpha * T * T * kl
        if alpha < 1:
            value -= (1 - alpha) * logr[r, target[r]]
        loss[r] = value
    return loss, logp, logq, logr


@njit(parallel=True, cache=True)
def _backward(gloss, logp, logq, logr, target, T, alpha, need_teacher_grad):
    n, c = logp.shape
    gs = np.empty_like(logp)
    gt = np.empty_like(logp) if need_teacher_grad else np.empty((0, c), dtype=logp.dtype)
    for r in prange(n):
        g = gloss[r]
        kl = 0.0
        for j in range(c):
            q = np.exp(logq[r, j])
            v = 0.0
            if alpha > 0:
                v += alpha * T * (np.exp(logp[r, j]) - q)
            if alpha < 1:
                onehot = 1.0 if j == target[r] else 0.0
                v += (1 - alpha) * (np.exp(logr[r, j]) - onehot)
            gs[r, j] = v * g
            if q > 0:
                kl += q * (logq[r, j] - logp[r, j])
        if need_teacher_grad:
            for j in range(c):
                q = np.exp(logq[r, j])
                d = logq[r, j] - logp[r, j] if q > 0 else 0.0
                gt[r, j] = alpha * T * q * (d - kl) * g
    return gs, gt


def distillation_forward(student, teacher, target, T, alpha):
    return _forward(student, teacher, target, float(T), float(alpha))


def distillation_backward(gloss, logp, logq, logr, target, T, alpha, need_teacher_grad):
    gs, gt = _backward(gloss, logp, logq, logr, target, float(T), float(alpha), bool(need_teacher_grad))
    return gs, (gt if need_teacher_grad else None)
