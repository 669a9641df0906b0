"""quantize_per_tensor / quantize_per_channel / dequantize against PyTorch's integer representation."""
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinyconv as tc

DTYPES = {"quint8": (0, 255), "qint8": (-128, 127), "qint32": (-2**31, 2**31 - 1)}


def _torch():
    torch = pytest.importorskip("torch")
    warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")
    return torch


@st.composite
def _case(draw, per_channel):
    name = draw(st.sampled_from(sorted(DTYPES)))
    lo, hi = DTYPES[name]
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=3)))
    axis = draw(st.integers(0, len(shape) - 1))
    n = shape[axis] if per_channel else 1
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    scales = (10.0 ** rng.uniform(-5, 2, n)).astype(np.float64)
    zps = rng.integers(lo, hi + 1, n) if name != "quint8" or draw(st.booleans()) else np.zeros(n, np.int64)
    s_b = scales.reshape([-1 if i == axis else 1 for i in range(len(shape))]) if per_channel else scales[0]
    kind = draw(st.sampled_from(["normal", "halfway", "huge"]))
    if kind == "normal":  # magnitudes spanning the clamping range and far inside it
        x = rng.standard_normal(shape) * 10.0 ** rng.uniform(-4, 4) * s_b * 100
    elif kind == "halfway":  # exact ties x/s = k + 0.5 where float32 allows
        x = (rng.integers(-300, 300, shape) + 0.5) * np.float32(s_b)
    else:
        x = rng.choice([np.inf, -np.inf, 3e38, -3e38, 0.0, -0.0], size=shape)
    return name, x.astype(np.float32), scales, zps, axis


@pytest.mark.torch
@given(_case(per_channel=False))
def test_quantize_per_tensor_int_repr_equals_pytorch(case):
    torch = _torch()
    name, x, scales, zps, _ = case
    q = tc.quantize_per_tensor(x, float(scales[0]), int(zps[0]), getattr(tc, name))
    qt = torch.quantize_per_tensor(torch.from_numpy(x), float(scales[0]), int(zps[0]), getattr(torch, name))
    assert q.int_repr().dtype == qt.int_repr().numpy().dtype
    np.testing.assert_array_equal(q.int_repr().numpy(), qt.int_repr().numpy())
    assert q.q_scale() == qt.q_scale() and q.q_zero_point() == qt.q_zero_point()
    if np.isfinite(x).all() and name != "qint32":  # PyTorch's qint32 dequantize rounds q - z to float32 first
        np.testing.assert_allclose(q.dequantize().numpy(), qt.dequantize().numpy(), rtol=2e-7)
        np.testing.assert_allclose(tc.dequantize(q).numpy(), qt.dequantize().numpy(), rtol=2e-7)


@pytest.mark.torch
@given(_case(per_channel=True))
def test_quantize_per_channel_int_repr_equals_pytorch(case):
    torch = _torch()
    name, x, scales, zps, axis = case
    q = tc.quantize_per_channel(x, scales, zps, axis, getattr(tc, name))
    qt = torch.quantize_per_channel(torch.from_numpy(x), torch.from_numpy(scales),
                                    torch.from_numpy(zps.astype(np.int64)), axis, getattr(torch, name))
    np.testing.assert_array_equal(q.int_repr().numpy(), qt.int_repr().numpy())
    np.testing.assert_array_equal(q.q_per_channel_scales().numpy(), qt.q_per_channel_scales().numpy())
    np.testing.assert_array_equal(q.q_per_channel_zero_points().numpy(), qt.q_per_channel_zero_points().numpy())
    assert q.q_per_channel_axis() == qt.q_per_channel_axis() == axis
    if np.isfinite(x).all() and name != "qint32":  # PyTorch's qint32 dequantize rounds q - z to float32 first
        np.testing.assert_allclose(q.dequantize().numpy(), qt.dequantize().numpy(), rtol=2e-7)


