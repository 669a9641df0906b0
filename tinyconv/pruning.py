"""Iterative global magnitude pruning with retraining (Han et al. 2015), on nn.utils.prune.

Each step removes, over all Conv2d and Linear weights together, the smallest magnitudes still
alive (prune.global_unstructured with L1Unstructured), then retrains the survivors for a few
epochs while the masks hold the removed weights at zero. The sparsity after step k of n is
1 - (1 - target)^(k/n): every step removes the same fraction of what is left, so the last steps,
which cut into weights that matter more, remove fewer of them. The step counts are exact
integers, so the final sparsity is round(target * weights) / weights.
"""
from __future__ import annotations

import numpy as np

from .nn.layers import Conv2d, Linear
from .nn.utils import prune
from .train import evaluate

__all__ = ["prunable", "layer_sparsity", "schedule", "prune_step", "prune_and_retrain"]


def prunable(model):
    """(name, module) of every Conv2d and Linear in `model`, in order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (Conv2d, Linear))]


def _weight(m) -> np.ndarray:
    if "weight_orig" in m._parameters:
        return m.weight_orig.numpy() * m.weight_mask.numpy()
    return m.weight.numpy()


def layer_sparsity(model) -> dict:
    """{layer name: fraction of zero weights} plus "global" over all of them."""
    out, zeros, total = {}, 0, 0
    for name, m in prunable(model):
        w = _weight(m)
        z = int((w == 0).sum())
        out[name] = z / w.size
        zeros, total = zeros + z, total + w.size
    out["global"] = zeros / total
    return out


def schedule(target, steps, total):
    """Weights pruned (cumulative, ints) after each of `steps` steps to reach `target` of `total`."""
    if not 0.0 <= target < 1.0:
        raise ValueError(f"pruning: the target sparsity must lie in [0, 1), got {target}")
    if steps < 1:
        raise ValueError(f"pruning: steps must be >= 1, got {steps}")
    return [round((1 - (1 - target) ** (k / steps)) * total) for k in range(1, steps + 1)]


def prune_step(model, count, exclude=()):
    """Prune `count` more weights globally by magnitude (on top of any earlier masks), over the
    conv and linear layers whose names are not in `exclude`."""
    layers = [(n, m) for n, m in prunable(model) if n not in exclude]
    # scores from weight_orig * mask now: the `weight` attribute is only refreshed by a forward
    scores = {(m, "weight"): _weight(m) for _, m in layers}
    prune.global_unstructured([(m, "weight") for _, m in layers], prune.L1Unstructured,
                              importance_scores=scores, amount=int(count))


def prune_and_retrain(model, train_loader, test_loader, target, steps, epochs_per_step,
                      make_optimizer, make_scheduler=None, log=print, progress=None, exclude=()):
    """Prune `model` in `steps` to `target` global sparsity, retraining `epochs_per_step` after
    each step with a fresh optimizer from make_optimizer(parameters) (and, when given, a
    scheduler make_scheduler(optimizer) stepped after every epoch). Returns one row per step
    (sparsity, accuracy right after pruning and after retraining, per-layer sparsity).
    exclude: names of layers left dense (e.g. the first conv and the output layer, which hold
    few weights and matter most); `target` still counts every conv and linear weight, so the
    other layers are pruned harder to reach it."""
    from .train import fit
    names = [n for n, _ in prunable(model)]
    unknown = [n for n in exclude if n not in names]
    if unknown:
        raise ValueError(f"pruning: exclude names {unknown} are not conv/linear layers of the model ({names})")
    total = sum(_weight(m).size for _, m in prunable(model))
    room = sum(_weight(m).size for n, m in prunable(model) if n not in exclude)
    if round(target * total) > room:
        raise ValueError(f"pruning: {target:.0%} of {total} weights cannot be reached with only "
                         f"{room} weights outside {list(exclude)}")
    already = total - sum(int(np.count_nonzero(_weight(m))) for _, m in prunable(model))
    rows = []
    for k, goal in enumerate(schedule(target, steps, total), 1):
        prune_step(model, max(0, goal - already), exclude)
        already = max(goal, already)
        pruned_acc = evaluate(model, test_loader)["accuracy"]
        if epochs_per_step:
            opt = make_optimizer(model.parameters())
            fit(model, opt, train_loader, test_loader, epochs_per_step, progress=progress,
                scheduler=None if make_scheduler is None else make_scheduler(opt),
                log=lambda *a, **kw: None)
        acc = evaluate(model, test_loader)["accuracy"]
        sp = layer_sparsity(model)
        rows.append({"step": k, "sparsity": sp["global"], "accuracy_pruned": pruned_acc,
                     "accuracy_retrained": acc, "layers": sp})
        log(f"step {k}/{steps}: global sparsity {100 * sp['global']:.2f}%  accuracy right after "
            f"pruning {100 * pruned_acc:.2f}%, after {epochs_per_step} epoch(s) of retraining "
            f"{100 * acc:.2f}%")
    return rows
