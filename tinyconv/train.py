"""A plain supervised training loop: what `tinyconv train` runs, usable from Python too."""
from __future__ import annotations

import math
import time

import numpy as np

from . import metrics
from .autograd import Tensor, no_grad
from .dead import dead_units
from .nn import functional as F
from .optim.lr_scheduler import ReduceLROnPlateau


def model_device(model) -> str:
    """Where the model's parameters live ("cpu" or "cuda")."""
    return next((p.device for p in model.parameters()), "cpu")


def _on(device, *tensors):
    """The batch on the model's device (a DataLoader yields host tensors)."""
    return tuple(t.to(device) if isinstance(t, Tensor) and t.device != device else t
                 for t in tensors)


def _finite(value, what, epoch):
    if not math.isfinite(value):
        raise RuntimeError(f"fit: the {what} became {value} in epoch {epoch}; training stopped "
                           "(lower --lr, or check the data for NaN/inf)")
    return value


def evaluate(model, loader, device=None):
    """Mean loss, top-1 accuracy, predictions and targets of `model` over `loader` (eval mode).
    Batches are moved to `device` (default: the model's)."""
    device = model_device(model) if device is None else device
    was_training = model.training
    model.eval()
    total, loss_sum, preds, targets = 0, 0.0, [], []
    with no_grad():
        for x, y in loader:
            x, y = _on(device, x, y)
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
        log=print, loss_fn=None, track_dead=False, device=None,
        start_epoch=1, on_epoch_end=None):
    """Train for `epochs`, evaluating on `test_loader` after each; returns the history.

    progress: None, or a callable wrapping an iterable (e.g. tqdm) to show batches.
    device: where batches go before the forward pass (default: the model's device), so a model
        moved to "cuda" trains from a host DataLoader. A non-finite loss stops with RuntimeError.
    scheduler: stepped after each epoch (ReduceLROnPlateau with the test loss); row["lr"] is
        the rate the epoch trained with.
    start_epoch: the first epoch to train (a resumed run, see tinyconv.resume); the history
        returned holds the epochs trained by this call.
    on_epoch_end: called as on_epoch_end(epoch, history) after each epoch (e.g. to checkpoint).
    loss_fn: loss(logits, target) -> scalar Tensor minimised in training (default
        F.cross_entropy; e.g. nn.FocalLoss(gamma=2)); the logged test loss stays cross-entropy.
    track_dead: after each epoch also measure each ReLU/LeakyReLU layer's fraction of dead units
        (never active over the training set; tinyconv.dead.dead_units), logged and kept in row["dead"].
    A `distributed.DistributedDataParallel` model has its gradients averaged over the ranks
    before each step, and the epoch's train loss/accuracy summed over every rank's shard.
    """
    loss_fn = F.cross_entropy if loss_fn is None else loss_fn
    history = []
    device = model_device(model) if device is None else device
    for epoch in range(start_epoch, epochs + 1):
        model.train()
        lr = optimizer.param_groups[0]["lr"]  # the rate this epoch trains with
        start, seen, loss_sum, correct = time.perf_counter(), 0, 0.0, 0
        batches = train_loader if progress is None else progress(train_loader, epoch)
        for x, y in batches:
            x, y = _on(device, x, y)
            logits = model(x)
            loss = loss_fn(logits, y)
            _finite(loss.item(), "training loss", epoch)  # before the step spreads NaN into weights
            optimizer.zero_grad()
            loss.backward()
            if hasattr(model, "finish_gradient_sync"):  # DistributedDataParallel: average over ranks
                model.finish_gradient_sync()
            optimizer.step()
            n = len(y)
            seen += n
            loss_sum += loss.item() * n
            correct += int((np.argmax(logits.numpy(), axis=1) == y.numpy()).sum())
        train_time = time.perf_counter() - start
        if hasattr(model, "reduce_sums"):  # every rank saw its own shard: report the whole epoch
            loss_sum, correct, seen = model.reduce_sums(loss_sum, correct, seen)
        test = evaluate(model, test_loader, device)
        _finite(test["loss"], "test loss", epoch)
        if isinstance(scheduler, ReduceLROnPlateau):  # it steps on a metric: the test loss
            scheduler.step(test["loss"])
        elif scheduler is not None:
            scheduler.step()
        row = {"epoch": epoch, "train_loss": loss_sum / seen, "train_accuracy": correct / seen,
               "test_loss": test["loss"], "test_accuracy": test["accuracy"],
               "lr": lr, "epoch_seconds": train_time}
        dead = ""
        if track_dead:
            row["dead"] = dead_units(model, train_loader)
            dead = "  dead units " + " ".join(f"{100 * v:.0f}%" for v in row["dead"].values())
        history.append(row)
        log(f"epoch {epoch:>3}/{epochs}  train loss {row['train_loss']:.4f}  "
            f"train acc {100 * row['train_accuracy']:.2f}%  test acc {100 * row['test_accuracy']:.2f}%  "
            f"({train_time:.1f} s){dead}")
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)
    return history
