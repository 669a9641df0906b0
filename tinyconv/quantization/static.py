"""Post-training static quantization: a float CNN -> an integer-only model.

`quantize_static(model, calibration_images)` walks the model as a chain of blocks

    Conv2d [+ ReLU]   Linear [+ ReLU]   MaxPool2d   Flatten

(LeNet-5 with ReLU and max-pooling is such a chain), runs the calibration images through the
float model with an observer after every block, and builds a `QuantizedModel`:

- activations: qint8, per tensor, affine (scale s, zero point z from the observer; a ReLU's
  output range starts at 0, so its z is -128 and the ReLU becomes the clamp's lower bound);
- weights: qint8, per output channel, symmetric in the restricted range [-(2**(b-1) - 1),
  2**(b-1) - 1] ([-127, 127] for 8 bits, [-7, 7] for 4 bits, kept in int8 containers), so the
  weight zero point is 0 and -w is always representable;
- bias: int32 with scale s_in * s_w[o] (`round(b / (s_in * s_w[o]))`), added to the accumulator;
- requantization of each accumulator channel by M[o] = s_in * s_w[o] / s_out as an integer
  multiplier and right shift (multiplier.py); the last layer is not requantized: its int32
  accumulator times s_in * s_w[o] is the logits (float64), so argmax sees no extra rounding;
- max-pooling runs on the int8 values (max commutes with q -> (q - z) * s, s > 0).

`QuantizedModel.forward` runs the integer kernels (kernels/*/quantized.py, chosen by the
backend); `QuantizedModel.reference_forward` computes the same thing with tinyconv's float64
conv2d / linear / max_pool2d on integer-valued tensors plus a float requantization, which is
exact (see its docstring), so the two must agree bit for bit.
"""
from __future__ import annotations

import numpy as np

from .. import backend, nn
from ..autograd import Tensor, no_grad
from ..nn import functional as F
from .multiplier import quantize_multiplier
from .observer import MinMaxObserver, PercentileObserver, PerChannelMinMaxObserver
from .qtensor import qint8, quantize_per_tensor

ACT_MIN, ACT_MAX = -128, 127
OBSERVERS = {"minmax": MinMaxObserver, "percentile": PercentileObserver}


# --- the float model as a chain of blocks ----------------------------------------------------------
def float_blocks(model):
    """[(kind, module, relu)] for a chain of Conv2d/Linear [+ReLU], MaxPool2d, Flatten."""
    if isinstance(model, nn.Sequential):
        mods = list(model._modules.values())
    elif all(hasattr(model, a) for a in ("features", "flatten", "classifier")):  # LeNet5
        mods = list(model.features._modules.values()) + [model.flatten] + list(model.classifier._modules.values())
    else:
        raise TypeError(f"quantize_static: expected an nn.Sequential or a LeNet5, got {type(model).__name__}")
    blocks = []
    for m in mods:
        if isinstance(m, nn.ReLU):
            if not blocks or blocks[-1][0] not in ("conv", "linear") or blocks[-1][2]:
                raise ValueError("quantize_static: a ReLU must follow a Conv2d or Linear (it is fused into it)")
            blocks[-1] = (blocks[-1][0], blocks[-1][1], True)
        elif isinstance(m, nn.Conv2d):
            if m.groups != 1 or m.dilation != (1, 1) or isinstance(m.padding, str):
                raise ValueError(f"quantize_static: only Conv2d with groups=1, dilation=1 and numeric "
                                 f"padding is supported, got {m}")
            blocks.append(("conv", m, False))
        elif isinstance(m, nn.Linear):
            blocks.append(("linear", m, False))
        elif isinstance(m, nn.MaxPool2d):
            k, s, p = (_pair(m.kernel_size), _pair(m.stride), _pair(m.padding))
            if p != (0, 0) or _pair(m.dilation) != (1, 1) or m.ceil_mode or m.return_indices:
                raise ValueError(f"quantize_static: only MaxPool2d without padding, dilation, ceil_mode "
                                 f"or indices is supported, got {m}")
            blocks.append(("maxpool", (k, s), False))
        elif isinstance(m, nn.Flatten):
            if (m.start_dim, m.end_dim) != (1, -1):
                raise ValueError(f"quantize_static: only Flatten(1, -1) is supported, got {m}")
            blocks.append(("flatten", None, False))
        else:
            raise ValueError(f"quantize_static: {type(m).__name__} has no integer version (supported: "
                             "Conv2d, Linear, ReLU, MaxPool2d, Flatten); e.g. LeNet-5 needs "
                             "activation='relu', pool='max'")
    if not blocks or blocks[-1][0] not in ("conv", "linear"):
        raise ValueError("quantize_static: the model must end with a Conv2d or Linear layer")
    return blocks


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def float_points(blocks, x):
    """The float model's activations after every block (float64 NumPy), and for conv/linear
    blocks also the pre-activation (before ReLU): [(pre or None, post)]."""
    out = []
    h = Tensor(np.asarray(x, dtype=np.float64))
    with no_grad():
        for kind, m, relu in blocks:
            pre = None
            if kind in ("conv", "linear"):
                w = Tensor(m.weight.numpy().astype(np.float64))
                b = None if m.bias is None else Tensor(m.bias.numpy().astype(np.float64))
                pre = F.conv2d(h, w, b, m.stride, m.padding) if kind == "conv" else F.linear(h, w, b)
                h = F.relu(pre) if relu else pre
            elif kind == "maxpool":
                h = F.max_pool2d(h, m[0], m[1])
            else:
                h = F.flatten(h, 1)
            out.append((None if pre is None else pre.numpy(), h.numpy()))
    return out


