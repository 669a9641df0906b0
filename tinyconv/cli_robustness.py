"""`tinyconv robustness CKPT`: accuracy of a `tinyconv train lenet5` checkpoint on the held-out
MNIST digits under every corruption x severity (tinyconv.data.corruptions), as a table (CSV,
JSON, printed) and a heat map."""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np


def _corruption_names(text):
    from .data.corruptions import CORRUPTIONS
    if text == "all":
        return list(CORRUPTIONS)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in CORRUPTIONS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown corruption(s) {unknown or text!r}; "
                                         f"choose 'all' or from {', '.join(CORRUPTIONS)}")
    return list(dict.fromkeys(names))


def _severity_list(text):
    """'1-5', '3', '1,3,5' or '1-2,5' -> sorted severities in 1..5."""
    levels = set()
    try:
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            levels.update(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"severities look like 1-5 or 1,3,5, got {text!r}") from None
    if not levels or min(levels) < 1 or max(levels) > 5:
        raise argparse.ArgumentTypeError(f"severities must lie in 1..5 (0 is the clean column), got {text!r}")
    return sorted(levels)


def add_parser(sub):
    r = sub.add_parser("robustness", help="accuracy under corruptions x severities, table and heat map")
    r.add_argument("checkpoint", help="checkpoint.npz written by `tinyconv train lenet5` (or its folder)")
    r.add_argument("--corruptions", type=_corruption_names, default="all",
                   help="'all' (default) or comma-separated names of tinyconv.data.corruptions")
    r.add_argument("--severities", type=_severity_list, default="1-5",
                   help="severities 1..5, e.g. 1-5 (default), 3 or 1,3,5")
    r.add_argument("--out", default=None, help="folder for robustness.csv/.json/.png "
                                                "(default: beside the checkpoint)")
    r.add_argument("--data", choices=["mnist5k", "mnist"], default="mnist5k",
                   help="test images: the 1,000 held-out digits of the offline subset, or full MNIST's 10,000")
    r.add_argument("--data-dir", default=None, help="folder with the MNIST IDX .gz files (--data mnist)")
    r.add_argument("--seed", type=int, default=0, help="seed of the random corruptions (>= 0)")
    r.set_defaults(func=cmd_robustness)


def cmd_robustness(args):
    from . import data
    from .cli_tools import _load_model
    from .data.corruptions import SEVERITIES
    from .robustness import corruption_accuracy
    import matplotlib  # fail before the evaluation, not after it
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    names, levels = args.corruptions, args.severities  # argparse converts the defaults too
    model, path = _load_model(args.checkpoint)
    test_set = data.MNIST(root=args.data_dir, train=False, source=args.data)
    images = test_set.data.astype(np.float32) / 255
    transform = data.Compose([data.Pad(2), data.Normalize(data.MNIST_MEAN, data.MNIST_STD)])
    result = corruption_accuracy(model, images, test_set.targets, names, levels, seed=args.seed,
                                 transform=transform)
    out = Path(args.out) if args.out else path.parent
    out.mkdir(parents=True, exist_ok=True)
    columns = [0] + levels
    rows = {n: [result["clean"]] + result["accuracy"][n] for n in names}
    with open(out / "robustness.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["corruption"] + [f"severity_{s}" for s in columns] + ["mean"])
        for n in names:
            w.writerow([n] + [f"{100 * a:.2f}" for a in rows[n]] + [f"{100 * result['mean'][n]:.2f}"])
    report = {"checkpoint": str(path), "data": args.data, "images": int(len(images)), "seed": args.seed,
              "severities": levels, "clean_accuracy": result["clean"],
              "accuracy": {n: dict(zip(map(str, levels), result["accuracy"][n])) for n in names},
              "mean_accuracy": result["mean"],
              "mean_corruption_accuracy": result["mean_corruption_accuracy"],
              "parameters": {n: list(SEVERITIES[n]) for n in names}}
    (out / "robustness.json").write_text(json.dumps(report, indent=2))
    _plot_heatmap(names, columns, rows, out / "robustness.png", path)
    width = max(len(n) for n in names + ["corruption"])
    print(f"{path}: top-1 accuracy (%) on {len(images)} {args.data} test images, seed {args.seed}")
    print(f"{'corruption':<{width}} " + " ".join(f"{s:>6}" for s in columns) + "    mean")
    for n in names:
        print(f"{n:<{width}} " + " ".join(f"{100 * a:6.2f}" for a in rows[n])
              + f"  {100 * result['mean'][n]:6.2f}")
    print(f"clean {100 * result['clean']:.2f}%, mean over corruptions x severities "
          f"{100 * result['mean_corruption_accuracy']:.2f}%; wrote {out / 'robustness.csv'}, "
          f"robustness.json, robustness.png")


def _plot_heatmap(names, columns, rows, png, checkpoint):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    acc = 100 * np.array([rows[n] for n in names])
    fig, ax = plt.subplots(figsize=(1.2 + 0.75 * len(columns), 0.9 + 0.36 * len(names)))
    im = ax.imshow(acc, cmap="viridis", vmin=0, vmax=100, aspect="auto")
    for (i, j), v in np.ndenumerate(acc):
        ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=7,
                color="black" if v > 60 else "white")
    ax.set(xticks=range(len(columns)), xticklabels=[str(s) for s in columns], yticks=range(len(names)),
           yticklabels=names, xlabel="severity (0 = clean)",
           title=f"accuracy (%) under corruption: {Path(checkpoint).parent.name or checkpoint}")
    fig.colorbar(im, ax=ax, fraction=0.05)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
