"""Temperature scaling (Guo, Pleiss, Sun and Weinberger, 2017): one scalar T > 0 divides every
logit, fitted on held-out data by minimising the negative log-likelihood. T > 1 softens an
over-confident model's probabilities; the predicted class (the argmax) never changes.
"""
from __future__ import annotations

import numpy as np

from . import metrics
from .autograd import Tensor, no_grad

__all__ = ["fit_temperature", "softmax_with_temperature", "predict_logits"]


def _host(a, name):
    if isinstance(a, Tensor):
        a = a.numpy()
    elif type(a).__module__.startswith("cupy"):
        a = a.get()
    return np.asarray(a)


def softmax_with_temperature(logits, temperature=1.0) -> np.ndarray:
    """softmax(logits / T) on the host, float64 (N, C)."""
    z = _host(logits, "logits").astype(np.float64) / float(temperature)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _nll_and_slope(z, t, beta):
    """NLL of softmax(beta z) and its derivative in beta (convex in beta: logsumexp of a line)."""
    s = beta * z
    s = s - s.max(axis=1, keepdims=True)
    e = np.exp(s)
    p = e / e.sum(axis=1, keepdims=True)
    rows = np.arange(len(t))
    nll = float((np.log(e.sum(axis=1)) - s[rows, t]).mean())
    slope = float(((p * z).sum(axis=1) - z[rows, t]).mean())  # d/d beta
    return nll, slope


def fit_temperature(logits, target, max_temperature=100.0, tol=1e-10) -> float:
    """The T in [1/max_temperature, max_temperature] minimising the mean NLL of
    softmax(logits / T) on (logits, target), which should be held-out data.

    The NLL is convex in beta = 1/T, so its derivative is increasing and bisection finds the
    minimum; the result never has a higher NLL on this data than T = 1 (or any other T in range).
    """
    op = "fit_temperature"
    z = _host(logits, "logits").astype(np.float64)
    if z.ndim != 2 or z.shape[1] < 2 or len(z) == 0:
        raise ValueError(f"{op}: logits must be (N, C) with N >= 1 and C >= 2, got shape {z.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError(f"{op}: logits must be finite")
    t = metrics._labels(_host(target, "target"), "target", op, z.shape[1])
    if len(t) != len(z):
        raise ValueError(f"{op}: logits has {len(z)} rows but target has {len(t)} labels")
    if not max_temperature > 1:
        raise ValueError(f"{op}: max_temperature must be > 1, got {max_temperature}")
    lo, hi = 1.0 / max_temperature, float(max_temperature)
    if _nll_and_slope(z, t, lo)[1] >= 0:
        return 1.0 / lo
    if _nll_and_slope(z, t, hi)[1] <= 0:
        return 1.0 / hi
    while hi - lo > tol * hi:
        mid = 0.5 * (lo + hi)
        if _nll_and_slope(z, t, mid)[1] > 0:
            hi = mid
        else:
            lo = mid
    return 2.0 / (lo + hi)


def predict_logits(model, loader):
    """(logits float64 (N, C), targets int64 (N,)) of `model` over `loader`, in eval mode."""
    was_training = model.training
    model.eval()
    outs, targets = [], []
    try:
        with no_grad():
            for x, y in loader:
                outs.append(_host(model(x), "logits").astype(np.float64))
                targets.append(_host(y, "target"))
    finally:
        model.train(was_training)
    return np.concatenate(outs), np.concatenate(targets).astype(np.int64)