# --- the integer model ----------------------------------------------------------------------------
class QuantizedModel:
    """An integer-only chain (see the module docstring). `layers` is a list of dicts, one per block;
    conv/linear dicts hold int8 `weight`, float64 `weight_scale` (O,), int32 `bias`, the input's
    `in_scale`/`in_zero_point`, and unless last the output's `out_scale`/`out_zero_point`,
    `multiplier`/`shift` (O,) and `relu`."""

    def __init__(self, input_scale, input_zero_point, layers, weight_bits=8):
        self.input_scale, self.input_zero_point = float(input_scale), int(input_zero_point)
        self.layers, self.weight_bits = layers, int(weight_bits)

    def __repr__(self):
        lines = [f"QuantizedModel(weight_bits={self.weight_bits}, input scale={self.input_scale:.6g} "
                 f"zero_point={self.input_zero_point}"]
        for layer in self.layers:
            kind = layer["kind"]
            if kind in ("conv", "linear"):
                out = (f"-> scale={layer['out_scale']:.6g} zero_point={layer['out_zero_point']}"
                       if "out_scale" in layer else "-> logits (int32 accumulator x scale)")
                lines.append(f"  {kind} weight {tuple(layer['weight'].shape)} int{self.weight_bits}"
                             f"{' + relu' if layer.get('relu') else ''} {out}")
            elif kind == "maxpool":
                lines.append(f"  maxpool kernel_size={layer['kernel_size']} stride={layer['stride']}")
            else:
                lines.append("  flatten")
        return "\n".join(lines) + ")"

    # -- inference ------------------------------------------------------------------------------
    def quantize_input(self, x) -> np.ndarray:
        a = x.numpy() if isinstance(x, Tensor) else np.asarray(x)
        return quantize_per_tensor(a.astype(np.float32), self.input_scale, self.input_zero_point,
                                   qint8).int_repr().numpy()

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x, return_points=False):
        """Logits (float64 Tensor) of float input x, through the integer kernels. With
        return_points, also each block's output: int8 arrays, and the last block's int32 accumulator."""
        q = self.quantize_input(x)
        try:
            k = backend.kernels("quantized", q)
        except ModuleNotFoundError:
            raise RuntimeError(f"QuantizedModel: the integer kernels exist for the 'numpy' and 'numba' "
                               f"backends only, not {backend.get_backend()!r}") from None
        points = []
        for layer in self.layers:
            kind = layer["kind"]
            if kind in ("conv", "linear"):
                if kind == "conv":
                    acc = k.conv2d_int8(q, layer["in_zero_point"], layer["weight"], layer["bias"],
                                        layer["stride"], layer["padding"])
                else:
                    acc = k.linear_int8(q, layer["in_zero_point"], layer["weight"], layer["bias"])
                if "multiplier" not in layer:  # last layer: the accumulator is the result
                    points.append(acc)
                    return (_logits(acc, layer), points) if return_points else _logits(acc, layer)
                q = k.requantize(acc, layer["multiplier"], layer["shift"], layer["out_zero_point"],
                                 layer["out_zero_point"] if layer["relu"] else ACT_MIN, ACT_MAX)
            elif kind == "maxpool":
                q = k.max_pool2d_int8(q, layer["kernel_size"], layer["stride"])
            else:
                q = np.ascontiguousarray(q.reshape(q.shape[0], -1))
            points.append(q)
        raise AssertionError("unreachable: the chain ends with a conv or linear layer")

    def reference_forward(self, x):
        """The fake-quant float64 reference: the same integer arithmetic through tinyconv's float ops.

        Each conv/linear runs F.conv2d / F.linear in float64 on (q - z) and the int8 weights as
        floats: every product and partial sum is an integer below 2**53, so the result is the
        exact accumulator whatever the summation order. Requantization rounds y = acc * M half
        up, with M = M0 * 2**-s a float64 that is exact: y itself is exact while |acc| * M0 < 2**53
        (checked: a larger accumulator raises instead of rounding), and so are floor(y) and the
        fraction y - floor(y) (it keeps a subset of y's bits), so `floor(y) + (fraction >= 1/2)`
        is the exact rounding, with no sum to round."""
        h = Tensor(self.quantize_input(x).astype(np.float64))
        with no_grad():
            for layer in self.layers:
                kind = layer["kind"]
                if kind in ("conv", "linear"):
                    xs = h - float(layer["in_zero_point"])
                    w = Tensor(layer["weight"].astype(np.float64))
                    b = None if layer["bias"] is None else Tensor(layer["bias"].astype(np.float64))
                    acc = (F.conv2d(xs, w, b, layer["stride"], layer["padding"]) if kind == "conv"
                           else F.linear(xs, w, b)).numpy()
                    if "multiplier" not in layer:
                        return _logits(acc, layer)
                    lo = layer["out_zero_point"] if layer["relu"] else ACT_MIN
                    h = Tensor(float_requantize(acc, layer["multiplier"], layer["shift"],
                                                layer["out_zero_point"], lo, ACT_MAX))
                elif kind == "maxpool":
                    h = F.max_pool2d(h, layer["kernel_size"], layer["stride"])
                else:
                    h = F.flatten(h, 1)
        raise AssertionError("unreachable")

    def dequantized_points(self, x):
        """Every block's output as real values ((q - z) * s, float64; logits last)."""
        logits, points = self.forward(x, return_points=True)
        out, scale, zp = [], self.input_scale, self.input_zero_point
        for layer, p in zip(self.layers, points):
            if layer["kind"] in ("conv", "linear"):
                if "multiplier" not in layer:
                    out.append(logits.numpy())
                    break
                scale, zp = layer["out_scale"], layer["out_zero_point"]
            out.append((p.astype(np.float64) - zp) * scale)
        return out

    # -- storage --------------------------------------------------------------------------------
    def state_dict(self):
        """Nested dicts of arrays and numbers for `tinyconv.save`. With weight_bits <= 4 the
        weights are packed two to a byte (`weight_packed`, low nibble first)."""
        layers = []
        for layer in self.layers:
            d = {k: v for k, v in layer.items() if v is not None}
            for key in ("kernel_size", "stride", "padding"):
                if key in d:
                    d[key] = list(d[key])
            if "weight" in d and self.weight_bits <= 4:
                d["weight_shape"] = list(d["weight"].shape)
                d["weight_packed"] = pack_int4(d.pop("weight"))
            layers.append(d)
        return {"format": "tinyconv-quantized", "weight_bits": self.weight_bits,
                "input_scale": self.input_scale, "input_zero_point": self.input_zero_point, "layers": layers}

    @classmethod
    def from_state_dict(cls, state):
        if not isinstance(state, dict) or state.get("format") != "tinyconv-quantized":
            raise ValueError("QuantizedModel.from_state_dict: not a quantized model written by "
                             "QuantizedModel.state_dict / tinyconv quantize")
        layers = []
        for d in state["layers"]:
            d = dict(d)
            for key in ("kernel_size", "stride", "padding"):
                if key in d:
                    d[key] = tuple(int(v) for v in d[key])
            if "weight_packed" in d:
                d["weight"] = unpack_int4(d.pop("weight_packed"), tuple(d.pop("weight_shape")))
            if d["kind"] in ("conv", "linear"):
                d.setdefault("bias", None)
            layers.append(d)
        return cls(state["input_scale"], state["input_zero_point"], layers, state["weight_bits"])

    def nbytes(self):
        """Bytes of the arrays that define the model (int4 weights counted packed)."""
        total = 0
        for d in self.state_dict()["layers"]:
            total += sum(v.nbytes for v in d.values() if isinstance(v, np.ndarray))
        return total + 16  # the input scale and zero point


