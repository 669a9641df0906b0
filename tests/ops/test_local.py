"""locally_connected2d / nn.LocallyConnected2d: gradcheck, an einsum reference, the reference and
Numba kernels against each other, equivalence with conv2d when all filters are equal, bad input."""
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv.kernels.cpu import local as cpu
from tinyconv.kernels.reference import local as ref


def t64(a, grad=True):
    return tc.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def einsum_reference(x, w, b, stride, padding):
    """Every output position's dot product, spelled out with einsum over explicit windows."""
    (sh, sw), (ph, pw) = stride, padding
    oh, ow, o, c, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    y = np.empty((x.shape[0], o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            y[:, :, i, j] = np.einsum("ncuv,ocuv->no", win, w[i, j])
    return y if b is None else y + b


@st.composite
def cases(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    ph, pw = draw(st.integers(0, 1)), draw(st.integers(0, 1))
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    assume(h + 2 * ph >= kh and w + 2 * pw >= kw)
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    n, c, o = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 3))
    return (n, c, h, w), (oh, ow, o, c, kh, kw), (sh, sw), (ph, pw), draw(st.booleans())


@given(cases(), st.integers(0, 2**32 - 1))
def test_gradcheck_and_einsum_reference(case, seed):
    xs, ws, stride, padding, bias = case
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    b = rng.standard_normal((ws[2], ws[0], ws[1])) if bias else None
    y = F.locally_connected2d(t64(x, False), t64(w, False), None if b is None else t64(b, False), stride, padding)
    np.testing.assert_allclose(y.numpy(), einsum_reference(x, w, b, stride, padding), rtol=1e-12, atol=1e-12)
    args = [t64(x), t64(w)] + ([t64(b)] if bias else [])
    assert tc.gradcheck(lambda *a: F.locally_connected2d(a[0], a[1], a[2] if bias else None, stride, padding), args)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@given(case=cases(), seed=st.integers(0, 2**32 - 1))
def test_numba_kernels_match_reference(dtype, tol, case, seed):
    xs, ws, stride, padding, bias = case
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal((ws[2], ws[0], ws[1])).astype(dtype) if bias else None
    y_ref, y_cpu = ref.local2d_forward(x, w, b, stride, padding), cpu.local2d_forward(x, w, b, stride, padding)
    assert y_cpu.dtype == dtype
    np.testing.assert_allclose(y_cpu, y_ref, rtol=tol, atol=tol)
    gy = rng.standard_normal(y_ref.shape).astype(dtype)
    for a, c in zip(ref.local2d_backward(gy, x, w, stride, padding), cpu.local2d_backward(gy, x, w, stride, padding)):
        assert c.dtype == dtype
        np.testing.assert_allclose(c, a, rtol=tol, atol=tol)
    assert cpu.local2d_backward(gy, x, w, stride, padding, need_input_grad=False)[0] is None


def test_shared_filters_reduce_to_conv2d(rng):
    # the same filter at every position is exactly a convolution
    x = rng.standard_normal((2, 3, 9, 8))
    wc = rng.standard_normal((4, 3, 3, 2))
    oh, ow = (9 + 2 - 3) // 2 + 1, (8 + 2 - 2) // 2 + 1
    w = np.broadcast_to(wc, (oh, ow) + wc.shape).copy()
    y = F.locally_connected2d(t64(x, False), t64(w, False), stride=2, padding=1)
    yc = F.conv2d(t64(x, False), t64(wc, False), stride=2, padding=1)
    np.testing.assert_allclose(y.numpy(), yc.numpy(), rtol=1e-12, atol=1e-12)


def test_layer_parameters_and_forward(rng):
    layer = tc.nn.LocallyConnected2d(1, 6, 32, 5)
    assert layer.weight.shape == (28, 28, 6, 1, 5, 5) and layer.bias.shape == (6, 28, 28)
    assert sum(p.data.size for p in layer.parameters()) == 28 * 28 * 6 * 26 == 122304
    assert np.abs(layer.weight.numpy()).max() <= 1 / 5
    x = tc.tensor(rng.standard_normal((2, 1, 32, 32)).astype(np.float32))
    y = layer(x)
    assert y.shape == (2, 6, 28, 28) and y.dtype == np.float32
    assert layer(x[0]).shape == (6, 28, 28)
    with pytest.raises(ValueError, match="built for 32x32"):
        layer(tc.tensor(np.zeros((1, 1, 30, 30), np.float32)))


def test_bad_input_is_named():
    x = tc.tensor(np.zeros((1, 2, 6, 6)))
    with pytest.raises(ValueError, match="weight must be 6-D"):
        F.locally_connected2d(x, tc.tensor(np.zeros((4, 2, 3, 3))))
    with pytest.raises(ValueError, match="input has 2 channels"):
        F.locally_connected2d(x, tc.tensor(np.zeros((4, 4, 1, 3, 3, 3))))
    with pytest.raises(ValueError, match="gives a 4x4 output"):
        F.locally_connected2d(x, tc.tensor(np.zeros((3, 4, 1, 2, 3, 3))))
    with pytest.raises(ValueError, match="bias must have shape"):
        F.locally_connected2d(x, tc.tensor(np.zeros((4, 4, 1, 2, 3, 3))), tc.tensor(np.zeros(1)))
    with pytest.raises(ValueError, match="larger than the padded"):
        F.locally_connected2d(x, tc.tensor(np.zeros((1, 1, 1, 2, 7, 7))))
    with pytest.raises(TypeError, match="share one dtype"):
        F.locally_connected2d(x, tc.tensor(np.zeros((4, 4, 1, 2, 3, 3), np.float32)))
