"""Observers: watch the values flowing through a point of the network during calibration, then
turn their range into a scale and a zero point (PyTorch's `torch.ao.quantization.observer`).

`MinMaxObserver` and `PerChannelMinMaxObserver` follow PyTorch's `calculate_qparams` in float32
(tested against it): the range is widened to contain 0 (so real 0, ReLU's output and the zero
padding, is exactly representable), then

    affine:     scale = (max - min) / (qmax - qmin),  zero_point = qmin - round(min / scale)
    symmetric:  scale = max(|min|, |max|) / ((qmax - qmin) / 2),  zero_point = 0 (128 for quint8)

with scale at least float32's eps. `PercentileObserver` (no PyTorch class of that name) keeps a
histogram and clips the range to a percentile of the values seen, trading a few clipped
outliers for a finer step on everything else.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Tensor
from .qtensor import QDtype, qint8, quint8

_EPS = np.float32(np.finfo(np.float32).eps)
SCHEMES = ("per_tensor_affine", "per_tensor_symmetric", "per_channel_affine", "per_channel_symmetric")


def _values(x, where):
    a = x.numpy() if isinstance(x, Tensor) else np.asarray(x)
    if a.size == 0:
        raise ValueError(f"{where}: observed an empty array of shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{where}: observed non-finite values (shape {a.shape}); a range needs finite data")
    return a


class ObserverBase:
    """Range -> (scale, zero_point) in PyTorch's float32 arithmetic; subclasses collect the range."""

    per_channel = False

    def __init__(self, dtype=quint8, qscheme="per_tensor_affine", reduce_range=False,
                 quant_min=None, quant_max=None):
        name = type(self).__name__
        if not isinstance(dtype, QDtype) or dtype not in (quint8, qint8):
            raise TypeError(f"{name}: dtype must be tinyconv.quint8 or tinyconv.qint8, got {dtype!r}")
        if qscheme not in SCHEMES or qscheme.startswith("per_channel") != self.per_channel:
            allowed = [s for s in SCHEMES if s.startswith("per_channel") == self.per_channel]
            raise ValueError(f"{name}: qscheme must be one of {allowed}, got {qscheme!r}")
        if (quant_min is None) != (quant_max is None):
            raise ValueError(f"{name}: give both quant_min and quant_max, or neither")
        if quant_min is None:
            quant_min, quant_max = dtype.qmin, dtype.qmax
            if reduce_range:  # one bit less, as PyTorch does for x86 (fbgemm) activations
                quant_min, quant_max = quant_min // 2, quant_max // 2
            self.has_customized_qrange = False
        else:
            if not dtype.qmin <= quant_min < quant_max <= dtype.qmax:
                raise ValueError(f"{name}: need {dtype.qmin} <= quant_min < quant_max <= {dtype.qmax} "
                                 f"for {dtype!r}, got [{quant_min}, {quant_max}]")
            self.has_customized_qrange = True
        self.dtype, self.qscheme = dtype, qscheme
        self.quant_min, self.quant_max = int(quant_min), int(quant_max)
        self.min_val = self.max_val = None

    def __call__(self, x):
        return self.forward(x)

    def _range(self):
        if self.min_val is None:
            raise RuntimeError(f"{type(self).__name__}: calculate_qparams() before any data was observed")
        return np.float32(self.min_val), np.float32(self.max_val)

    def calculate_qparams(self):
        """(scale float32 array, zero_point int64 array): shape () per tensor, (C,) per channel."""
        lo, hi = self._range()
        zero = np.float32(0)
        min_neg, max_pos = np.minimum(lo, zero), np.maximum(hi, zero)
        qmin, qmax = self.quant_min, self.quant_max
        if self.qscheme.endswith("symmetric"):
            max_pos = np.maximum(-min_neg, max_pos)
            scale = np.maximum(max_pos / np.float32((qmax - qmin) / 2), _EPS).astype(np.float32)
            if self.dtype is quint8:
                zp = (qmin + qmax) // 2 if self.has_customized_qrange else 128
            else:
                zp = 0
            zero_point = np.full(np.shape(scale), zp, np.int64)
        else:
            scale = np.maximum((max_pos - min_neg) / np.float32(qmax - qmin), _EPS).astype(np.float32)
            zero_point = qmin - np.round(min_neg / scale).astype(np.int64)  # round half to even
            zero_point = np.clip(zero_point, qmin, qmax).astype(np.int64)
        return scale, zero_point