def float_requantize(acc, multiplier, shift, zero_point, qmin, qmax):
    """The requantize kernel's result computed in float64 (see reference_forward): acc float64
    holding integers, (N, C, ...); multiplier/shift per channel."""
    if np.abs(acc).max(initial=0) * float(np.max(multiplier)) >= 2.0**53:
        raise OverflowError("reference_forward: an accumulator too large for exact float64 requantization")
    bshape = (1, -1) + (1,) * (acc.ndim - 2)
    mult = (np.asarray(multiplier, np.float64) * np.exp2(-np.asarray(shift, np.float64))).reshape(bshape)
    y = acc * mult
    whole = np.floor(y)
    return np.clip(whole + (y - whole >= 0.5) + zero_point, qmin, qmax)


def _logits(acc, layer):
    if layer.get("relu"):
        acc = np.maximum(acc, 0)
    scale = (layer["in_scale"] * layer["weight_scale"]).reshape((1, -1) + (1,) * (acc.ndim - 2))
    return Tensor(acc.astype(np.float64) * scale)


def pack_int4(w):
    """int8 values in [-8, 7] -> uint8, two per byte (element 2i in the low nibble)."""
    flat = np.asarray(w, np.int8).ravel()
    if flat.size and (flat.min() < -8 or flat.max() > 7):
        raise ValueError(f"pack_int4: values must lie in [-8, 7], got [{flat.min()}, {flat.max()}]")
    nib = (flat.astype(np.uint8) & 0x0F)
    if nib.size % 2:
        nib = np.append(nib, np.uint8(0))
    return (nib[0::2] | (nib[1::2] << 4)).astype(np.uint8)


