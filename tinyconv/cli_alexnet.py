"""`tinyconv train alexnet --data folder --data-dir DIR`: the paper's model on a user's images.

DIR holds one sub-folder per class (or train/ and val/ folders of that form). Following
Krizhevsky et al. (2012): images rescaled so the shorter side is 256 and centre-cropped to
256x256; training sees random 227x227 crops (the paper's "224" with its 3 extra pixels of
border), horizontal flips and PCA colour noise (std 0.1, from the training set's RGB
covariance); validation sees the central crop. SGD with momentum 0.9 (--weight-decay 5e-4 is the
paper's), the rate divided by 10 when the validation loss stops improving.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

CROP = 227


def _split(folder, seed):
    """(train, val) views of one class-per-folder tree: 1 in 10 images of each class (at least
    one, when the class has two or more) held out for validation."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in range(len(folder.classes)):
        rows = rng.permutation(np.flatnonzero(folder.targets == c))
        n_val = max(1, len(rows) // 10) if len(rows) > 1 else 0
        val += rows[:n_val].tolist()
        train += rows[n_val:].tolist()
    if not val:
        raise ValueError(f"{folder.root}: too few images to hold out a validation set (give each "
                         "class at least two, or use DIR/train and DIR/val)")
    return folder.subset(sorted(train)), folder.subset(sorted(val))


def _mean_std(dataset, chunk=64):
    total, squares, count = 0.0, 0.0, 0
    for start in range(0, len(dataset), chunk):
        x = dataset.get_batch(np.arange(start, min(start + chunk, len(dataset))))[0].astype(np.float64)
        total = total + x.sum(axis=(0, 2, 3))
        squares = squares + (x * x).sum(axis=(0, 2, 3))
        count += x.shape[0] * x.shape[2] * x.shape[3]
    mean = total / count
    return mean, np.sqrt(np.maximum(squares / count - mean * mean, 1e-12))


def train_alexnet(args):
    import tinyconv as tc
    from . import data, models, optim, resume, serialization
    from .data.folder import ImageFolder
    from .train import evaluate, fit

    if args.data != "folder" or not args.data_dir:
        raise ValueError("tinyconv train alexnet needs --data folder --data-dir DIR (one "
                         "sub-folder of images per class)")
    lr = 0.01 if args.lr is None else args.lr
    if args.backend:
        tc.set_backend(args.backend)
    tc.manual_seed(args.seed)
    root = Path(args.data_dir)
    if (root / "train").is_dir() and (root / "val").is_dir():
        train_set, val_set = ImageFolder(root / "train"), ImageFolder(root / "val")
        if val_set.classes != train_set.classes:
            raise ValueError(f"{root}: train/ and val/ hold different classes")
    else:
        train_set, val_set = _split(ImageFolder(root), args.seed)
    resumed = None
    if args.resume:
        path = Path(args.resume)
        resumed = resume.load_training_state(path / "checkpoint.npz" if path.is_dir() else path)
        if resumed.get("arch") != "alexnet" or resumed.get("classes") != train_set.classes:
            raise ValueError(f"--resume {args.resume}: not an AlexNet run on these classes")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    mean, std = _mean_std(train_set)
    eigvals, eigvecs = data.channel_pca(train_set)
    train_set.transform = data.Compose([
        data.RandomCrop(CROP), data.RandomHorizontalFlip(), data.PCAColorAugmentation(eigvals, eigvecs, 0.1),
        data.Normalize(mean, std)])
    val_set.transform = data.Compose([data.CenterCrop(CROP), data.Normalize(mean, std)])
    train_loader = data.DataLoader(train_set, batch_size=args.batch_size, shuffle=True, seed=args.seed)
    val_loader = data.DataLoader(val_set, batch_size=args.batch_size)

    classes = train_set.classes
    model = models.alexnet(variant="original", num_classes=len(classes))
    model.to("cuda" if tc.get_backend() == "cupy" else "cpu")
    opt = optim.SGD(model.parameters(), lr=lr, momentum=args.momentum, weight_decay=args.weight_decay)
    sched = optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.1, patience=3)
    start_epoch, done = 1, []
    if resumed is not None:
        start_epoch, done = resume.restore(resumed, model, opt, sched, train_loader)
    meta = {"arch": "alexnet", "variant": "original", "classes": classes,
            "mean": mean.tolist(), "std": std.tolist()}

    def checkpoint(epoch, history):
        serialization.save(resume.training_state(model, opt, sched, train_loader, epoch,
                                                 done + history, **meta), out / "checkpoint.npz")
    progress = None
    if not args.no_progress:
        from tqdm import tqdm

        def progress(loader, epoch):
            return tqdm(loader, desc=f"epoch {epoch}/{args.epochs}", leave=False, unit="batch",
                        file=sys.stderr)
    print(f"AlexNet (the paper's) on {root}: {len(classes)} classes, {len(train_set)} train / "
          f"{len(val_set)} validation images, backend {tc.get_backend()}, seed {args.seed}")
    started = time.perf_counter()
    history = done + fit(model, opt, train_loader, val_loader, args.epochs, scheduler=sched,
                         progress=progress, start_epoch=start_epoch, on_epoch_end=checkpoint)
    seconds = time.perf_counter() - started
    final = evaluate(model, val_loader)
    report = {"model": "alexnet", "data": str(root), "classes": classes,
              "backend": tc.get_backend(), "config": {k: v for k, v in vars(args).items() if k != "command"},
              "train_images": len(train_set), "val_images": len(val_set),
              "val_accuracy": final["accuracy"], "seconds": seconds, "history": history}
    tmp = out / "metrics.json.tmp"
    tmp.write_text(json.dumps(report, indent=2, allow_nan=False))
    os.replace(tmp, out / "metrics.json")
    print(f"validation accuracy {100 * final['accuracy']:.2f}% on {len(val_set)} images after "
          f"{args.epochs} epochs in {seconds:.1f} s; wrote {out}/checkpoint.npz, metrics.json")
