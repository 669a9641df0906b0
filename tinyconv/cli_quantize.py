"""`tinyconv quantize CKPT --bits 8 [--calibration 512] [--observer minmax|percentile] --out DIR`:
post-training static quantization of a `tinyconv train lenet5` checkpoint (tinyconv.quantization).

Calibrates activation ranges on --calibration training images, converts to the integer-only
model (int8 activations, per-channel symmetric int8 weights, or int4 weights with --bits 4) and
writes DIR/quantized.npz (`tinyconv.save` format; `tinyconv.quantization.load_quantized` reads
it), DIR/quantize.json and the printed table in DIR/quantize.txt: size, accuracy on the held-out
images and time per batch for fp32, int8 (and int4), and the noise model's predicted vs measured
SNR per layer."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np


def add_parser(sub):
    from .cli import _non_negative, _positive  # the shared argument checks (cli imports us lazily)
    p = sub.add_parser("quantize", help="post-training int8 / int4 quantization of a LeNet-5 checkpoint")
    p.add_argument("checkpoint", help="checkpoint.npz written by `tinyconv train lenet5` (or its folder)")
    p.add_argument("--bits", type=int, choices=[8, 4], default=8,
                   help="weight bits (activations are always int8); 4 also reports int8 for comparison")
    p.add_argument("--calibration", type=_positive(int), default=512, help="training images that set the activation ranges")
    p.add_argument("--observer", choices=["minmax", "percentile"], default="minmax")
    p.add_argument("--percentile", type=float, default=99.99, help="with --observer percentile")
    p.add_argument("--batch-size", type=_positive(int), default=256, help="batch whose inference time is reported")
    p.add_argument("--data", choices=["mnist5k", "mnist"], default="mnist5k")
    p.add_argument("--data-dir", default=None, help="folder with the MNIST IDX .gz files (--data mnist)")
    p.add_argument("--seed", type=_non_negative(int), default=0, help="which training images calibrate")
    p.add_argument("--out", default=None, help="output folder (default: int<bits> beside the checkpoint)")
    p.set_defaults(func=cmd_quantize)


def _time_per_batch(run, x, repeats=5):
    """Median seconds of `run(x)` over `repeats` calls after one warm-up (compilation, caches)."""
    run(x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run(x)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def quantize_report(model, x_cal, x_test, y_test, bits=8, observer="minmax", percentile=99.99, batch_size=256):
    """(quantized model with `bits`-bit weights, rows of the size/accuracy/time table, SNR rows)."""
    import tinyconv as tc
    from .quantization import quantize_static, snr_per_layer

    def fp32(x):
        with tc.no_grad():
            return model(tc.tensor(x)).numpy()

    rows = [{"model": "fp32", "bytes": int(sum(p.numpy().nbytes for p in model.parameters())), "run": fp32}]
    models = {}
    for b in ([8, 4] if bits == 4 else [8]):
        q = quantize_static(model, x_cal, observer=observer, weight_bits=b, percentile=percentile)
        models[b] = q
        rows.append({"model": f"int{b}" + ("" if b == 8 else " (int8 activations)"), "bytes": q.nbytes(),
                     "run": lambda x, q=q: q(x).numpy()})
    batch = x_test[:batch_size]
    for r in rows:
        run = r.pop("run")
        logits = np.concatenate([run(x_test[i:i + 500]) for i in range(0, len(x_test), 500)])
        r["accuracy"] = float((logits.argmax(1) == y_test).mean())
        r["seconds_per_batch"] = _time_per_batch(run, batch)
        r["batch_size"] = len(batch)
    snr = snr_per_layer(model, models[bits], x_test[:500])
    return models[bits], rows, snr


def format_table(rows, snr):
    base = rows[0]
    lines = [f"{'model':<26}{'size (bytes)':>14}{'vs fp32':>9}{'accuracy':>10}{'ms / batch':>12}"]
    for r in rows:
        lines.append(f"{r['model']:<26}{r['bytes']:>14,}{base['bytes'] / r['bytes']:>8.1f}x"
                     f"{100 * r['accuracy']:>9.2f}%{1000 * r['seconds_per_batch']:>12.2f}")
    lines.append(f"(time per batch of {base['batch_size']} images; accuracy on the held-out images)")
    lines.append("")
    lines.append(f"{'layer':<14}{'predicted SNR':>15}{'measured SNR':>14}")
    for s in snr:
        lines.append(f"{s['name']:<14}{s['predicted_db']:>12.1f} dB{s['measured_db']:>11.1f} dB")
    return "\n".join(lines)


def cmd_quantize(args):
    import tinyconv as tc
    from . import data
    from .cli_tools import _load_model

    model, path = _load_model(args.checkpoint)
    out = Path(args.out) if args.out else path.parent / f"int{args.bits}"
    transform = data.Compose([data.Pad(2), data.Normalize(data.MNIST_MEAN, data.MNIST_STD)])
    train_set = data.MNIST(root=args.data_dir, train=True, source=args.data)
    test_set = data.MNIST(root=args.data_dir, train=False, source=args.data)
    if args.calibration > len(train_set):
        raise ValueError(f"--calibration {args.calibration}: the training split has only {len(train_set)} images")
    x_cal = next(iter(data.DataLoader(train_set, batch_size=args.calibration, shuffle=True, seed=args.seed,
                                      transform=transform)))[0].numpy()
    xs, ys = zip(*((x.numpy(), y.numpy()) for x, y in data.DataLoader(test_set, batch_size=1000, transform=transform)))
    x_test, y_test = np.concatenate(xs), np.concatenate(ys)
    qmodel, rows, snr = quantize_report(model, x_cal, x_test, y_test, args.bits, args.observer,
                                        args.percentile, args.batch_size)
    out.mkdir(parents=True, exist_ok=True)
    tc.save(qmodel.state_dict(), out / "quantized.npz")
    report = {"checkpoint": str(path), "bits": args.bits, "observer": args.observer,
              "calibration_images": args.calibration, "test_images": len(y_test), "backend": tc.get_backend(),
              "table": rows, "snr": [{k: (v if not isinstance(v, float) or np.isfinite(v) else None)
                                       for k, v in r.items()} for r in snr]}  # an exact layer: SNR inf
    tmp = out / "quantize.json.tmp"
    tmp.write_text(json.dumps(report, indent=2, allow_nan=False))
    os.replace(tmp, out / "quantize.json")
    print(f"{path}: {args.observer} calibration on {args.calibration} training images, "
          f"{len(y_test)} held-out images, backend {tc.get_backend()}")
    table = format_table(rows, snr)
    (out / "quantize.txt").write_text(table + "\n")
    print(table)
    print(f"wrote {out}/quantized.npz, {out}/quantize.json and {out}/quantize.txt (the table)")
