"""Classification metrics on Tensors or arrays (computed on the host, returned as Python floats).

Ties: a prediction is the *lowest* class index among equal maximal scores (NumPy's and
PyTorch's argmax), and top-k ranks classes by (score descending, index ascending), so the
target counts as within the top k only if fewer than k classes beat it, a class beating it
when its score is higher, or equal with a lower index. Top-1 therefore always agrees with
`accuracy`. NaN scores raise: a ranking among NaNs means nothing.
"""
from __future__ import annotations

import numbers

import numpy as np

from .autograd import Tensor


def _host(a, name: str, op: str) -> np.ndarray:
    if isinstance(a, Tensor):
        return a.numpy()
    if type(a).__module__.startswith("cupy"):
        return a.get()
    if isinstance(a, (np.ndarray, list, tuple)):
        return np.asarray(a)
    raise TypeError(f"{op}: {name} must be a Tensor or an array, got {type(a).__name__}")


def _labels(a, name: str, op: str, num_classes=None) -> np.ndarray:
    if a.ndim != 1:
        raise ValueError(f"{op}: {name} must be 1-D class indices, got shape {a.shape}")
    if a.size and a.dtype.kind not in "iu":
        raise TypeError(f"{op}: {name} must hold integer class indices, got {a.dtype}")
    if a.size and a.min() < 0:
        raise ValueError(f"{op}: {name} holds negative class indices (min {a.min()})")
    if num_classes is not None and a.size and a.max() >= num_classes:
        raise ValueError(f"{op}: {name} holds class indices outside [0, {num_classes}): "
                         f"max {a.max()}")
    return a.astype(np.int64, copy=False)


def _scores(a, name: str, op: str) -> np.ndarray:
    if a.ndim != 2:
        raise ValueError(f"{op}: {name} must be 2-D (N, classes), got shape {a.shape}")
    if a.shape[1] == 0:
        raise ValueError(f"{op}: {name} has no classes (shape {a.shape})")
    if a.dtype.kind == "f" and np.isnan(a).any():
        raise ValueError(f"{op}: {name} contains NaN (did training diverge?)")
    return a


def _predictions(output, target, op: str, num_classes=None):
    """(predicted classes, target classes), both int64 (N,), checked against each other."""
    out = _host(output, "output", op)
    tgt = _host(target, "target", op)
    if out.ndim == 2:
        out = _scores(out, "output", op)
        num_classes = out.shape[1] if num_classes is None else num_classes
        if out.shape[1] != num_classes:
            raise ValueError(f"{op}: output has {out.shape[1]} classes but num_classes is {num_classes}")
        preds = out.argmax(axis=1)
    elif out.ndim == 1:
        preds = _labels(out, "predictions", op, num_classes)
    else:
        raise ValueError(f"{op}: output must be logits (N, classes) or predictions (N,), got shape {out.shape}")
    tgt = _labels(tgt, "target", op, num_classes)
    if preds.shape[0] != tgt.shape[0]:
        raise ValueError(f"{op}: output {out.shape} and target {tgt.shape} disagree on the batch size")
    if tgt.size == 0:
        raise ValueError(f"{op}: empty batch (output {out.shape})")
    return preds.astype(np.int64, copy=False), tgt


def accuracy(output, target) -> float:
    """Fraction of samples whose prediction equals the target.

    output: logits/scores (N, C), predicted as their argmax, or class indices (N,).
    target: class indices (N,).
    """
    preds, tgt = _predictions(output, target, "accuracy")
    return float(np.mean(preds == tgt))


