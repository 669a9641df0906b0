"""Knowledge-distillation loss on CuPy arrays: elementwise and row-reduction CuPy expressions
(no .cu of its own, like linear.py), the same contract and formulas as
kernels/reference/distill.py. The rows are short (one logit per class), so the work is a few
fused elementwise passes; a hand-written kernel would add code without adding speed."""
from __future__ import annotations

from . import _cuda


def _log_softmax(x):
    cp = _cuda.cupy()
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - cp.log(cp.exp(shifted).sum(axis=1, keepdims=True))


def _kl_terms(logq, logp):
    cp = _cuda.cupy()
    q = cp.exp(logq)
    return q * cp.where(q > 0, logq - logp, 0)


def distillation_forward(student, teacher, target, T, alpha):
    cp = _cuda.cupy()
    n = student.shape[0]
    logp = _log_softmax(student / T)
    logq = _log_softmax(teacher / T)
    logr = _log_softmax(student)
    loss = cp.zeros(n, dtype=student.dtype)
    if alpha > 0:
        loss = loss + (alpha * T * T) * _kl_terms(logq, logp).sum(axis=1)
    if alpha < 1:
        loss = loss - (1 - alpha) * logr[cp.arange(n), target]
    return loss.astype(student.dtype, copy=False), logp, logq, logr


def distillation_backward(gloss, logp, logq, logr, target, T, alpha, need_teacher_grad):
    cp = _cuda.cupy()
    n = logp.shape[0]
    g = gloss[:, None]
    q = cp.exp(logq)
    gs = cp.zeros_like(logp)
    if alpha > 0:
        gs = gs + (alpha * T) * (cp.exp(logp) - q)
    if alpha < 1:
        ce = cp.exp(logr)
        ce[cp.arange(n), target] -= 1
        gs = gs + (1 - alpha) * ce
    gs = (gs * g).astype(logp.dtype, copy=False)
    if not need_teacher_grad:
        return gs, None
    d = cp.where(q > 0, logq - logp, 0)
    kl = (q * d).sum(axis=1, keepdims=True)
    gt = ((alpha * T) * q * (d - kl) * g).astype(logp.dtype, copy=False)
    return gs, gt
