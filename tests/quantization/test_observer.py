"""Observers against PyTorch's, the percentile observer against NumPy's percentile, and the
integer multiplier against its definition."""
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinyconv as tc
from tinyconv.quantization import (MinMaxObserver, PercentileObserver, PerChannelMinMaxObserver,
                                   quantize_multiplier)


def _torch():
    torch = pytest.importorskip("torch")
    warnings.filterwarnings("ignore", category=UserWarning)
    return torch


@st.composite
def _batches(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = (draw(st.integers(1, 4)), draw(st.integers(1, 5)), draw(st.integers(1, 6)))
    shift, spread = draw(st.sampled_from([0.0, 3.0, -3.0])), 10.0 ** draw(st.integers(-3, 2))
    n = draw(st.integers(1, 3))
    return [(shift * spread + spread * rng.standard_normal(shape)).astype(np.float32) for _ in range(n)]


_SETTINGS = st.sampled_from([("quint8", "affine", False, None), ("qint8", "affine", False, None),
                             ("quint8", "symmetric", False, None), ("qint8", "symmetric", True, None),
                             ("quint8", "affine", True, None), ("qint8", "symmetric", False, (-127, 127)),
                             ("quint8", "symmetric", False, (0, 200)), ("qint8", "affine", False, (-100, 50))])


@pytest.mark.torch
@given(batches=_batches(), setting=_SETTINGS)
def test_minmax_observer_qparams_equal_pytorch(batches, setting):
    torch = _torch()
    from torch.ao.quantization import observer as tobs
    name, scheme, reduce_range, qrange = setting
    kw = {} if qrange is None else {"quant_min": qrange[0], "quant_max": qrange[1]}
    ours = MinMaxObserver(dtype=getattr(tc, name), qscheme=f"per_tensor_{scheme}", reduce_range=reduce_range, **kw)
    theirs = tobs.MinMaxObserver(dtype=getattr(torch, name), qscheme=getattr(torch, f"per_tensor_{scheme}"),
                                 reduce_range=reduce_range, **kw)
    for b in batches:
        ours(tc.tensor(b))
        theirs(torch.from_numpy(b))
    scale, zp = ours.calculate_qparams()
    tscale, tzp = theirs.calculate_qparams()
    np.testing.assert_array_equal(scale, tscale.numpy().reshape(scale.shape))
    np.testing.assert_array_equal(zp, tzp.numpy().reshape(zp.shape))


@pytest.mark.torch
@given(batches=_batches(), axis=st.integers(0, 2), setting=_SETTINGS)
def test_per_channel_observer_qparams_equal_pytorch(batches, axis, setting):
    torch = _torch()
    from torch.ao.quantization import observer as tobs
    name, scheme, reduce_range, qrange = setting
    kw = {} if qrange is None else {"quant_min": qrange[0], "quant_max": qrange[1]}
    ours = PerChannelMinMaxObserver(ch_axis=axis, dtype=getattr(tc, name), qscheme=f"per_channel_{scheme}",
                                    reduce_range=reduce_range, **kw)
    theirs = tobs.PerChannelMinMaxObserver(ch_axis=axis, dtype=getattr(torch, name),
                                           qscheme=getattr(torch, f"per_channel_{scheme}"),
                                           reduce_range=reduce_range, **kw)
    for b in batches:
        ours(b)
        theirs(torch.from_numpy(b))
    scale, zp = ours.calculate_qparams()
    tscale, tzp = theirs.calculate_qparams()
    np.testing.assert_array_equal(scale, tscale.numpy())
    np.testing.assert_array_equal(zp, tzp.numpy())


def test_minmax_observer_by_hand():
    obs = MinMaxObserver(dtype=tc.qint8)
    obs(np.array([0.5, 2.0], np.float32))
    obs(np.array([-0.55, 1.0], np.float32))
    scale, zp = obs.calculate_qparams()
    # range widened to contain 0 is [-0.55, 2.0]: scale 2.55 / 255 = 0.01, zero point -128 + 55
    assert scale.dtype == np.float32 and scale == np.float32(np.float32(2.55) / np.float32(255))
    assert zp == -73
    obs = MinMaxObserver(dtype=tc.qint8)
    obs(np.array([0.0, 3.0], np.float32))  # a ReLU's output: zero point at the bottom of the range
    assert obs.calculate_qparams()[1] == -128


def test_percentile_observer_clips_outliers_and_matches_numpy():
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal(20000).astype(np.float32) * (1 + i) for i in range(3)]
    batches[1][7] = 1000.0  # one outlier: MinMax's range is dominated by it, the percentile's is not
    p, m = PercentileObserver(percentile=99.9, bins=4096, dtype=tc.qint8), MinMaxObserver(dtype=tc.qint8)
    for b in batches:
        p(b)
        m(b)
    everything = np.concatenate(batches)
    assert m.max_val == 1000.0
    # histogram re-binning costs about a bin width of the widest range
    width = (everything.max() - everything.min()) / 4096
    assert abs(p.max_val - np.percentile(everything, 99.9)) < 3 * width
    assert abs(p.min_val - np.percentile(everything, 0.1)) < 3 * width
    assert p.calculate_qparams()[0] < m.calculate_qparams()[0] / 50


def test_observer_errors():
    with pytest.raises(RuntimeError, match="before any data"):
        MinMaxObserver().calculate_qparams()
    with pytest.raises(ValueError, match="non-finite"):
        MinMaxObserver()(np.array([np.nan], np.float32))
    with pytest.raises(ValueError, match="qscheme"):
        MinMaxObserver(qscheme="per_channel_affine")
    with pytest.raises(TypeError, match="dtype"):
        MinMaxObserver(dtype=tc.qint32)
    with pytest.raises(ValueError, match="quant_min"):
        MinMaxObserver(dtype=tc.qint8, quant_min=-200, quant_max=100)
    with pytest.raises(ValueError, match="ch_axis 3"):
        PerChannelMinMaxObserver(ch_axis=3)(np.ones((2, 2), np.float32))
    with pytest.raises(ValueError, match="percentile"):
        PercentileObserver(percentile=30)


@given(st.floats(2.0**-31, 2.0**30 - 1))  # closer to 2**30 rounds to it at 31 bits: refused
def test_quantize_multiplier_represents_m(m):
    m0, s = quantize_multiplier(m)
    m0, s = int(m0[0]), int(s[0])
    assert 2**30 <= m0 < 2**31 and 1 <= s <= 62
    assert abs(m0 * 2.0**-s - m) <= m * 2.0**-31


def test_quantize_multiplier_edges():
    m0, s = quantize_multiplier([0.5, 1.0, 0.75, 2.0**-40])
    assert m0.tolist()[:3] == [2**30, 2**30, 3 * 2**29] and s.tolist()[:3] == [31, 30, 31]
    assert s[3] == 62 and m0[3] == 2**22  # below 2**-31: fewer bits at the largest shift
    with pytest.raises(ValueError, match="right shift"):
        quantize_multiplier(2.0**30)
    with pytest.raises(ValueError, match="right shift"):
        quantize_multiplier(2.0**30 - 0.25)  # 31 significant bits round it up to 2**30
    with pytest.raises(ValueError, match="> 0"):
        quantize_multiplier([0.5, 0.0])
