"""`tinyconv train ecg1d`: LeNet-1D on synthetic heartbeat windows (tinyconv.data.Heartbeats)."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np


def train_ecg1d(args):
    import tinyconv as tc
    from . import data, metrics, models, optim, serialization
    from .train import evaluate, fit

    args.lr = 0.02 if args.lr is None else args.lr  # 0.05 (LeNet-5's) overshoots on these windows
    if args.backend:
        tc.set_backend(args.backend)
    tc.manual_seed(args.seed)
    out = Path(args.out if args.out != "runs/lenet5" else "runs/ecg1d")
    out.mkdir(parents=True, exist_ok=True)
    train_set = data.Heartbeats(train=True, seed=args.seed)
    test_set = data.Heartbeats(train=False, seed=args.seed)
    train_loader = data.DataLoader(train_set, batch_size=args.batch_size, shuffle=True, seed=args.seed)
    test_loader = data.DataLoader(test_set, batch_size=500)
    model = models.lenet1d(num_classes=3, activation=args.activation)
    model.to("cuda" if tc.get_backend() == "cupy" else "cpu")
    opt = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                    weight_decay=args.weight_decay)
    progress = None
    if not args.no_progress:
        from tqdm import tqdm

        def progress(loader, epoch):
            return tqdm(loader, desc=f"epoch {epoch}/{args.epochs}", leave=False, unit="batch",
                        file=sys.stderr)
    counts = np.bincount(test_set.targets, minlength=3)
    print(f"LeNet-1D ({args.activation}) on synthetic ECG (McSharry et al. 2003 model, 125 Hz, "
          f"2.05 s windows): {len(train_set)} train / {len(test_set)} test beats from different "
          f"simulated people, backend {tc.get_backend()}, seed {args.seed}")
    print("test classes: " + ", ".join(f"{n} {name}" for n, name in zip(counts, data.ecg.CLASS_NAMES))
          + f"; always answering 'normal' scores {100 * counts[0] / counts.sum():.1f}%")
    start = time.perf_counter()
    from .cli import _loss_fn
    history = fit(model, opt, train_loader, test_loader, args.epochs, progress=progress,
                  loss_fn=_loss_fn(args), track_dead=args.track_dead)
    seconds = time.perf_counter() - start
    final = evaluate(model, test_loader)
    cm = np.asarray(metrics.confusion_matrix(final["preds"], final["targets"], num_classes=3))
    recall = cm.diagonal() / np.maximum(cm.sum(1), 1)
    from .cli import _calibration
    calibration = _calibration(model, test_loader)
    serialization.save({"model": model.state_dict(), "epoch": args.epochs, "arch": "lenet1d",
                        "activation": args.activation}, out / "checkpoint.npz")
    report = {"model": "lenet1d", "data": "heartbeats", "backend": tc.get_backend(),
              "config": {k: v for k, v in vars(args).items() if k != "command"},
              "test_accuracy": final["accuracy"], "per_class_recall": dict(zip(data.ecg.CLASSES, recall.tolist())),
              "seconds": seconds, "history": history, "confusion_matrix": cm.tolist(), **calibration}
    tmp = out / "metrics.json.tmp"
    tmp.write_text(json.dumps(report, indent=2))
    os.replace(tmp, out / "metrics.json")
    print(f"calibration: ECE {100 * calibration['test_ece']:.2f}% (15 bins), NLL {calibration['test_nll']:.4f}")
    print("recall per class: " + ", ".join(f"{c} {100 * r:.1f}%" for c, r in zip(data.ecg.CLASSES, recall)))
    print(f"test accuracy {100 * final['accuracy']:.2f}% on {len(test_set)} held-out beats after "
          f"{args.epochs} epochs in {seconds:.1f} s; wrote {out}/checkpoint.npz, metrics.json")
