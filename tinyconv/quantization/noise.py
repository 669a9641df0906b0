"""The additive-noise model of quantization, layer by layer, against the measurement.

Rounding a value to a grid of step Δ leaves an error that, for values spread over many steps,
behaves like noise uniform on [-Δ/2, Δ/2]: mean 0, variance Δ²/12, independent of the value and
of the other errors. A quantized network then is the float network plus noise sources:

- the input, rounded to step s_in: variance s_in²/12 per pixel;
- each weight w[o, k], rounded to step Δw[o] (per output channel): the output gains
  sum_k x_k δw[o, k], of variance Δw[o]²/12 * sum_k E[x_k²];
- each requantized activation, rounded to its layer's step s_out: variance s_out²/12.

Noise already in the input of a conv/linear layer passes through the weights: independent
errors add in variance, so var_out[o] = sum_k w[o, k]² var_in[k] (for a convolution, the sum
runs over the input channels and the kernel taps; the variance is tracked per channel). A ReLU
passes the noise of the units that are active: it multiplies the variance by the fraction p[o]
of positive pre-activations, and the zero outputs are exact, so the output rounding adds
p[o] s_out²/12. Max-pooling passes the noise of the element it picks, and it picks an active
one whenever the window has any: the variance per active unit, var / p_before, is kept, and the
pooled map's own fraction of active units p_after (larger) multiplies it again.
Measured power (E[x²], p) comes from the float network on the same images.

With `clipping=True` the model also counts the values an observer's range cuts off: each
quantization point adds, per channel, the measured mean of (x - clip(x))² of the float values,
and that error travels on like the rest. (It is not uniform rounding noise: rare and large.)

Predicted SNR at a block's output = 10 log10(mean signal² / mean predicted noise variance);
measured SNR = 10 log10(sum float² / sum (float - dequantized integer)²). What the model leaves
out: clipping unless asked for (values beyond an observer's range; the percentile observer
clips on purpose), correlation between errors, and the max-pool's preference for positive noise.
"""
from __future__ import annotations

import numpy as np

from .static import float_blocks, float_points


def _db(signal, noise):
    return float(10 * np.log10(signal / noise)) if noise > 0 else float("inf")


def _channels(a):
    """Per-channel (axis 1) mean of a over every other axis."""
    return a.reshape(a.shape[0], a.shape[1], -1).mean(axis=(0, 2))


def _clipped(a, scale, zero_point):
    """Per-channel mean squared error of clipping a to the int8 range of (scale, zero_point)."""
    lo, hi = (-128 - zero_point) * scale, (127 - zero_point) * scale
    return _channels((a - np.clip(a, lo, hi)) ** 2)


def snr_per_layer(model, qmodel, images, clipping=False):
    """[{name, predicted_db, measured_db, signal_power, predicted_noise, measured_noise}] for every
    block of `model` (Flatten is skipped: it changes no value) on float `images`; `clipping`
    adds the measured clipping error at every quantization point to the prediction."""
    blocks = float_blocks(model)
    if len(blocks) != len(qmodel.layers):
        raise ValueError(f"snr_per_layer: the model has {len(blocks)} blocks, the quantized model "
                         f"{len(qmodel.layers)}; quantize this model with quantize_static first")
    x = np.asarray(images.numpy() if hasattr(images, "numpy") else images, dtype=np.float64)
    floats = float_points(blocks, x)
    quants = qmodel.dequantized_points(x)
    var = np.full(x.shape[1], qmodel.input_scale ** 2 / 12)  # per input channel
    if clipping:
        var = var + _clipped(x, qmodel.input_scale, qmodel.input_zero_point)
    power = _channels(x ** 2)
    active = np.ones_like(var)  # fraction of units that carry noise (a ReLU's zeros are exact)
    rows, counts = [], {}
    for (kind, m, relu), layer, (pre, post), deq in zip(blocks, qmodel.layers, floats, quants):
        if kind in ("conv", "linear"):
            w = m.weight.numpy().astype(np.float64)
            w2 = (w ** 2).reshape(w.shape[0], w.shape[1], -1).sum(2)  # (O, C): summed over the taps
            taps = w[0, 0].size
            dw = layer["weight_scale"]
            var = w2 @ var + dw ** 2 / 12 * taps * power.sum()
            active = _channels((pre > 0).astype(np.float64)) if relu else np.ones_like(var)
            var = active * var
            if "out_scale" in layer:
                var = var + active * layer["out_scale"] ** 2 / 12
                if clipping:
                    var = var + _clipped(post, layer["out_scale"], layer["out_zero_point"])
        elif kind == "maxpool":
            after = _channels((post > 0).astype(np.float64))
            var = np.where(active > 0, var / np.maximum(active, 1e-300), 0.0) * after
            active = after
        elif kind == "flatten":
            reps = post.shape[1] // var.size
            var, active = np.repeat(var, reps), np.repeat(active, reps)  # channel-major, as flatten orders NCHW
        power = _channels(post ** 2)
        counts[kind] = counts.get(kind, 0) + 1
        if kind == "flatten":
            continue
        name = {"conv": "conv", "linear": "fc", "maxpool": "pool"}[kind] + str(counts[kind])
        signal = float(np.mean(post ** 2))
        measured = float(np.mean((post - deq) ** 2))
        predicted = float(var.mean())
        rows.append({"name": name + ("+relu" if relu else ""), "predicted_db": _db(signal, predicted),
                     "measured_db": _db(signal, measured), "signal_power": signal,
                     "predicted_noise": predicted, "measured_noise": measured})
    return rows