def unpack_int4(packed, shape):
    """The inverse of pack_int4: int8 array of `shape`."""
    p = np.asarray(packed, np.uint8)
    nib = np.empty(2 * p.size, np.uint8)
    nib[0::2], nib[1::2] = p & 0x0F, p >> 4
    vals = nib.astype(np.int8)
    vals[vals > 7] -= 16
    n = int(np.prod(shape))
    return vals[:n].reshape(shape)


# --- calibration and conversion -------------------------------------------------------------------
def quantize_weight(w, bits):
    """Per-output-channel symmetric quantization of a float weight: (int8 values in
    [-(2**(bits-1) - 1), 2**(bits-1) - 1], scales (O,) float64)."""
    if not 2 <= bits <= 8:
        raise ValueError(f"quantize_weight: bits must be in [2, 8], got {bits}")
    qmax = 2 ** (bits - 1) - 1
    w = np.asarray(w, np.float32)
    obs = PerChannelMinMaxObserver(ch_axis=0, dtype=qint8, qscheme="per_channel_symmetric",
                                   quant_min=-qmax, quant_max=qmax)
    obs(w)
    scale, _ = obs.calculate_qparams()
    from .qtensor import quantize_per_channel
    q = quantize_per_channel(w, scale.astype(np.float64), np.zeros(len(scale), np.int64), 0, qint8)
    return np.clip(q.int_repr().numpy(), -qmax, qmax).astype(np.int8), scale.astype(np.float64)