def topk_accuracy(output, target, k=(1, 5)):
    """Fraction of samples whose target is among the k highest scores, for each k.

    output: scores (N, C); target: class indices (N,); k: an int (returns a float) or a
    sequence of ints (returns a tuple of floats, in the same order). Ties: see the module doc.
    """
    op = "topk_accuracy"
    scores = _scores(_host(output, "output", op), "output", op)
    n, c = scores.shape
    tgt = _labels(_host(target, "target", op), "target", op, c)
    if tgt.shape[0] != n:
        raise ValueError(f"{op}: output {scores.shape} and target {tgt.shape} disagree on the batch size")
    if n == 0:
        raise ValueError(f"{op}: empty batch (output {scores.shape})")
    ks = (k,) if isinstance(k, numbers.Integral) else tuple(k)
    for kk in ks:
        if isinstance(kk, bool) or not isinstance(kk, numbers.Integral) or not 1 <= kk <= c:
            raise ValueError(f"{op}: every k must be an int in [1, {c}] for {c} classes, got k={k!r}")
    if not ks:
        raise ValueError(f"{op}: k is empty")
    own = scores[np.arange(n), tgt][:, None]
    lower_index = np.arange(c)[None, :] < tgt[:, None]
    # the target's 0-based rank under the ordering (score descending, index ascending)
    rank = (scores > own).sum(axis=1) + ((scores == own) & lower_index).sum(axis=1)
    results = tuple(float(np.mean(rank < kk)) for kk in ks)
    return results[0] if isinstance(k, numbers.Integral) else results


def confusion_matrix(output, target, num_classes: int) -> np.ndarray:
    """Counts (num_classes, num_classes), int64: row = true class, column = predicted class
    (scikit-learn's layout). output: logits (N, C) or predicted classes (N,)."""
    op = "confusion_matrix"
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 1:
        raise ValueError(f"{op}: num_classes must be a positive int, got {num_classes!r}")
    preds, tgt = _predictions(output, target, op, int(num_classes))
    counts = np.bincount(tgt * num_classes + preds, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64, copy=False)


# --- calibration (Guo, Pleiss, Sun and Weinberger, 2017) ----------------------------------------
def _probabilities(probs, target, op):
    p = _scores(_host(probs, "probs", op).astype(np.float64), "probs", op)
    t = _labels(_host(target, "target", op), "target", op, p.shape[1])
    if len(t) != len(p):
        raise ValueError(f"{op}: probs has {len(p)} rows but target has {len(t)} labels")
    if len(p) == 0:
        raise ValueError(f"{op}: no samples")
    if p.min() < 0 or not np.allclose(p.sum(1), 1, atol=1e-4):
        raise ValueError(f"{op}: probs must be non-negative rows summing to 1 (softmax outputs), "
                         f"got row sums in [{p.sum(1).min():.4g}, {p.sum(1).max():.4g}]")
    return p, t


def _check_bins(n_bins, op):
    if isinstance(n_bins, bool) or not isinstance(n_bins, numbers.Integral) or n_bins < 1:
        raise ValueError(f"{op}: n_bins must be a positive int, got {n_bins!r}")
    return int(n_bins)


def reliability_diagram(probs, target, n_bins=15) -> dict:
    """Per-bin data of a reliability diagram: predictions grouped by confidence (the top
    probability) into n_bins equal-width bins ((m-1)/M, m/M]; returns numpy arrays
    `edges` (M+1,), `count`, `confidence` (mean top probability), `accuracy` (fraction correct),
    the last two NaN for empty bins."""
    op = "reliability_diagram"
    p, t = _probabilities(probs, target, op)
    n_bins = _check_bins(n_bins, op)
    conf, pred = p.max(1), p.argmax(1)
    correct = (pred == t).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # bin m holds (edges[m], edges[m+1]]; a confidence of exactly 0 cannot occur (it is >= 1/C)
    index = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(index, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.bincount(index, conf, n_bins) / count
        accuracy_ = np.bincount(index, correct, n_bins) / count
    return {"edges": edges, "count": count, "confidence": confidence, "accuracy": accuracy_}


def expected_calibration_error(probs, target, n_bins=15) -> float:
    """ECE = sum over confidence bins of (bin size / N) * |accuracy(bin) - confidence(bin)|.

    probs (N, C) predicted probabilities (softmax outputs), target (N,) class indices; bins as in
    `reliability_diagram`. 0 for a perfectly calibrated model; the gap between how sure it
    says it is and how often it is right otherwise.
    """
    d = reliability_diagram(probs, target, n_bins)
    used = d["count"] > 0
    n = d["count"].sum()
    return float((d["count"][used] / n * np.abs(d["accuracy"][used] - d["confidence"][used])).sum())


def nll(probs, target) -> float:
    """Mean negative log-likelihood -log p[target] of predicted probabilities (N, C); a
    probability of exactly 0 for the true class gives inf."""
    p, t = _probabilities(probs, target, "nll")
    with np.errstate(divide="ignore"):
        return float(-np.log(p[np.arange(len(t)), t]).mean())