def test_tie_rounds_to_even_after_adding_the_zero_point():
    # x/s = 0.5 exactly: z + 0.5 rounds to the even neighbour, so z=1 and z=2 both give 2
    x = np.full(3, 0.125, np.float32)
    for z in (1, 2):
        assert tc.quantize_per_tensor(x, 0.25, z, tc.quint8).int_repr().numpy().tolist() == [2, 2, 2]
    # the product with the rounded reciprocal, not the quotient (fbgemm's own example)
    x = np.array([0.273939937], np.float32)
    assert tc.quantize_per_tensor(x, 0.00214854861, 0, tc.quint8).int_repr().numpy()[0] == 128


def test_values_clamp_to_the_dtype_range():
    x = np.array([-1e30, -np.inf, 1e30, np.inf, 0], np.float32)
    assert tc.quantize_per_tensor(x, 0.1, 3, tc.qint8).int_repr().numpy().tolist() == [-128, -128, 127, 127, 3]
    assert tc.quantize_per_tensor(x, 0.1, 3, tc.quint8).int_repr().numpy().tolist() == [0, 0, 255, 255, 3]
    q = tc.quantize_per_tensor(x, 1.0, 0, tc.qint32).int_repr().numpy()
    assert q.dtype == np.int32 and q.tolist() == [-2**31, -2**31, 2**31 - 1, 2**31 - 1, 0]


def test_dequantize_is_scale_times_offset():
    q = tc.quantize_per_channel(np.array([[1.0, -2.0], [0.5, 7.0]], np.float32),
                                np.array([0.5, 0.25]), np.array([1, -3]), 0, tc.qint8)
    np.testing.assert_array_equal(q.int_repr().numpy(), [[3, -3], [-1, 25]])
    np.testing.assert_array_equal(q.dequantize().numpy(), [[1.0, -2.0], [0.5, 7.0]])
    assert q.dequantize().dtype == np.float32 and q.qscheme() == "per_channel_affine"


@pytest.mark.parametrize("scale", [0.0, -0.1, np.inf, np.nan, 1e-50, 1e50])
def test_bad_scale_is_refused(scale):
    x = np.ones(3, np.float32)
    with pytest.raises(ValueError, match="scale"):
        tc.quantize_per_tensor(x, scale, 0, tc.qint8)
    with pytest.raises(ValueError, match="scale"):
        tc.quantize_per_channel(x, np.array([0.1, scale, 0.1]), np.zeros(3, np.int64), 0, tc.qint8)


def test_bad_arguments_are_refused():
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"zero_point \[300\].*quint8"):
        tc.quantize_per_tensor(x, 0.1, 300, tc.quint8)
    with pytest.raises(ValueError, match="zero_point"):
        tc.quantize_per_tensor(x, 0.1, -1, tc.quint8)
    with pytest.raises(ValueError, match="zero_point"):
        tc.quantize_per_channel(x, np.ones(3), np.array([0, 0, 128]), 1, tc.qint8)
    with pytest.raises(TypeError, match="float32"):
        tc.quantize_per_tensor(x.astype(np.float64), 0.1, 0, tc.qint8)
    with pytest.raises(TypeError, match="dtype"):
        tc.quantize_per_tensor(x, 0.1, 0, tc.int8)
    with pytest.raises(ValueError, match="NaN"):
        tc.quantize_per_tensor(np.array([np.nan], np.float32), 0.1, 0, tc.qint8)
    with pytest.raises(ValueError, match=r"axis 2 is out of range.*\(2, 3\)"):
        tc.quantize_per_channel(x, np.ones(3), np.zeros(3, np.int64), 2, tc.qint8)
    with pytest.raises(ValueError, match=r"scales \(2,\).*\(3,\)"):
        tc.quantize_per_channel(x, np.ones(2), np.zeros(2, np.int64), 1, tc.qint8)
    q = tc.quantize_per_tensor(x, 0.1, 0, tc.qint8)
    with pytest.raises(RuntimeError, match="per-channel"):
        q.q_per_channel_scales()
    with pytest.raises(RuntimeError, match="per-tensor"):
        tc.quantize_per_channel(x, np.ones(3), np.zeros(3, np.int64), 1, tc.qint8).q_scale()
    with pytest.raises(TypeError, match="QuantizedTensor"):
        tc.dequantize(tc.tensor(x))
