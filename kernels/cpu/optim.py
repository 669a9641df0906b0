"""Optimizer updates compiled with Numba: the same contract as kernels/reference/optim.py.

One parallel pass over each parameter reads p, g and the buffer once and writes p and the
buffer once; the NumPy form makes a full-size temporary per term (AlexNet: 61M parameters,
~5 passes of 244 MB each, most of an optimizer step spent faulting in fresh pages).
"""
from numba import njit, prange


@njit(parallel=True, cache=True)
def _sgd(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first):
    for i in prange(p.shape[0]):
        d = g[i] + weight_decay * p[i]
        if momentum != 0:
            b = d if first else momentum * buf[i] + (1 - dampening) * d
            buf[i] = b
            d = d + momentum * b if nesterov else b
        p[i] -= lr * d


def sgd_step(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first):
    flat_b = buf.reshape(-1) if buf is not None else p.reshape(-1)[:0]
    t = p.dtype.type
    _sgd(p.reshape(-1), g.reshape(-1), flat_b, t(lr), t(momentum), t(dampening), t(weight_decay),
         bool(nesterov), bool(first))
