"""`tinyconv train | evaluate | predict | data | summary | bench` (also `python -m tinyconv ...`)."""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path


def _input_shape(text):
    try:
        dims = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--input must look like 3,227,227, got {text!r}") from None
    if len(dims) != 3 or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"--input needs three positive sizes C,H,W, got {text!r}")
    return dims


def _positive(kind):
    def parse(text):
        v = kind(text)
        if not math.isfinite(v) or v <= 0:
            raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
        return v
    return parse


def _non_negative(kind):
    def parse(text):
        v = kind(text)
        if not math.isfinite(v) or v < 0:
            raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
        return v
    return parse


# optional packages -> the extra that installs them (a missing one gives one line, not a traceback)
_EXTRAS = {"tqdm": "train", "matplotlib": "train", "PIL": "train", "cupy": "cuda",
           "mpi4py": "distributed"}


def _resume_from(args):
    """The checkpoint to resume from (checked against this run's settings), or None."""
    if args.resume is None:
        return None
    from . import resume
    path = Path(args.resume)
    state = resume.load_training_state(path / "checkpoint.npz" if path.is_dir() else path)
    want = {"arch": "lenet5", "activation": args.activation, "pool": args.pool}
    got = {k: state.get(k) for k in want}
    if got != want:
        raise ValueError(f"--resume {args.resume}: the checkpoint holds {got}, this run asks for {want}")
    if state["epoch"] >= args.epochs:
        raise ValueError(f"--resume {args.resume}: the checkpoint already holds {state['epoch']} "
                         f"epochs; pass --epochs larger than that")
    return state


def _require_optional(args):
    """Import what training will need at the end (plots) or on the way (progress bars) now,
    so that a missing package stops the run before any data is read."""
    import importlib
    for name in (["tqdm"] if not args.no_progress else []) + ["matplotlib"]:
        importlib.import_module(name)


_TRAIN_EPILOG = """\
distributed (lenet5, data parallel; pip install 'tinyconv[distributed]'):
  mpiexec -n 2 tinyconv train lenet5 --epochs 1
runs 2 processes that each take half of every batch (--batch-size is the global batch and must be
divisible by the number of processes); gradients are averaged over the processes before each step,
and the run trains bitwise the weights one process trains with the same --batch-size (float32 on
the default backend, while each process holds more than 8 samples of a batch: the kernels add
every gradient's batch sum as a tree whose top split is the processes' shares). With more than 2 processes the gradients are gathered and added in that
tree's order (a power-of-two count reproduces one process). Rank 0 alone prints and writes the
checkpoint, metrics and plot. If a process dies, MPICH stops the job and names its PID (listed
per rank at the start); if one hangs, the others abort after --dist-timeout seconds naming its
rank.
"""


