"""`tinyconv distill`: train a small student from a trained LeNet-5 teacher (Hinton et al., 2015)."""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

STUDENTS = ("lenet5-small", "lenet5")


def _number(kind, low, high=None, what=""):
    import argparse

    def parse(text):
        v = kind(text)
        if not math.isfinite(v) or v < low or (high is not None and v > high) or (v == low and what == ">"):
            raise argparse.ArgumentTypeError(f"must be {what} {low}" + (f" and <= {high}" if high else "")
                                             + f", got {text}")
        return v
    return parse


def add_parser(sub):
    d = sub.add_parser("distill", help="train a small student from a trained LeNet-5 teacher "
                                       "(knowledge distillation)")
    d.add_argument("--teacher", required=True, metavar="CKPT",
                   help="checkpoint.npz (or its folder) of `tinyconv train lenet5`")
    d.add_argument("--student", choices=STUDENTS, default="lenet5-small",
                   help="lenet5-small: 8,042 parameters (13%% of LeNet-5's 61,706)")
    d.add_argument("--T", type=_number(float, 0, what=">"), default=4.0, help="temperature (> 0)")
    d.add_argument("--alpha", type=_number(float, 0, 1, what=">="), default=0.9,
                   help="weight of the soft (teacher) term in [0, 1]; 0 = hard labels only")
    d.add_argument("--epochs", type=_number(int, 1, what=">="), default=10)
    d.add_argument("--batch-size", type=_number(int, 1, what=">="), default=64)
    d.add_argument("--lr", type=_number(float, 0, what=">"), default=0.05)
    d.add_argument("--momentum", type=_number(float, 0, what=">="), default=0.9)
    d.add_argument("--seed", type=_number(int, 0, what=">="), default=0)
    d.add_argument("--omit-class", type=int, default=None, metavar="DIGIT",
                   help="leave every training image of this digit out of the transfer set "
                        "(Hinton's dark-knowledge experiment); the test set keeps it")
    d.add_argument("--data", choices=["mnist5k", "mnist"], default="mnist5k")
    d.add_argument("--data-dir", default=None, help="folder with the MNIST IDX .gz files (--data mnist)")
    d.add_argument("--backend", choices=["numpy", "numba", "cupy"], default=None)
    d.add_argument("--out", default="runs/distill", help="folder for checkpoint.npz and metrics.json")
    d.set_defaults(func=cmd_distill)


def cmd_distill(args):
    import numpy as np

    import tinyconv as tc
    from . import data, metrics, models, optim, resume, serialization
    from .cli_tools import _load_model
    from .distill import fit_distill, teacher_logits
    from .train import evaluate

    if args.omit_class is not None and not 0 <= args.omit_class <= 9:
        raise ValueError(f"--omit-class must be a digit 0-9, got {args.omit_class}")
    if args.backend:
        tc.set_backend(args.backend)
    teacher, teacher_path = _load_model(args.teacher)
    device = "cuda" if tc.get_backend() == "cupy" else "cpu"
    teacher.to(device)
    tc.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    transform = data.Compose([data.Pad(2), data.Normalize(data.MNIST_MEAN, data.MNIST_STD)])
    train_set = data.MNIST(root=args.data_dir, train=True, source=args.data)
    test_set = data.MNIST(root=args.data_dir, train=False, source=args.data)
    keep = np.arange(len(train_set)) if args.omit_class is None else \
        np.flatnonzero(train_set.targets != args.omit_class)
    images = train_set.data[keep, None].astype(np.float32) / np.float32(255)
    labels = np.asarray(train_set.targets)[keep]
    soft = teacher_logits(teacher, data.DataLoader(data.TensorDataset(images, labels), batch_size=500,
                                                   transform=transform))
    train_loader = data.DataLoader(data.TensorDataset(images, labels, soft), batch_size=args.batch_size,
                                   shuffle=True, seed=args.seed, transform=transform)
    test_loader = data.DataLoader(test_set, batch_size=500, transform=transform)
    teacher_test = evaluate(teacher, test_loader)

    student = models.lenet5_small() if args.student == "lenet5-small" else models.lenet5()
    student.to(device)
    opt = optim.SGD(student.parameters(), lr=args.lr, momentum=args.momentum)
    sched = optim.lr_scheduler.StepLR(opt, step_size=max(1, (2 * args.epochs) // 3), gamma=0.1)
    n_student, n_teacher = models.count_parameters(student), models.count_parameters(teacher)
    print(f"distilling LeNet-5 ({n_teacher:,} parameters, test accuracy "
          f"{100 * teacher_test['accuracy']:.2f}%) into {args.student} ({n_student:,} parameters) "
          f"at T={args.T}, alpha={args.alpha} on {len(labels)} {args.data} images"
          + ("" if args.omit_class is None else f" (digit {args.omit_class} withheld)")
          + f", backend {tc.get_backend()}")
    start = time.perf_counter()
    history = fit_distill(student, opt, train_loader, test_loader, args.epochs, T=args.T,
                          alpha=args.alpha, scheduler=sched)
    seconds = time.perf_counter() - start
    final = evaluate(student, test_loader)
    cm = np.asarray(metrics.confusion_matrix(final["preds"], final["targets"], num_classes=10))
    per_class = (cm.diagonal() / np.maximum(cm.sum(1), 1)).tolist()
    meta = {"arch": args.student.replace("-", "_"), "activation": "relu", "pool": "max"}
    serialization.save(resume.training_state(student, opt, sched, train_loader, args.epochs, history,
                                             **meta), out / "checkpoint.npz")
    report = {"model": args.student, "teacher": str(teacher_path), "backend": tc.get_backend(),
              "data": args.data, "config": {k: v for k, v in vars(args).items()
                                            if k not in ("command", "func")},
              "student_parameters": n_student, "teacher_parameters": n_teacher,
              "teacher_test_accuracy": teacher_test["accuracy"], "train_images": len(labels),
              "test_images": len(test_set), "test_accuracy": final["accuracy"],
              "per_class_accuracy": per_class, "seconds": seconds, "history": history,
              "confusion_matrix": cm.tolist()}
    tmp = out / "metrics.json.tmp"
    tmp.write_text(json.dumps(report, indent=2, allow_nan=False))
    os.replace(tmp, out / "metrics.json")
    omitted = "" if args.omit_class is None else \
        f"; digit {args.omit_class} (never seen): {100 * per_class[args.omit_class]:.1f}%"
    print(f"student test accuracy {100 * final['accuracy']:.2f}% (teacher "
          f"{100 * teacher_test['accuracy']:.2f}%) after {args.epochs} epochs in {seconds:.1f} s"
          f"{omitted}; wrote {out}/checkpoint.npz, metrics.json")
