"""Row-wise (log-)softmax and fused softmax-cross-entropy, in NumPy.

Every exp sees x - max(x) <= 0, so logits of any magnitude give finite results: with
m = max_j x_j, log sum_j exp(x_j) = m + log sum_j exp(x_j - m), and the sum is in [1, C].
"""
import numpy as np


def log_softmax_forward(x):
    if x.shape[1] == 0:  # no classes: nothing to normalise (and max() would raise)
        return x.copy()
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def log_softmax_backward(gy, y):
    return gy - np.exp(y) * gy.sum(axis=1, keepdims=True)


def softmax_forward(x):
    if x.shape[1] == 0:
        return x.copy()
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def softmax_backward(gy, y):
    return y * (gy - (gy * y).sum(axis=1, keepdims=True))


def cross_entropy_forward(logits, target, label_smoothing):
    """Per-sample loss -(1-eps) logp[t] - eps/C sum_j logp[j], and logp for backward."""
    n, c = logits.shape
    eps = label_smoothing
    logp = log_softmax_forward(logits)
    loss = -(1 - eps) * logp[np.arange(n), target]
    if eps > 0:  # skipped at eps = 0 so a -inf logit elsewhere cannot turn 0 * -inf into NaN
        loss = loss - (eps / c) * logp.sum(axis=1)
    return loss.astype(logits.dtype, copy=False), logp


def cross_entropy_backward(gloss, logp, target, label_smoothing):
    n, c = logp.shape
    eps = label_smoothing
    g = np.exp(logp) - eps / c
    g[np.arange(n), target] -= 1 - eps
    return (g * gloss[:, None]).astype(logp.dtype, copy=False)