def build_parser():
    p = argparse.ArgumentParser(prog="tinyconv", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train LeNet-5 on real MNIST, or LeNet-1D on synthetic ECG (ecg1d)",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_TRAIN_EPILOG)
    t.add_argument("model", choices=["lenet5", "ecg1d", "alexnet"])
    t.add_argument("--backend", choices=["numpy", "numba", "cupy"], default=None,
                   help="kernel backend (default: $TINYCONV_BACKEND or numba)")
    t.add_argument("--epochs", type=_positive(int), default=15)
    t.add_argument("--batch-size", type=_positive(int), default=64)
    t.add_argument("--lr", type=_positive(float), default=None,
                   help="SGD learning rate (default 0.05 for lenet5, 0.02 for ecg1d)")
    t.add_argument("--momentum", type=_non_negative(float), default=0.9)
    t.add_argument("--weight-decay", type=_non_negative(float), default=0.0)
    t.add_argument("--seed", type=_non_negative(int), default=0)
    t.add_argument("--data", choices=["mnist5k", "mnist", "folder"], default="mnist5k",
                   help="mnist5k: the real 5,000-image subset shipped offline; mnist: full IDX files; "
                        "folder: your images, one sub-folder per class (alexnet, with --data-dir)")
    t.add_argument("--data-dir", default=None, help="folder with the MNIST IDX .gz files (--data mnist)")
    t.add_argument("--activation", choices=["relu", "tanh", "leaky_relu"], default="relu")
    t.add_argument("--loss", choices=["cross_entropy", "focal"], default="cross_entropy",
                   help="training loss; focal: Lin et al.'s focal loss (see --gamma)")
    t.add_argument("--gamma", type=float, default=2.0, help="focal loss focusing parameter (>= 0)")
    t.add_argument("--label-smoothing", type=float, default=0.0,
                   help="cross-entropy label smoothing eps in [0, 1] (the printed ECE shows its effect)")
    t.add_argument("--track-dead", action="store_true",
                   help="log each ReLU layer's fraction of dead units (never active) every epoch")
    t.add_argument("--pool", choices=["max", "avg"], default="max")
    t.add_argument("--out", default="runs/lenet5", help="folder for checkpoint, metrics and plot")
    t.add_argument("--resume", metavar="DIR", default=None,
                   help="continue the run whose checkpoint.npz is in DIR (written after every "
                        "epoch): same weights as an uninterrupted run")
    t.add_argument("--no-progress", action="store_true", help="no progress bars")
    t.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                   help="weights and images")
    t.add_argument("--dist-backend", choices=["auto", "mpi", "nccl"], default="auto",
                   help="under mpiexec: mpi (NumPy arrays), nccl (CuPy arrays, one GPU a process), "
                        "auto (nccl on --backend cupy when usable, else mpi)")
    t.add_argument("--dist-timeout", type=_positive(float), default=None,
                   help="seconds to wait for the other processes before aborting the job "
                        "(default $TINYCONV_DIST_TIMEOUT or 45)")

    s = sub.add_parser("summary", help="per-layer shapes, parameters, MACs, receptive fields")
    s.add_argument("model", choices=["lenet5", "alexnet"])
    s.add_argument("--variant", default="original", help="alexnet: original | torchvision | gap")
    s.add_argument("--num-classes", type=_positive(int), default=None)
    s.add_argument("--input", type=_input_shape, default=None, help="C,H,W (default: the model's)")

    b = sub.add_parser("bench", help="benchmark backends (run from a source checkout)")
    b.add_argument("args", nargs=argparse.REMAINDER, help="passed to `python -m benchmarks`")

    from .cli_tools import add_parsers  # evaluate, predict, data download
    add_parsers(sub, _positive(int))
    # Commands in their own modules: each add_parser(sub) registers a subparser whose
    # defaults carry func=<handler(args)>.
    from .cli_robustness import add_parser as _add_robustness
    _add_robustness(sub)
    from .cli_distill import add_parser as _add_distill
    _add_distill(sub)
    from .cli_prune import add_parser as _add_prune
    _add_prune(sub)
    from .cli_quantize import add_parser as _add_quantize
    _add_quantize(sub)
    return p


def cmd_summary(args):
    from . import models
    from .summary import format_summary, summarize
    if args.model == "lenet5":
        model = models.lenet5(num_classes=args.num_classes or 10)
        shape = args.input or (1, 32, 32)
    else:
        model = models.alexnet(variant=args.variant, num_classes=args.num_classes or 1000,
                               in_channels=args.input[0] if args.input else 3)
        shape = args.input or ((3, 224, 224) if args.variant == "torchvision" else (3, 227, 227))
    print(f"{args.model}" + (f" ({args.variant})" if args.model == "alexnet" else ""))
    print(format_summary(summarize(model, shape)))


