"""Knowledge distillation (Hinton, Vinyals and Dean, 2015): train a student on a teacher's
softened outputs and the hard labels, with `F.distillation_loss`. What `tinyconv distill` runs.

The teacher's logits do not change while the student trains (the teacher is fixed and its
input transform deterministic), so they can be computed once with `teacher_logits` and handed
to the loop as a third field of every batch, instead of running the teacher on every step.
"""
from __future__ import annotations

import time

import numpy as np

from .autograd import Tensor, no_grad
from .nn import functional as F
from .train import _finite, _on, evaluate, model_device
from .optim.lr_scheduler import ReduceLROnPlateau


def teacher_logits(teacher, loader) -> np.ndarray:
    """The teacher's logits (N, C) over `loader` (unshuffled: rows in the dataset's order),
    computed in eval mode without a graph."""
    was_training = teacher.training
    teacher.eval()
    device, out = model_device(teacher), []
    with no_grad():
        for batch in loader:
            (x,) = _on(device, batch[0])
            out.append(teacher(x).numpy())
    teacher.train(was_training)
    return np.concatenate(out)


def fit_distill(student, optimizer, train_loader, test_loader, epochs, teacher=None, T=4.0,
                alpha=0.9, scheduler=None, log=print, progress=None, on_epoch_end=None):
    """Train `student` for `epochs` on `F.distillation_loss(student(x), teacher(x), y, T, alpha)`,
    evaluating on `test_loader` after each epoch; returns the history (rows as `train.fit`'s).

    train_loader yields (x, y, teacher_logits) -- precomputed, e.g. with `teacher_logits` -- or
    (x, y), in which case `teacher` (a Module, run in eval mode without a graph) supplies them.
    alpha = 0 trains on the hard labels alone (plain cross-entropy): the baseline.
    """
    if teacher is not None:
        teacher.eval()
    device = model_device(student)
    history = []
    for epoch in range(1, epochs + 1):
        student.train()
        lr = optimizer.param_groups[0]["lr"]
        start, seen, loss_sum, correct = time.perf_counter(), 0, 0.0, 0
        batches = train_loader if progress is None else progress(train_loader, epoch)
        for batch in batches:
            if len(batch) == 3:
                x, y, soft = _on(device, *batch)
            elif teacher is None:
                raise ValueError("fit_distill: batches are (x, y) without teacher logits and no "
                                 "teacher was given")
            else:
                x, y = _on(device, *batch)
                with no_grad():
                    soft = teacher(x)
            logits = student(x)
            soft = soft if isinstance(soft, Tensor) else Tensor(soft)
            loss = F.distillation_loss(logits, soft.to(device, dtype=logits.dtype), y, T, alpha)
            _finite(loss.item(), "training loss", epoch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seen += len(y)
            loss_sum += loss.item() * len(y)
            correct += int((np.argmax(logits.numpy(), axis=1) == y.numpy()).sum())
        train_time = time.perf_counter() - start
        test = evaluate(student, test_loader, device)
        if isinstance(scheduler, ReduceLROnPlateau):
            scheduler.step(test["loss"])
        elif scheduler is not None:
            scheduler.step()
        row = {"epoch": epoch, "train_loss": loss_sum / seen, "train_accuracy": correct / seen,
               "test_loss": test["loss"], "test_accuracy": test["accuracy"], "lr": lr,
               "epoch_seconds": train_time}
        history.append(row)
        log(f"epoch {epoch:>3}/{epochs}  distillation loss {row['train_loss']:.4f}  "
            f"train acc {100 * row['train_accuracy']:.2f}%  test acc {100 * row['test_accuracy']:.2f}%  "
            f"({train_time:.1f} s)")
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)
    return history
