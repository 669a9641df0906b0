"""Accuracy of a classifier under common corruptions (`tinyconv.data.corruptions`), each at
several severities: what `tinyconv robustness` runs, usable from Python too."""
from __future__ import annotations

import numpy as np

from . import data
from .data import corruptions as _corruptions
from .train import evaluate


def _names(names):
    if names is None:
        return list(_corruptions.CORRUPTIONS)
    names = list(names)
    unknown = [n for n in names if n not in _corruptions.CORRUPTIONS]
    if unknown or not names:
        raise ValueError(f"corruption_accuracy: unknown corruptions {unknown} (choose from "
                         f"{sorted(_corruptions.CORRUPTIONS)})")
    return names


def _severities(severities):
    levels = sorted(set(severities))
    if not levels or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or not 1 <= s <= 5
                         for s in levels):
        raise ValueError(f"corruption_accuracy: severities must be ints in 1..5, got {severities!r}")
    return [int(s) for s in levels]


def corruption_accuracy(model, images, targets, corruptions=None, severities=(1, 2, 3, 4, 5),
                        seed=0, transform=None, batch_size=500) -> dict:
    """Top-1 accuracy of `model` (evaluated in eval mode) on `images` corrupted by each of
    `corruptions` (names of `CORRUPTIONS`, default all) at each of `severities` (1..5).

    images: float (N, C, H, W) or (N, H, W) in [0, 1], the corruptions' convention; (N, H, W)
        gets a channel axis before `transform` (e.g. Pad + Normalize) feeds the model.
    seed: every corruption and severity uses it, so one severity differs from the next only in
        strength (the same noise, directions, signs).

    Returns {"clean": accuracy on the images as given, "severities": [...],
    "accuracy": {name: [accuracy per severity]}, "mean": {name: mean over the severities},
    "mean_corruption_accuracy": mean over every corruption and severity}.
    """
    names, levels = _names(corruptions), _severities(severities)
    images = _corruptions._check_images(images, "corruption_accuracy")
    targets = np.asarray(targets)
    if targets.shape != images.shape[:1]:
        raise ValueError(f"corruption_accuracy: targets {targets.shape} must hold one label per "
                         f"image of {images.shape}")

    def accuracy(x):
        x = x[:, None] if x.ndim == 3 else x
        loader = data.DataLoader(data.TensorDataset(x, targets), batch_size=batch_size, seed=0,
                                 transform=transform)
        return evaluate(model, loader)["accuracy"]

    table = {name: [accuracy(_corruptions.CORRUPTIONS[name](images, s, seed=seed)) for s in levels]
             for name in names}
    return {"clean": accuracy(images), "severities": levels, "accuracy": table,
            "mean": {name: float(np.mean(v)) for name, v in table.items()},
            "mean_corruption_accuracy": float(np.mean(list(table.values())))}
