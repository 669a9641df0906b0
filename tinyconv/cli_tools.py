"""`tinyconv evaluate`, `tinyconv predict` and `tinyconv data download`: using a trained
checkpoint and fetching data, for `tinyconv train`'s runs."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def add_parsers(sub, positive_int):
    e = sub.add_parser("evaluate", help="accuracy, top-k and a confusion matrix of a checkpoint")
    e.add_argument("checkpoint", help="checkpoint.npz written by `tinyconv train` (or its folder)")
    e.add_argument("--data", choices=["mnist5k", "mnist"], default="mnist5k")
    e.add_argument("--data-dir", default=None, help="folder with the MNIST IDX .gz files (--data mnist)")
    e.add_argument("--top-k", type=positive_int, default=5)
    e.add_argument("--out", default=None, help="confusion matrix PNG (default: beside the checkpoint)")

    p = sub.add_parser("predict", help="classify image files (PNG/JPEG) with a checkpoint")
    p.add_argument("checkpoint")
    p.add_argument("images", nargs="+", help="image files; MNIST digits are light on dark")
    p.add_argument("--top-k", type=positive_int, default=3)
    p.add_argument("--invert", action="store_true", help="for dark digits on a light background")

    d = sub.add_parser("data", help="fetch datasets")
    dsub = d.add_subparsers(dest="action", required=True)
    dl = dsub.add_parser("download", help="download and verify (SHA-256) a dataset")
    dl.add_argument("name", choices=["mnist"])
    dl.add_argument("--data-dir", default=None, help="target folder (default $TINYCONV_DATA/mnist)")


def _load_model(path):
    from . import models, serialization
    path = Path(path)
    path = path / "checkpoint.npz" if path.is_dir() else path
    state = serialization.load(path)
    arch = state.get("arch") if isinstance(state, dict) else None
    builders = {"lenet5": models.lenet5, "lenet5_small": models.lenet5_small}  # train / distill
    if arch not in builders or "model" not in state:
        raise ValueError(f"{path}: not a checkpoint of `tinyconv train lenet5` or `tinyconv distill` "
                         f"(arch {arch!r})")
    model = builders[arch](activation=state.get("activation", "relu"), pool=state.get("pool", "max"))
    model.load_state_dict(state["model"])
    return model.eval(), path


def _logits(model, loader):
    from .autograd import no_grad
    out, targets = [], []
    with no_grad():
        for x, y in loader:
            out.append(model(x).numpy())
            targets.append(y.numpy())
    return np.concatenate(out), np.concatenate(targets)


def cmd_evaluate(args):
    from . import data, metrics
    model, path = _load_model(args.checkpoint)
    transform = data.Compose([data.Pad(2), data.Normalize(data.MNIST_MEAN, data.MNIST_STD)])
    test_set = data.MNIST(root=args.data_dir, train=False, source=args.data)
    logits, targets = _logits(model, data.DataLoader(test_set, batch_size=500, transform=transform))
    k = min(args.top_k, logits.shape[1])
    top1, topk = metrics.topk_accuracy(logits, targets, (1, k))
    cm = metrics.confusion_matrix(logits, targets, num_classes=10)
    out = Path(args.out) if args.out else path.with_name("confusion.png")
    _plot_confusion(cm, out)
    print(f"{path}: {len(targets)} {args.data} test images: accuracy {100 * top1:.2f}%, "
          f"top-{k} {100 * topk:.2f}%; confusion matrix in {out}")
    print("per-class recall: " + ", ".join(f"{c} {100 * r:.1f}%" for c, r in
                                           enumerate(cm.diagonal() / np.maximum(cm.sum(1), 1))))


def _plot_confusion(cm, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 4.5))
    im = ax.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                color="white" if v > cm.max() / 2 else "black")
    ax.set(xlabel="predicted", ylabel="true", xticks=range(cm.shape[1]), yticks=range(cm.shape[0]),
           title="confusion matrix")
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def read_digit(path, invert=False) -> np.ndarray:
    """An image file as MNIST's input: grey, 28x28 (aspect kept, centred), float32 in [0, 1]."""
    from PIL import Image
    try:
        with Image.open(path) as img:
            img = img.convert("L")
            img.thumbnail((28, 28), Image.Resampling.LANCZOS)
            canvas = Image.new("L", (28, 28), 255 if invert else 0)
            canvas.paste(img, ((28 - img.width) // 2, (28 - img.height) // 2))
    except OSError as e:
        raise ValueError(f"{path}: not a readable image ({e})") from None
    a = np.asarray(canvas, dtype=np.float32) / 255
    return 1 - a if invert else a


def cmd_predict(args):
    from . import data
    from .autograd import Tensor, no_grad
    from .ops.loss import softmax
    model, _ = _load_model(args.checkpoint)
    batch = np.stack([read_digit(p, args.invert) for p in args.images])[:, None]
    x = data.Normalize(data.MNIST_MEAN, data.MNIST_STD)(data.Pad(2)(batch, rng=None), rng=None)
    with no_grad():
        probs = softmax(model(Tensor(x)), 1).numpy()
    k = min(args.top_k, probs.shape[1])
    for name, p in zip(args.images, probs):
        best = np.argsort(-p, kind="stable")[:k]
        print(f"{name}: " + ", ".join(f"{c} ({100 * p[c]:.1f}%)" for c in best))


def cmd_data(args):
    from .data import download_mnist
    paths = download_mnist(args.data_dir)
    for path in paths.values():
        print(f"{path}  (SHA-256 verified)")
