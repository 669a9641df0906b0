"""`tinyconv prune CKPT --sparsity 0.9 --steps 3 --epochs-per-step 2 --out DIR`: iterative global
magnitude pruning with retraining (tinyconv.pruning) of a `tinyconv train lenet5` checkpoint.

Writes DIR/checkpoint.npz (the pruned weights made permanent, zeros stored: `tinyconv evaluate`
and `predict` read it; "masks" holds each layer's mask) and DIR/prune.json (accuracy on the
held-out images before and after, per step, and per-layer sparsity)."""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path


def _fraction(text):
    v = float(text)
    if not math.isfinite(v) or not 0 <= v < 1:
        raise argparse.ArgumentTypeError(f"must be a fraction in [0, 1), got {text}")
    return v


def _count(minimum):
    def parse(text):
        v = int(text)
        if v < minimum:
            raise argparse.ArgumentTypeError(f"must be an int >= {minimum}, got {text}")
        return v
    return parse


def _names(text):
    return tuple(n.strip() for n in text.split(",") if n.strip())


def _rate(text):
    v = float(text)
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return v


def add_parser(sub):
    p = sub.add_parser("prune", help="iterative global magnitude pruning + retraining of a LeNet-5 checkpoint")
    p.add_argument("checkpoint", help="checkpoint.npz written by `tinyconv train lenet5` (or its folder)")
    p.add_argument("--sparsity", type=_fraction, default=0.9,
                   help="final fraction of conv + linear weights set to zero (biases kept)")
    p.add_argument("--steps", type=_count(1), default=3, help="prune-and-retrain rounds")
    p.add_argument("--epochs-per-step", type=_count(0), default=2, help="retraining epochs after each round")
    p.add_argument("--exclude", type=_names, default=(),
                   help="comma-separated layers left dense, e.g. features.0,classifier.4 (the others "
                        "are pruned harder so that --sparsity still counts every weight)")
    p.add_argument("--lr", type=_rate, default=0.02,
                   help="SGD learning rate while retraining; the last epoch of each round runs at a tenth of it")
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--batch-size", type=_count(1), default=64)
    p.add_argument("--seed", type=_count(0), default=0)
    p.add_argument("--data", choices=["mnist5k", "mnist"], default="mnist5k")
    p.add_argument("--data-dir", default=None, help="folder with the MNIST IDX .gz files (--data mnist)")
    p.add_argument("--backend", choices=["numpy", "numba"], default=None)
    p.add_argument("--out", default="runs/lenet5-pruned", help="folder for checkpoint.npz and prune.json")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_prune)


def cmd_prune(args):
    import tinyconv as tc
    from . import data, optim, serialization
    from .cli_tools import _load_model
    from .nn.utils import prune
    from .pruning import layer_sparsity, prunable, prune_and_retrain
    from .train import evaluate

    if args.backend:
        tc.set_backend(args.backend)
    model, path = _load_model(args.checkpoint)
    state = serialization.load(path)
    tc.manual_seed(args.seed)
    transform = data.Compose([data.Pad(2), data.Normalize(data.MNIST_MEAN, data.MNIST_STD)])
    train_set = data.MNIST(root=args.data_dir, train=True, source=args.data)
    test_set = data.MNIST(root=args.data_dir, train=False, source=args.data)
    train_loader = data.DataLoader(train_set, batch_size=args.batch_size, shuffle=True,
                                   seed=args.seed, transform=transform)
    test_loader = data.DataLoader(test_set, batch_size=500, transform=transform)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    before = evaluate(model, test_loader)["accuracy"]
    print(f"{path}: accuracy {100 * before:.2f}% on {len(test_set)} held-out images; pruning to "
          f"{100 * args.sparsity:.1f}% of the conv + linear weights in {args.steps} step(s), "
          f"{args.epochs_per_step} retraining epoch(s) each")
    progress = None
    if not args.no_progress:
        from tqdm import tqdm

        def progress(loader, epoch):
            return tqdm(loader, desc=f"retrain epoch {epoch}", leave=False, unit="batch", file=sys.stderr)
    start = time.perf_counter()
    steps = prune_and_retrain(
        model, train_loader, test_loader, args.sparsity, args.steps, args.epochs_per_step,
        lambda params: optim.SGD(params, lr=args.lr, momentum=args.momentum),
        make_scheduler=lambda opt: optim.lr_scheduler.StepLR(
            opt, step_size=max(1, args.epochs_per_step - 1), gamma=0.1),
        progress=progress, exclude=args.exclude)
    seconds = time.perf_counter() - start
    after = evaluate(model, test_loader)["accuracy"]
    layers = layer_sparsity(model)
    masks = {name: m.weight_mask.numpy() for name, m in prunable(model) if prune.is_pruned(m)}
    for name, m in prunable(model):
        if prune.is_pruned(m):
            prune.remove(m, "weight")
    counts = {name: {"weights": int(m.weight.numel()), "nonzero": int((m.weight.numpy() != 0).sum())}
              for name, m in prunable(model)}

    print(f"\n{'layer':<16}{'weights':>9}{'kept':>9}{'sparsity':>10}")
    for name, c in counts.items():
        print(f"{name:<16}{c['weights']:>9}{c['nonzero']:>9}{100 * layers[name]:>9.2f}%")
    total = sum(c["weights"] for c in counts.values())
    kept = sum(c["nonzero"] for c in counts.values())
    print(f"{'all':<16}{total:>9}{kept:>9}{100 * layers['global']:>9.2f}%   "
          f"({total / max(kept, 1):.1f}x fewer weights)")
    print(f"\naccuracy on {len(test_set)} held-out images: before {100 * before:.2f}%, after "
          f"{100 * after:.2f}% ({100 * (after - before):+.2f} points) in {seconds:.1f} s")

    meta = {k: state[k] for k in ("arch", "activation", "pool") if k in state}
    serialization.save({**meta, "model": model.state_dict(), "masks": masks,
                        "pruning": {"sparsity": layers["global"]}}, out / "checkpoint.npz")
    report = {"checkpoint": str(path), "data": args.data, "test_images": len(test_set),
              "config": {k: v for k, v in vars(args).items() if k not in ("command", "func")},
              "accuracy_before": before, "accuracy_after": after, "sparsity": layers["global"],
              "compression": total / max(kept, 1), "layers": counts, "steps": steps,
              "seconds": seconds}
    tmp = out / "prune.json.tmp"
    tmp.write_text(json.dumps(report, indent=2, allow_nan=False))
    os.replace(tmp, out / "prune.json")
    print(f"wrote {out}/checkpoint.npz, prune.json")
