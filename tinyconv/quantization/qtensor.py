"""Quantized tensors: PyTorch's affine quantization, bit for bit.

A real value x is stored as an integer q with a scale s > 0 and a zero point z,

    q = clamp(z + round(x * (1/s)), qmin, qmax),      x ~ (q - z) * s,

per tensor (one s, z) or per channel (one s, z for every index along `axis`). The arithmetic is
PyTorch 2.13's CPU kernel (fbgemm's `Quantize<T, LEGACY=true>`), so `int_repr()` equals
`torch.quantize_per_tensor(...).int_repr()` bitwise (tests/quantization/test_qtensor.py):

- the reciprocal first, in float32: `inv = 1.0f / float(s)`; then `t = z + x * inv` (a product
  with the rounded reciprocal, NOT x / s: for s = 0.00214854861 and x = 0.273939937 the product
  is 127.5 and the quotient 127.49999);
- z is added BEFORE rounding, so a tie rounds to the even *result*: with s = 0.25, x = 0.125
  gives 2 for z = 1 and for z = 2;
- round half to even (`nearbyint`), then clamp to the dtype's range (in double, no overflow).

The one subtlety is how `z + x * inv` is rounded to float32. PyTorch's per-tensor quint8/qint8
kernel is AVX2 code that fuses it (`_mm256_fmadd_ps`: one rounding); its per-tensor qint32 and
every per-channel kernel multiply, round, add, round. We do the same: the fused form is the exact
float64 value z + x*inv (the 48-bit product of two float32 plus a small integer is exact in
float64) rounded once to float32. (On a CPU without FMA PyTorch itself rounds twice.)

As in PyTorch the input must be float32. Non-finite scales, scales <= 0 (PyTorch accepts them
and returns garbage), zero points outside the dtype's range and NaN inputs are refused; +-inf
clamp to qmax/qmin.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..autograd import Tensor

PER_TENSOR_AFFINE = "per_tensor_affine"
PER_CHANNEL_AFFINE = "per_channel_affine"


class QDtype:
    """A quantized dtype: its name, the integer type that stores it and its range."""

    def __init__(self, name, storage, qmin, qmax):
        self.name, self.storage, self.qmin, self.qmax = name, np.dtype(storage), qmin, qmax

    def __repr__(self):
        return f"tinyconv.{self.name}"


quint8 = QDtype("quint8", np.uint8, 0, 255)
qint8 = QDtype("qint8", np.int8, -128, 127)
qint32 = QDtype("qint32", np.int32, -2**31, 2**31 - 1)
QDTYPES = (quint8, qint8, qint32)


def _array(x, where):
    a = x.numpy() if isinstance(x, Tensor) else x
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{where}: expected a Tensor or a NumPy array, got {type(x).__name__}")
    if a.dtype != np.float32:
        raise TypeError(f"{where}: quantization only works on float32 input (as in PyTorch), got "
                        f"{a.dtype} of shape {a.shape}; convert with .astype(np.float32) first")
    if np.isnan(a).any():
        raise ValueError(f"{where}: the input of shape {a.shape} holds NaN, which has no quantized value")
    return a


def _check_dtype(dtype, where):
    if dtype not in QDTYPES:
        raise TypeError(f"{where}: dtype must be tinyconv.quint8, qint8 or qint32, got {dtype!r}")


def _check_scales(scales, where):
    s = np.asarray(scales, dtype=np.float64)
    with np.errstate(over="ignore", under="ignore"):
        s32 = s.astype(np.float32)
    bad = ~np.isfinite(s) | (s <= 0) | (s32 <= 0) | ~np.isfinite(s32)
    if bad.any():
        raise ValueError(f"{where}: scale must be finite and > 0 (also after rounding to float32), "
                         f"got {s[bad][:4].tolist()}")
    return s


def _check_zero_points(zero_points, dtype, where):
    z = np.asarray(zero_points)
    if z.dtype.kind not in "iu" and not (z.dtype.kind == "f" and np.all(z == np.round(z))):
        raise TypeError(f"{where}: zero_point must be an integer, got {z.tolist()}")
    z = z.astype(np.int64)
    bad = (z < dtype.qmin) | (z > dtype.qmax)
    if bad.any():
        raise ValueError(f"{where}: zero_point {z[bad][:4].tolist()} is outside {dtype!r}'s range "
                         f"[{dtype.qmin}, {dtype.qmax}]")
    return z


def _quantize(x, scale, zero_point, dtype, fused):
    """PyTorch's formula, broadcasting scale/zero_point against float32 x (see the module doc)."""
    inv = np.float32(1.0) / np.asarray(scale, dtype=np.float64).astype(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        if fused:  # one rounding of the exact z + x*inv
            t = (np.asarray(zero_point, dtype=np.float64) + x.astype(np.float64) * inv.astype(np.float64))
            t = t.astype(np.float32)
        else:
            t = np.asarray(zero_point).astype(np.float32) + x * inv
        t = np.rint(t)  # round half to even
    t = np.clip(t.astype(np.float64), dtype.qmin, dtype.qmax)
    return t.astype(dtype.storage)


class QuantizedTensor:
    """What `quantize_per_tensor` / `quantize_per_channel` return (PyTorch's quantized Tensor).

    The integer representation, the scale(s) and the zero point(s) are kept; there is no
    autograd through it (as in PyTorch, quantized tensors are for inference)."""

    is_quantized = True

    def __init__(self, int_repr, dtype, scheme, scales, zero_points, axis=None):
        self._q, self.dtype, self._scheme = int_repr, dtype, scheme
        self._scales, self._zero_points, self._axis = scales, zero_points, axis

    @property
    def shape(self):
        return self._q.shape

    @property
    def ndim(self):
        return self._q.ndim

    def size(self, dim=None):
        return self._q.shape if dim is None else self._q.shape[dim]

    def numel(self):
        return self._q.size

    def qscheme(self):
        return self._scheme

    def int_repr(self) -> Tensor:
        """The stored integers (uint8 / int8 / int32) as a Tensor (a copy)."""
        return Tensor(self._q.copy())

    def _per_tensor(self, what):
        if self._scheme != PER_TENSOR_AFFINE:
            raise RuntimeError(f"{what}() needs a per-tensor quantized tensor; this one is "
                               f"{self._scheme} (use q_per_channel_scales / zero_points)")

    def _per_channel(self, what):
        if self._scheme != PER_CHANNEL_AFFINE:
            raise RuntimeError(f"{what}() needs a per-channel quantized tensor; this one is {self._scheme}")

    def q_scale(self) -> float:
        self._per_tensor("q_scale")
        return float(self._scales)

    def q_zero_point(self) -> int:
        self._per_tensor("q_zero_point")
        return int(self._zero_points)

    def q_per_channel_scales(self) -> Tensor:
        self._per_channel("q_per_channel_scales")
        return Tensor(self._scales.copy())

    def q_per_channel_zero_points(self) -> Tensor:
        self._per_channel("q_per_channel_zero_points")
        return Tensor(self._zero_points.copy())

    def q_per_channel_axis(self) -> int:
        self._per_channel("q_per_channel_axis")
        return self._axis

    def _broadcast(self, v):
        if self._scheme == PER_TENSOR_AFFINE:
            return v
        shape = [1] * self._q.ndim
        shape[self._axis] = -1
        return v.reshape(shape)

    def dequantize(self) -> Tensor:
        """(q - z) * s in float32, as a Tensor."""
        s = self._broadcast(np.asarray(self._scales, dtype=np.float64)).astype(np.float32)
        z = self._broadcast(np.asarray(self._zero_points, dtype=np.int64))
        return Tensor(((self._q.astype(np.int64) - z).astype(np.float32) * s).astype(np.float32))

    def __repr__(self):
        if self._scheme == PER_TENSOR_AFFINE:
            q = f"scale={self.q_scale()}, zero_point={self.q_zero_point()}"
        else:
            q = f"scales={self._scales.tolist()}, zero_points={self._zero_points.tolist()}, axis={self._axis}"
        return f"QuantizedTensor({self.dequantize().numpy()}, dtype={self.dtype!r}, {self._scheme}, {q})"


def quantize_per_tensor(x, scale, zero_point, dtype) -> QuantizedTensor:
    """PyTorch's `torch.quantize_per_tensor`: one scale and zero point for the whole tensor."""
    where = "quantize_per_tensor"
    _check_dtype(dtype, where)
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
        raise TypeError(f"{where}: scale must be a real number, got {scale!r}")
    if isinstance(zero_point, bool) or not isinstance(zero_point, numbers.Integral):
        raise TypeError(f"{where}: zero_point must be an int, got {zero_point!r}")
    a = _array(x, where)
    s = float(_check_scales(scale, where))
    z = int(_check_zero_points(zero_point, dtype, where))
    q = _quantize(a, s, z, dtype, fused=dtype is not qint32)
    return QuantizedTensor(q, dtype, PER_TENSOR_AFFINE, s, z)


def quantize_per_channel(x, scales, zero_points, axis, dtype) -> QuantizedTensor:
    """PyTorch's `torch.quantize_per_channel`: `scales[c]`, `zero_points[c]` for index c along `axis`."""
    where = "quantize_per_channel"
    _check_dtype(dtype, where)
    a = _array(x, where)
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"{where}: axis must be an int, got {axis!r}")
    if not -a.ndim <= axis < a.ndim or a.ndim == 0:
        raise ValueError(f"{where}: axis {axis} is out of range for input of shape {a.shape}")
    axis = int(axis) % a.ndim
    s = scales.numpy() if isinstance(scales, Tensor) else np.asarray(scales)
    z = zero_points.numpy() if isinstance(zero_points, Tensor) else np.asarray(zero_points)
    n = a.shape[axis]
    if s.shape != (n,) or z.shape != (n,):
        raise ValueError(f"{where}: scales {s.shape} and zero_points {z.shape} must both have shape "
                         f"({n},), the size of axis {axis} of the input {a.shape}")
    s, z = _check_scales(s, where), _check_zero_points(z, dtype, where)
    shape = [1] * a.ndim
    shape[axis] = n
    q = _quantize(a, s.reshape(shape), z.reshape(shape), dtype, fused=False)
    return QuantizedTensor(q, dtype, PER_CHANNEL_AFFINE, s, z, axis)


def dequantize(q) -> Tensor:
    """`q.dequantize()` (PyTorch's `torch.dequantize`)."""
    if not isinstance(q, QuantizedTensor):
        raise TypeError(f"dequantize: expected a QuantizedTensor, got {type(q).__name__}")
    return q.dequantize()
