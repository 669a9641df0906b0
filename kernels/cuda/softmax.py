"""Row-wise (log-)softmax and fused softmax-cross-entropy on CuPy arrays through softmax.cu
(see kernels/README.md, "softmax")."""
from __future__ import annotations

from . import _cuda

_kernels = _cuda.Kernels("softmax", (
    "log_softmax_forward", "softmax_forward", "log_softmax_backward", "softmax_backward",
    "cross_entropy_forward", "cross_entropy_backward"))
NAME_EXPRESSIONS = _kernels.name_expressions


def row_grid(rows: int) -> tuple:
    """One block per row (blocks walk the rows when there are more than the grid holds)."""
    return (int(min(max(rows, 1), _cuda.MAX_GRID)),)


def _rows(name, inputs):
    """out (N, C) = row kernel over `inputs`, shaped and typed like the first input."""
    cp = _cuda.cupy()
    first = inputs[0]
    out = cp.empty_like(first)
    if out.size:
        _kernels.launch(name, first.dtype, row_grid(first.shape[0]), (_cuda.REDUCE_THREADS,),
                        (*inputs, out, *_cuda.i64(*first.shape)))
    return out


def log_softmax_forward(x):
    return _rows("log_softmax_forward", (x,))


def log_softmax_backward(gy, y):
    return _rows("log_softmax_backward", (gy, y))


def softmax_forward(x):
    return _rows("softmax_forward", (x,))


def softmax_backward(gy, y):
    return _rows("softmax_backward", (gy, y))


def cross_entropy_forward(logits, target, label_smoothing):
    cp = _cuda.cupy()
    n, c = logits.shape
    eps = float(label_smoothing)
    t = logits.dtype.type
    loss = cp.empty((n,), dtype=logits.dtype)
    logp = cp.empty_like(logits)
    if logits.size:
        # coefficients rounded to the dtype once, as the reference's Python floats are
        _kernels.launch("cross_entropy_forward", logits.dtype, row_grid(n), (_cuda.REDUCE_THREADS,),
                        (logits, target, loss, logp, *_cuda.i64(n, c),
                         t(-(1 - eps)), t(eps / c) if eps > 0 else t(0)))
    return loss, logp


def cross_entropy_backward(gloss, logp, target, label_smoothing):
    cp = _cuda.cupy()
    n, c = logp.shape
    eps = float(label_smoothing)
    t = logp.dtype.type
    glogits = cp.empty_like(logp)
    if logp.size:
        _kernels.launch("cross_entropy_backward", logp.dtype, (_cuda.blocks(logp.size),), (_cuda.THREADS,),
                        (gloss, logp, target, glogits, *_cuda.i64(n, c), t(1 - eps), t(eps / c)))
    return glogits
