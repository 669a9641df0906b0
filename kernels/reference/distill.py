"""Knowledge-distillation loss (Hinton, Vinyals and Dean, 2015), fused, in NumPy.

Per sample, with p = softmax(s/T), q = softmax(t/T) and r = softmax(s):

    loss = alpha * T^2 * sum_j q_j (log q_j - log p_j)  -  (1 - alpha) * log r[target]

Every log-softmax subtracts its row maximum first, so logits of any size stay finite. A teacher
probability that underflows to 0 contributes 0 (the limit of q log q), never 0 * -inf = NaN.
"""
import numpy as np


def _log_softmax(x):
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _kl_terms(logq, logp):
    """q_j (log q_j - log p_j), 0 where q_j is 0."""
    q = np.exp(logq)
    return q * np.where(q > 0, logq - logp, 0)


def distillation_forward(student, teacher, target, T, alpha):
    """-> (loss (N,), logp = log_softmax(s/T), logq = log_softmax(t/T), logr = log_softmax(s))."""
    n = student.shape[0]
    logp = _log_softmax(student / T)
    logq = _log_softmax(teacher / T)
    logr = _log_softmax(student)
    loss = np.zeros(n, dtype=student.dtype)
    if alpha > 0:  # each term is skipped at weight 0, so an infinite one cannot turn 0 * inf into NaN
        loss = loss + (alpha * T * T) * _kl_terms(logq, logp).sum(axis=1)
    if alpha < 1:
        loss = loss - (1 - alpha) * logr[np.arange(n), target]
    return loss.astype(student.dtype, copy=False), logp, logq, logr


def distillation_backward(gloss, logp, logq, logr, target, T, alpha, need_teacher_grad):
    """-> (gstudent, gteacher or None).

    d/ds = alpha*T*(p - q) + (1-alpha)*(r - onehot(target));
    d/dt = alpha*T*q*(d - sum_j q_j d_j) with d = log q - log p (the KL of the row)."""
    n = logp.shape[0]
    g = gloss[:, None]
    q = np.exp(logq)
    gs = np.zeros_like(logp)
    if alpha > 0:
        gs = gs + (alpha * T) * (np.exp(logp) - q)
    if alpha < 1:
        ce = np.exp(logr)
        ce[np.arange(n), target] -= 1
        gs = gs + (1 - alpha) * ce
    gs = (gs * g).astype(logp.dtype, copy=False)
    if not need_teacher_grad:
        return gs, None
    d = np.where(q > 0, logq - logp, 0)
    kl = (q * d).sum(axis=1, keepdims=True)
    gt = ((alpha * T) * q * (d - kl) * g).astype(logp.dtype, copy=False)
    return gs, gt
