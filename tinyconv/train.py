"""A plain supervised training loop: what `tinyconv train` runs, usable from Python too."""
from __future__ import annotations

import time

import numpy as np

from . import metrics
from .autograd import no_grad
from .nn import functional as F


def evaluate(model, loader):
    """Mean loss, top-1 accuracy, predictions and targets of `model` over `loader` (eval mode)."""
    was_training = model.training
    model.eval()
    total, loss_sum, preds, targets = 0, 0.0, [], []
    with no_grad():
        for x, y in loader:
            logits = model(x)
            loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
            preds.append(np.argmax(logits.numpy(), axis=1))
            targets.append(y.numpy())
            total += len(y)
    model.train(was_training)
    preds, targets = np.concatenate(preds), np.concatenate(targets)
    return {"loss": loss_sum / total, "accuracy": metrics.accuracy(preds, targets),
            "preds": preds, "targets": targets}


def fit(model, optimizer, train_loader, test_loader, epochs, scheduler=None, progress=None,
        log=print):
    """Train for `epochs`, evaluating on `test_loader` after each; returns the history.

    progress: None, or a callable wrapping an iterable (e.g. tqdm) to show batches.
    """
    history = []
    for epoch in range(1, epochs + 1):
        model.train()
        start, seen, loss_sum, correct = time.perf_counter(), 0, 0.0, 0
        batches = train_loader if progress is None else progress(train_loader, epoch)
        for x, y in batches:
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            n = len(y)
            seen += n
            loss_sum += loss.item() * n
            correct += int((np.argmax(logits.numpy(), axis=1) == y.numpy()).sum())
        train_time = time.perf_counter() - start
        test = evaluate(model, test_loader)
        if scheduler is not None:
            scheduler.step()
        row = {"epoch": epoch, "train_loss": loss_sum / seen, "train_accuracy": correct / seen,
               "test_loss": test["loss"], "test_accuracy": test["accuracy"],
               "lr": optimizer.param_groups[0]["lr"], "epoch_seconds": train_time}
        history.append(row)
        log(f"epoch {epoch:>3}/{epochs}  train loss {row['train_loss']:.4f}  "
            f"train acc {100 * row['train_accuracy']:.2f}%  test acc {100 * row['test_accuracy']:.2f}%  "
            f"({train_time:.1f} s)")
    return history
