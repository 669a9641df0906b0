"""Optimizer updates, the executable specification; every array is updated in place.

sgd_step(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first): PyTorch's SGD —
  d = g + weight_decay * p
  buf = d (first step) or momentum * buf + (1 - dampening) * d      (when momentum != 0)
  d = d + momentum * buf if nesterov else buf                         (when momentum != 0)
  p -= lr * d
`buf` is ignored (may be None) when momentum is 0. `g` is left unchanged.
"""


def sgd_step(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first):
    d = g + weight_decay * p if weight_decay != 0 else g
    if momentum != 0:
        if first:
            buf[...] = d
        else:
            buf *= momentum
            buf += (1 - dampening) * d if dampening != 0 else d
        d = d + momentum * buf if nesterov else buf
    p -= lr * d