def cmd_train(args):
    import numpy as np

    import tinyconv as tc
    from . import data, metrics, models, optim, resume, serialization
    from .train import evaluate, fit

    if args.model == "ecg1d":
        from .cli_ecg import train_ecg1d
        return train_ecg1d(args)
    args.lr = 0.05 if args.lr is None else args.lr
    if args.model == "alexnet":  # on a folder of the user's images (--data folder --data-dir DIR)
        from .cli_alexnet import train_alexnet
        return train_alexnet(args)
    _require_optional(args)
    resumed = _resume_from(args)  # a checkpoint that cannot resume stops the run here
    if args.backend:
        tc.set_backend(args.backend)
    tc.manual_seed(args.seed)
    world = _join_world(args)
    main_rank = world.rank == 0
    out = Path(args.out)
    if main_rank:
        out.mkdir(parents=True, exist_ok=True)

    transform = data.Compose([data.Pad(2), data.Normalize(data.MNIST_MEAN, data.MNIST_STD)]
                             + ([lambda x, rng=None: x.astype(args.dtype)] if args.dtype != "float32" else []))
    train_set = data.MNIST(root=args.data_dir, train=True, source=args.data)
    test_set = data.MNIST(root=args.data_dir, train=False, source=args.data)
    if world.size == 1:
        train_loader = data.DataLoader(train_set, batch_size=args.batch_size, shuffle=True,
                                       seed=args.seed, transform=transform)
    else:  # each rank's k-th batch is its share of the single-process k-th batch
        from .distributed import DistributedSampler
        train_loader = data.DataLoader(train_set, batch_size=args.batch_size // world.size,
                                       seed=args.seed, transform=transform,
                                       sampler=DistributedSampler(train_set, seed=args.seed))
    test_loader = data.DataLoader(test_set, batch_size=500, transform=transform)
    model = models.lenet5(activation=args.activation, pool=args.pool)
    device = "cuda" if tc.get_backend() == "cupy" else "cpu"
    model.to(device, dtype=args.dtype)
    if world.size > 1:
        from .distributed import DistributedDataParallel
        model = DistributedDataParallel(model, group=world, deterministic=world.size > 2)
    opt = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                    weight_decay=args.weight_decay)
    sched = optim.lr_scheduler.StepLR(opt, step_size=max(1, (2 * args.epochs) // 3), gamma=0.1)
    start_epoch, done = 1, []
    if resumed is not None:
        start_epoch, done = resume.restore(resumed, model, opt, sched, train_loader)
    meta = {"arch": "lenet5", "activation": args.activation, "pool": args.pool}

    def checkpoint(epoch, history):  # after every epoch, so that a stopped run can --resume
        if main_rank:
            serialization.save(resume.training_state(model, opt, sched, train_loader, epoch,
                                                     done + history, **meta), out / "checkpoint.npz")

    progress = None
    if not args.no_progress and main_rank:
        from tqdm import tqdm

        def progress(loader, epoch):
            return tqdm(loader, desc=f"epoch {epoch}/{args.epochs}", leave=False, unit="batch",
                        file=sys.stderr)
    log = print if main_rank else (lambda *a, **k: None)
    log(f"LeNet-5 ({args.activation}, {args.pool}-pool) on {args.data}: {len(train_set)} train / "
        f"{len(test_set)} test images, backend {tc.get_backend()}, seed {args.seed}"
        + _world_line(world, args.batch_size))
    start = time.perf_counter()
    history = done + fit(model, opt, train_loader, test_loader, args.epochs, scheduler=sched,
                         start_epoch=start_epoch, on_epoch_end=checkpoint,
                  progress=progress, log=log,
                  loss_fn=_loss_fn(args), track_dead=args.track_dead)
    seconds = time.perf_counter() - start
    final = evaluate(model, test_loader)
    cm = metrics.confusion_matrix(final["preds"], final["targets"], num_classes=10)
    if not main_rank:  # the other ranks hold the same weights: rank 0 alone writes
        return
    calibration = _calibration(model, test_loader)

    serialization.save(resume.training_state(model, opt, sched, train_loader, args.epochs,
                                             history, **meta), out / "checkpoint.npz")
    report = {"model": "lenet5", "backend": tc.get_backend(), "data": args.data,
              "config": {k: v for k, v in vars(args).items() if k != "command"},
              "world_size": world.size, "dist_backend": world.backend,
              "train_images": len(train_set), "test_images": len(test_set),
              "test_accuracy": final["accuracy"], "seconds": seconds, "history": history,
              "confusion_matrix": np.asarray(cm).tolist(), **calibration}
    tmp = out / "metrics.json.tmp"
    tmp.write_text(json.dumps(report, indent=2, allow_nan=False))  # standard JSON only
    os.replace(tmp, out / "metrics.json")
    _plot(history, out / "curves.png")
    print(f"calibration on the test images: ECE {100 * calibration['test_ece']:.2f}% (15 bins), "
          f"NLL {calibration['test_nll']:.4f}")
    print(f"test accuracy {100 * final['accuracy']:.2f}% on {len(test_set)} held-out images "
          f"after {args.epochs} epochs in {seconds:.1f} s; wrote {out}/checkpoint.npz, "
          f"metrics.json, curves.png")


def _join_world(args):
    from . import distributed
    world = distributed.init(args.dist_backend if distributed.launched_size() > 1 else "auto",
                             timeout=args.dist_timeout)
    if args.batch_size % world.size:
        raise ValueError(f"--batch-size {args.batch_size} is the global batch; it must be divisible "
                         f"by the {world.size} processes so that each takes an equal share")
    return world


def _world_line(world, batch_size):
    if world.size == 1:
        return ""
    peers = getattr(world, "mpi", world).peers  # the launcher names a failed process by its PID
    where = ", ".join(f"rank {r} = pid {pid} on {host}" for r, (host, pid) in enumerate(peers))
    return (f"\ndistributed: {world.size} processes over {world.backend} ({world.library}), "
            f"{batch_size // world.size} images each of every global batch of {batch_size}; {where}")


def _loss_fn(args):
    from . import nn
    if args.loss == "focal":
        if args.label_smoothing:
            raise ValueError("--label-smoothing applies to --loss cross_entropy, not focal")
        return nn.FocalLoss(gamma=args.gamma)
    if args.label_smoothing:
        eps = args.label_smoothing
        return lambda logits, target: nn.functional.cross_entropy(logits, target, label_smoothing=eps)
    return None


def _calibration(model, loader):
    """Expected calibration error (15 bins) and NLL of the model's softmax on `loader`."""
    from . import calibrate, metrics
    logits, targets = calibrate.predict_logits(model, loader)
    probs = calibrate.softmax_with_temperature(logits)
    return {"test_ece": metrics.expected_calibration_error(probs, targets, n_bins=15),
            "test_nll": metrics.nll(probs, targets)}


def _plot(history, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    epochs = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    a.plot(epochs, [h["train_loss"] for h in history], label="train")
    a.plot(epochs, [h["test_loss"] for h in history], label="test")
    a.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    a.legend()
    b.plot(epochs, [100 * h["train_accuracy"] for h in history], label="train")
    b.plot(epochs, [100 * h["test_accuracy"] for h in history], label="test")
    b.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def cmd_bench(args):
    import runpy
    root = Path.cwd()
    if not (root / "benchmarks" / "__main__.py").exists():
        raise SystemExit("tinyconv bench runs the suite in benchmarks/ of a source checkout: "
                         "run it from the repository root (or `python -m benchmarks`)")
    sys.path.insert(0, str(root))
    sys.argv = ["benchmarks"] + [a for a in args.args if a != "--"]
    runpy.run_module("benchmarks", run_name="__main__")


def main(argv=None):
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "bench":  # only bench forwards options it does not know
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra:  # argparse leaves `bench --quick` options out of the REMAINDER
        args.args = extra + args.args
    try:
        from . import cli_tools
        if getattr(args, "func", None) is not None:
            args.func(args)
            return 0
        {"train": cmd_train, "summary": cmd_summary, "bench": cmd_bench,
         "evaluate": cli_tools.cmd_evaluate, "predict": cli_tools.cmd_predict,
         "data": cli_tools.cmd_data}[args.command](args)
    except (ValueError, FileNotFoundError, RuntimeError, TypeError) as e:
        print(f"tinyconv {args.command}: error: {e}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as e:
        top = (e.name or "").split(".")[0]
        if top not in _EXTRAS:
            raise
        print(f"tinyconv {args.command}: error: the optional package {top!r} is not installed; "
              f"pip install 'tinyconv[{_EXTRAS[top]}]'", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