def _qparams(observer):
    """(scale, zero_point) of an activation observer. A point that only ever held zeros (a layer
    of dead ReLUs) gets scale 1: zero is exact on any grid, while PyTorch's float32-eps scale
    would push the next layer's bias out of the int32 accumulator."""
    scale, zp = observer.calculate_qparams()
    if observer.min_val == 0 and observer.max_val == 0:
        return 1.0, int(zp)
    return float(scale), int(zp)


def quantize_static(model, calibration_images, observer="minmax", weight_bits=8, batch_size=256,
                    percentile=99.99):
    """Calibrate on `calibration_images` (N, ...) float and convert `model` to a QuantizedModel.

    observer: "minmax" (the full range seen) or "percentile" (clip to the `percentile`-th
    percentile, PercentileObserver). weight_bits: 8, or fewer (4: the int4 study)."""
    if observer not in OBSERVERS:
        raise ValueError(f"quantize_static: observer must be one of {sorted(OBSERVERS)}, got {observer!r}")
    if isinstance(weight_bits, bool) or not isinstance(weight_bits, int) or not 2 <= weight_bits <= 8:
        raise ValueError(f"quantize_static: weight_bits must be an int in [2, 8], got {weight_bits!r}")
    images = calibration_images.numpy() if isinstance(calibration_images, Tensor) else np.asarray(calibration_images)
    if images.ndim < 2 or len(images) == 0:
        raise ValueError(f"quantize_static: calibration_images must be a non-empty batch, got shape {images.shape}")
    blocks = float_blocks(model)

    def make():
        kw = {"percentile": percentile} if observer == "percentile" else {}
        return OBSERVERS[observer](dtype=qint8, qscheme="per_tensor_affine", **kw)

    in_obs, obs = make(), [make() if kind in ("conv", "linear") else None for kind, _, _ in blocks]
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size]
        in_obs(x)
        for o, (_, post) in zip(obs, float_points(blocks, x)):
            if o is not None:
                o(post)
    s_in, z_in = _qparams(in_obs)
    layers, scale, zp = [], float(s_in), int(z_in)
    for i, ((kind, m, relu), o) in enumerate(zip(blocks, obs)):
        if kind == "maxpool":
            layers.append({"kind": "maxpool", "kernel_size": m[0], "stride": m[1]})
            continue
        if kind == "flatten":
            layers.append({"kind": "flatten"})
            continue
        wq, ws = quantize_weight(m.weight.numpy(), weight_bits)
        acc_scale = scale * ws
        bias = None
        if m.bias is not None:
            bias = np.round(m.bias.numpy().astype(np.float64) / acc_scale)
            if np.abs(bias).max() >= 2**30:
                raise OverflowError(f"quantize_static: block {i}'s bias (max |b| {np.abs(m.bias.numpy()).max():.3g}) "
                                    f"does not fit the int32 accumulator of scale {acc_scale.min():.3g}: the "
                                    f"calibration images give this block's input a range of scale {scale:.3g} "
                                    "(nearly constant calibration data?)")
            bias = bias.astype(np.int32)
        fan_in = int(np.prod(wq.shape[1:]))
        bound = fan_in * 255 * 127 + (0 if bias is None else int(np.abs(bias).max()))
        if bound >= 2**31:
            raise OverflowError(f"quantize_static: block {i} (fan-in {fan_in}) could overflow the int32 accumulator")
        layer = {"kind": kind, "weight": wq, "weight_scale": ws, "bias": bias,
                 "in_scale": scale, "in_zero_point": zp}
        if kind == "conv":
            layer.update(stride=tuple(m.stride), padding=tuple(m.padding))
        layer["relu"] = bool(relu)
        if i < len(blocks) - 1:
            s_out, z_out = _qparams(o)
            layer["multiplier"], layer["shift"] = quantize_multiplier(acc_scale / s_out)
            layer.update(out_scale=float(s_out), out_zero_point=int(z_out))
            scale, zp = float(s_out), int(z_out)
        layers.append(layer)
    return QuantizedModel(s_in, z_in, layers, weight_bits)


def load_quantized(path):
    """A QuantizedModel from a file written with `tinyconv.save(qmodel.state_dict(), path)`."""
    from ..serialization import load
    return QuantizedModel.from_state_dict(load(path))