class MinMaxObserver(ObserverBase):
    """The running minimum and maximum of everything observed (PyTorch's MinMaxObserver)."""

    def forward(self, x):
        a = _values(x, "MinMaxObserver")
        lo, hi = np.float32(a.min()), np.float32(a.max())
        self.min_val = lo if self.min_val is None else min(self.min_val, lo)
        self.max_val = hi if self.max_val is None else max(self.max_val, hi)
        return x


class PerChannelMinMaxObserver(ObserverBase):
    """Minimum and maximum per index along `ch_axis` (PyTorch's PerChannelMinMaxObserver): the
    observer for per-channel weights."""

    per_channel = True

    def __init__(self, ch_axis=0, dtype=qint8, qscheme="per_channel_symmetric", reduce_range=False,
                 quant_min=None, quant_max=None):
        super().__init__(dtype, qscheme, reduce_range, quant_min, quant_max)
        self.ch_axis = ch_axis

    def forward(self, x):
        a = _values(x, "PerChannelMinMaxObserver")
        if not -a.ndim <= self.ch_axis < a.ndim:
            raise ValueError(f"PerChannelMinMaxObserver: ch_axis {self.ch_axis} is out of range for "
                             f"shape {a.shape}")
        rows = np.moveaxis(a, self.ch_axis, 0).reshape(a.shape[self.ch_axis], -1)
        lo, hi = rows.min(1).astype(np.float32), rows.max(1).astype(np.float32)
        if self.min_val is not None and self.min_val.shape != lo.shape:
            raise ValueError(f"PerChannelMinMaxObserver: {lo.size} channels now, {self.min_val.size} before")
        self.min_val = lo if self.min_val is None else np.minimum(self.min_val, lo)
        self.max_val = hi if self.max_val is None else np.maximum(self.max_val, hi)
        return x


class PercentileObserver(ObserverBase):
    """The range between the (100 - percentile)-th and the percentile-th percentile of the values.

    Values go into a histogram of `bins` equal bins over the widest range seen so far; when a
    batch widens the range, the old counts move to the new bins by their bin centres (so memory
    stays O(bins) however many images are observed). The percentiles are read from the
    cumulative histogram with linear interpolation inside a bin."""

    def __init__(self, percentile=99.99, bins=2048, dtype=quint8, qscheme="per_tensor_affine",
                 reduce_range=False, quant_min=None, quant_max=None):
        super().__init__(dtype, qscheme, reduce_range, quant_min, quant_max)
        if not 50 < percentile <= 100:
            raise ValueError(f"PercentileObserver: percentile must lie in (50, 100], got {percentile}")
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 16:
            raise ValueError(f"PercentileObserver: bins must be an int >= 16, got {bins!r}")
        self.percentile, self.bins = float(percentile), bins
        self.histogram = None
        self._edges = self._seen = None

    def forward(self, x):
        a = _values(x, "PercentileObserver").astype(np.float64).ravel()
        lo, hi = a.min(), a.max()
        if self.histogram is None:
            span = max(abs(lo), abs(hi), 1e-30) * 1e-6  # constant data: a narrow range numpy can bin
            if hi - lo < span:
                hi = lo + span
            self._edges = (lo, hi)
            self.histogram = np.zeros(self.bins, np.float64)
        else:
            old_lo, old_hi = self._edges
            lo, hi = min(lo, old_lo), max(hi, old_hi)
            if (lo, hi) != (old_lo, old_hi):
                width = (old_hi - old_lo) / self.bins
                centres = old_lo + width * (np.arange(self.bins) + 0.5)
                moved, _ = np.histogram(centres, bins=self.bins, range=(lo, hi), weights=self.histogram)
                self.histogram, self._edges = moved, (lo, hi)
        counts, _ = np.histogram(a, bins=self.bins, range=self._edges)
        self.histogram += counts
        seen = a.min(), a.max()
        self._seen = seen if self._seen is None else (min(self._seen[0], seen[0]), max(self._seen[1], seen[1]))
        # interpolation inside a bin may step past the data: never beyond what was seen
        self.min_val = float(np.clip(self._quantile(100 - self.percentile), *self._seen))
        self.max_val = float(np.clip(self._quantile(self.percentile), *self._seen))
        return x

    def _quantile(self, q):
        lo, hi = self._edges
        cdf = np.cumsum(self.histogram)
        target = q / 100 * cdf[-1]
        i = int(np.searchsorted(cdf, target, side="left"))
        i = min(i, self.bins - 1)
        before = cdf[i - 1] if i else 0.0
        inside = (target - before) / self.histogram[i] if self.histogram[i] else 0.0
        return float(lo + (hi - lo) * (i + inside) / self.bins)
