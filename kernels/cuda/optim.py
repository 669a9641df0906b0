"""Optimizer updates on CuPy arrays (elementwise CuPy expressions): the same contract as
kernels/reference/optim.py."""


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
