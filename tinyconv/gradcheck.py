"""Finite-difference gradient checking.

`gradcheck(fn, inputs)` contracts the output of `fn` with a random upstream gradient `v` (never
all ones: a `.sum()` hides errors that cancel), so the scalar checked is L(x) = <fn(x), v>.
Its analytic gradient comes from `backward(v)`; the numeric one from central differences
(L(x + eps e_i) - L(x - eps e_i)) / 2 eps, element by element ("full"), or along one random
direction per input ("directional", two evaluations per input: cheap for large tensors).
"""
from __future__ import annotations

import numpy as np

from .autograd import Tensor, no_grad


class GradcheckError(AssertionError):
    """The analytic and numeric gradients disagree; the message names the worst element."""


def _scalar(fn, inputs, v):
    with no_grad():
        out = fn(*inputs)
    return float((out.numpy().astype(np.float64) * v).sum())


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, mode="full", seed=0,
              raise_exception=True):
    """Check the gradients of `fn` with respect to every input that requires grad.

    inputs: a Tensor or a sequence of Tensors (float64 where they require grad).
    Returns True when all agree within |analytic - numeric| <= atol + rtol * |numeric|; else raises
    GradcheckError (or returns False with raise_exception=False).
    """
    if mode not in ("full", "directional"):
        raise ValueError(f"gradcheck: mode must be 'full' or 'directional', got {mode!r}")
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} is {inputs[i].dtype}; finite differences need "
                            "float64 (call .double())")
        if inputs[i].device != "cpu":
            raise ValueError(f"gradcheck: input {i} is on {inputs[i].device}; run gradcheck on CPU "
                             "tensors or use gradcheck_device")
    rng = np.random.default_rng(seed)

    # The analytic gradient goes into fresh .grad slots. A .grad the caller had is put back
    # afterwards; an input that had none keeps the analytic gradient of <fn(x), v>.
    kept = [t.grad if isinstance(t, Tensor) else None for t in inputs]
    for t in inputs:
        if isinstance(t, Tensor):
            t.grad = None
    try:
        out = fn(*inputs)
        if not isinstance(out, Tensor):
            raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
        v = rng.standard_normal(out.shape)
        out.backward(v.astype(out.dtype))
        analytic_all = {i: (np.zeros(inputs[i].shape) if inputs[i].grad is None
                        else inputs[i].grad.numpy().astype(np.float64)) for i in checked}
    finally:
        for t, g in zip(inputs, kept):
            if isinstance(t, Tensor) and g is not None:
                t.grad = g

    failures = []
    for i in checked:
        t = inputs[i]
        analytic = analytic_all[i]
        data = t.data  # perturbed in place (never a reshaped copy), restored after each evaluation
        if mode == "full":
            numeric = np.zeros(t.shape)
            for j in np.ndindex(*t.shape):
                orig = data[j]
                data[j] = orig + eps
                plus = _scalar(fn, inputs, v)
                data[j] = orig - eps
                minus = _scalar(fn, inputs, v)
                data[j] = orig
                numeric[j] = (plus - minus) / (2 * eps)
            err = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
            worst = np.unravel_index(int(np.argmax(err)), t.shape) if err.size else ()
            if err.size and err[worst] > 0:
                failures.append(f"input {i} (shape {t.shape}): worst element {tuple(int(w) for w in worst)}: "
                                f"analytic {analytic[worst]:.10g} vs numeric {numeric[worst]:.10g}; "
                                f"{int((err > 0).sum())} of {err.size} elements out of tolerance")
        else:
            d = rng.standard_normal(t.shape)
            orig = data.copy()
            data[...] = orig + eps * d
            plus = _scalar(fn, inputs, v)
            data[...] = orig - eps * d
            minus = _scalar(fn, inputs, v)
            data[...] = orig
            numeric = (plus - minus) / (2 * eps)
            projected = float((analytic * d).sum())
            if abs(projected - numeric) > atol + rtol * abs(numeric):
                failures.append(f"input {i} (shape {t.shape}): directional derivative analytic "
                                f"{projected:.10g} vs numeric {numeric:.10g}")
    if failures:
        if raise_exception:
            raise GradcheckError("gradcheck failed:\n  " + "\n  ".join(failures))
        return False
    return True
