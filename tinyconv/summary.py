"""Per-layer table of a model: output shape, parameters, multiply-accumulates, receptive field.

The model runs once, as its own forward() defines, on a batch of one zero image; a forward hook
on every leaf module records what it received and returned, in call order (so branches,
ModuleLists and functional code in forward() are traced as they run). Receptive field r and
jump j (the input-pixel distance between neighbouring outputs) follow r += (k_eff - 1) * j,
j *= s for every sliding window met along the way.
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


def _macs(m, out_shape):
    """Multiply-accumulates per image of a layer with a weight matrix or filter bank: every
    output element reads one row of the weight (all but its first axis); a locally connected
    layer, whose positions own their weights, reads each weight once."""
    w = m._parameters.get("weight")
    if w is None or w.ndim < 2:
        return 0
    own = tuple(getattr(m, "output_size", ()) or ())
    if own and w.shape[:len(own)] == own:
        return int(w.numel())
    return int(np.prod(out_shape[1:])) * int(np.prod(w.shape[1:]))


def leaves(model):
    return [(name, m) for name, m in model.named_modules() if not list(m.children())]


def summarize(model, input_shape) -> dict:
    """Run `model` on a zero batch of `input_shape` (C, H, W); return rows and totals."""
    was_training = model.training
    model.eval()
    dtype = next(iter(model.parameters())).dtype if list(model.parameters()) else np.float32
    x = Tensor(np.zeros((1,) + tuple(input_shape), dtype=dtype))
    calls, handles = [], []
    for name, m in leaves(model):
        def record(module, args, out, name=name):
            calls.append((name, module, out.shape))
        handles.append(m.register_forward_hook(record))
    try:
        with no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    rows, rf, jump = [], 1, 1
    for name, m, out_shape in calls:
        win = _window(m)
        if win is not None:
            rf += (win[0] - 1) * jump
            jump *= win[1]
        rows.append({"name": name, "layer": type(m).__name__, "output": out_shape[1:],
                     "params": sum(p.numel() for p in m.parameters()), "macs": _macs(m, out_shape),
                     "receptive_field": rf, "jump": jump})
    total = sum(p.numel() for p in model.parameters())
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
