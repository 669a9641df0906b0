"""Per-layer table of a model: output shape, parameters, multiply-accumulates, receptive field.

The model is traced by applying its leaf modules in registration order to a batch of one zero
image (every model in tinyconv.models is such a chain; a Linear fed a 4-D tensor sees it
flattened, as the models' Flatten does). Receptive field r and jump j (the input-pixel distance
between neighbouring outputs) follow r += (k_eff - 1) * j, j *= s for every sliding window.
"""
from __future__ import annotations

import numpy as np

from .autograd import Tensor, no_grad


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _window(m):
    """(kernel extent, stride) along H for sliding-window layers, else None."""
    if not hasattr(m, "kernel_size") or not hasattr(m, "stride"):
        return None
    k, d = _pair(m.kernel_size)[0], _pair(getattr(m, "dilation", 1))[0]
    s = m.stride if m.stride is not None else m.kernel_size
    return d * (k - 1) + 1, _pair(s)[0]


def _macs(m, in_shape, out_shape):
    name = type(m).__name__
    if name == "Conv2d":
        kh, kw = _pair(m.kernel_size)
        return int(np.prod(out_shape)) * (m.in_channels // m.groups) * kh * kw
    if name == "Linear":
        return int(np.prod(out_shape[:-1])) * m.in_features * m.out_features
    return 0


def leaves(model):
    return [(name, m) for name, m in model.named_modules() if not list(m.children())]


def summarize(model, input_shape) -> dict:
    """Trace `model` on a zero batch of `input_shape` (C, H, W); return rows and totals."""
    was_training = model.training
    model.eval()
    dtype = next(iter(model.parameters())).dtype if list(model.parameters()) else np.float32
    x = Tensor(np.zeros((1,) + tuple(input_shape), dtype=dtype))
    rows, rf, jump = [], 1, 1
    try:
        with no_grad():
            for name, m in leaves(model):
                in_shape = x.shape
                if type(m).__name__ == "Linear" and x.ndim > 2:
                    x = x.reshape(x.shape[0], -1)
                x = m(x)
                win = _window(m)
                if win is not None:
                    rf += (win[0] - 1) * jump
                    jump *= win[1]
                params = sum(p.numel() for p in m.parameters())
                rows.append({"name": name, "layer": type(m).__name__, "output": x.shape[1:],
                             "params": params, "macs": _macs(m, in_shape, x.shape),
                             "receptive_field": rf, "jump": jump})
    finally:
        model.train(was_training)
    total = sum(r["params"] for r in rows)
    fc = sum(r["params"] for r in rows if r["layer"] == "Linear")
    return {"rows": rows, "total_params": total, "fc_params": fc,
            "fc_share": fc / total if total else 0.0,
            "total_macs": sum(r["macs"] for r in rows), "input": tuple(input_shape)}


def format_summary(s) -> str:
    head = f"{'layer':<24}{'type':<18}{'output':<18}{'params':>12}{'MACs':>16}{'RF':>6}{'jump':>6}"
    lines = [head, "-" * len(head)]
    for r in s["rows"]:
        shape = "x".join(str(d) for d in r["output"])
        lines.append(f"{r['name']:<24}{r['layer']:<18}{shape:<18}{r['params']:>12,}{r['macs']:>16,}"
                     f"{r['receptive_field']:>6}{r['jump']:>6}")
    lines.append("-" * len(head))
    lines.append(f"input {'x'.join(map(str, s['input']))}: {s['total_params']:,} parameters, "
                 f"{s['total_macs']:,} MACs per image")
    lines.append(f"fully connected layers hold {s['fc_params']:,} parameters "
                 f"({100 * s['fc_share']:.1f}% of all)")
    return "\n".join(lines)
