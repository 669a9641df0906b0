"""conv2d: gradients over drawn configurations in both algorithms, PyTorch parity (groups,
dilation, padding="same", unbatched input), frozen inputs, bad input.
Runs on the backend TINYCONV_BACKEND selects."""
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv.ops.conv import choose_algo

ALGOS = ["im2col", "direct"]


def t64(a, grad=True):
    return tc.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


@st.composite
def convs(draw):
    """Small configurations (a few hundred elements in all, so full finite differences stay
    fast): (x_shape, w_shape, stride, padding, dilation, groups), H != W, kh and kw drawn apart."""
    groups = draw(st.integers(1, 2))
    c, o = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    h = draw(st.integers(1, 5))
    w = draw(st.integers(1, 5).filter(lambda v: v != h))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 1)), draw(st.integers(0, 1)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    assume(dilation[0] * (kh - 1) + 1 <= h + 2 * padding[0])
    assume(dilation[1] * (kw - 1) + 1 <= w + 2 * padding[1])
    return (draw(st.integers(1, 2)), c, h, w), (o, c // groups, kh, kw), stride, padding, dilation, groups


# --- gradients -----------------------------------------------------------------------------------
@given(convs(), st.booleans(), st.integers(0, 2**32 - 1))
def test_gradcheck_both_algos_and_they_agree(case, with_bias, seed):
    x_shape, w_shape, stride, padding, dilation, groups = case
    rng = np.random.default_rng(seed)
    inputs = [t64(rng.standard_normal(x_shape)), t64(rng.standard_normal(w_shape))]
    if with_bias:
        inputs.append(t64(rng.standard_normal(w_shape[0])))
    results = {}
    for algo in ALGOS:
        def fn(*args):
            return F.conv2d(*args, stride=stride, padding=padding, dilation=dilation,
                            groups=groups, algo=algo)

        assert tc.gradcheck(fn, inputs)
        # gradcheck leaves .grad holding backward(v) for its random v: the same v for both algos
        results[algo] = [fn(*inputs).numpy()] + [t.grad.numpy().copy() for t in inputs]
    for a, b in zip(results["im2col"], results["direct"]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * max(1.0, float(np.abs(a).max())))


@pytest.mark.parametrize("algo", ALGOS)
def test_gradcheck_alexnet_style_grouped_stride(algo, rng):
    # conv1-like large stride, and a grouped layer whose groups see disjoint channels
    x = t64(rng.standard_normal((1, 2, 11, 9)))
    w = t64(rng.standard_normal((2, 2, 5, 3)))
    assert tc.gradcheck(lambda a, b: F.conv2d(a, b, stride=(4, 3), algo=algo), [x, w])
    x = t64(rng.standard_normal((2, 4, 4, 3)))
    w, b = t64(rng.standard_normal((4, 2, 3, 3))), t64(rng.standard_normal(4))
    assert tc.gradcheck(lambda *a: F.conv2d(*a, padding="same", groups=2, algo=algo), [x, w, b])


# --- PyTorch parity ------------------------------------------------------------------------------
def close(actual, expected):
    """float32 to ~1e-5 relative, with an absolute floor scaled to the largest value."""
    np.testing.assert_allclose(actual, expected, rtol=1e-5,
                               atol=1e-5 * max(1.0, float(np.abs(expected).max())))


def assert_parity(x, w, b, rng, **kwargs):
    """Forward and every input gradient, float32, against torch.nn.functional.conv2d, in both
    algorithms."""
    torch = pytest.importorskip("torch")
    arrays = [a for a in (x, w, b) if a is not None]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    yt = torch.nn.functional.conv2d(*theirs, **kwargs)
    gy = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.from_numpy(gy))
    for algo in ALGOS:
        ours = [tc.tensor(a, requires_grad=True) for a in arrays]
        y = F.conv2d(*ours, **kwargs, algo=algo)
        assert y.shape == tuple(yt.shape) and y.dtype == np.float32
        close(y.numpy(), yt.detach().numpy())
        y.backward(gy)
        for a, at in zip(ours, theirs):
            assert a.grad.shape == a.shape
            close(a.grad.numpy(), at.grad.numpy())


PARITY = [
    ("plain", (2, 3, 9, 8), (4, 3, 3, 3), {}),
    ("stride2_pad1", (2, 3, 9, 8), (4, 3, 3, 3), dict(stride=2, padding=1)),
    ("non_square", (2, 3, 7, 10), (5, 3, 2, 4), dict(stride=(2, 1), padding=(1, 2))),
    ("dilation", (1, 2, 10, 9), (3, 2, 3, 2), dict(dilation=(2, 3), padding=(2, 1))),
    ("dilation_stride", (2, 2, 11, 12), (3, 2, 3, 3), dict(stride=(2, 3), dilation=2)),
    ("groups2", (2, 4, 8, 7), (6, 2, 3, 3), dict(padding=1, groups=2)),
    ("groups3_dilation", (2, 6, 9, 8), (3, 2, 2, 3), dict(dilation=(2, 1), groups=3, stride=2)),
    ("depthwise", (1, 4, 6, 7), (8, 1, 3, 3), dict(groups=4, padding=1)),
    ("same", (2, 3, 7, 6), (4, 3, 3, 5), dict(padding="same")),
    ("same_dilated", (1, 2, 8, 9), (3, 2, 3, 3), dict(padding="same", dilation=(2, 3))),
    ("valid", (2, 3, 7, 6), (4, 3, 2, 3), dict(padding="valid")),
    ("alexnet_conv1", (1, 3, 35, 35), (4, 3, 11, 11), dict(stride=4)),
    ("pad_beyond_kernel", (1, 2, 4, 5), (2, 2, 1, 2), dict(padding=(3, 2))),
]


@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("x_shape,w_shape,kwargs", [p[1:] for p in PARITY], ids=[p[0] for p in PARITY])
def test_matches_pytorch(x_shape, w_shape, kwargs, with_bias, rng):
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    b = rng.standard_normal(w_shape[0]).astype(np.float32) if with_bias else None
    assert_parity(x, w, b, rng, **kwargs)


def test_unbatched_input_matches_pytorch(rng):
    x = rng.standard_normal((4, 7, 6)).astype(np.float32)
    w = rng.standard_normal((6, 2, 3, 2)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    assert_parity(x, w, b, rng, stride=(1, 2), padding=1, groups=2)
    y = F.conv2d(tc.tensor(x), tc.tensor(w), tc.tensor(b), stride=(1, 2), padding=1, groups=2)
    batched = F.conv2d(tc.tensor(x[None]), tc.tensor(w), tc.tensor(b), stride=(1, 2), padding=1, groups=2)
    assert y.shape == (6, 7, 4)
    np.testing.assert_array_equal(y.numpy(), batched.numpy()[0])


# --- behaviour -----------------------------------------------------------------------------------
def test_values_by_hand():
    # a 2x2 kernel [[1, 2], [3, 4]] over 0..8 in a 3x3 plane, plus bias 10
    x = t64(np.arange(9.0).reshape(1, 1, 3, 3), grad=False)
    w = t64([[[[1.0, 2.0], [3.0, 4.0]]]], grad=False)
    for algo in ALGOS:
        y = F.conv2d(x, w, t64([10.0], grad=False), algo=algo)
        np.testing.assert_array_equal(y.numpy()[0, 0], [[10 + 27, 10 + 37], [10 + 57, 10 + 67]])


@pytest.mark.parametrize("algo", ALGOS)
def test_frozen_input_or_weight_gets_no_gradient(algo, rng):
    x_data, w_data = rng.standard_normal((2, 4, 6, 5)), rng.standard_normal((4, 2, 3, 2))
    gy = rng.standard_normal((2, 4, 3, 6))
    kw = dict(stride=(2, 1), padding=1, groups=2, algo=algo)
    x, w, b = t64(x_data), t64(w_data), t64(rng.standard_normal(4))
    F.conv2d(x, w, b, **kw).backward(gy)
    # the input does not require grad: backward skips gx (need_input_grad=False) and the rest is unchanged
    x2, w2, b2 = t64(x_data, grad=False), t64(w_data), t64(b.numpy())
    F.conv2d(x2, w2, b2, **kw).backward(gy)
    assert x2.grad is None
    np.testing.assert_allclose(w2.grad.numpy(), w.grad.numpy(), rtol=1e-14)
    np.testing.assert_allclose(b2.grad.numpy(), gy.sum(axis=(0, 2, 3)), rtol=1e-13)
    # a frozen weight and bias: only the input gets a gradient
    x3, w3, b3 = t64(x_data), t64(w_data, grad=False), t64(b.numpy(), grad=False)
    F.conv2d(x3, w3, b3, **kw).backward(gy)
    assert w3.grad is None and b3.grad is None
    np.testing.assert_allclose(x3.grad.numpy(), x.grad.numpy(), rtol=1e-14)


def test_non_contiguous_input_and_weight(rng):
    base = rng.standard_normal((2, 3, 5, 6))
    wbase = rng.standard_normal((4, 3, 2, 3))
    x, w = t64(base), t64(wbase)
    y = F.conv2d(tc.transpose(x, 2, 3), tc.transpose(w, 2, 3), padding=1)
    expected = F.conv2d(t64(base.transpose(0, 1, 3, 2).copy(), grad=False),
                        t64(wbase.transpose(0, 1, 3, 2).copy(), grad=False), padding=1)
    np.testing.assert_allclose(y.numpy(), expected.numpy(), rtol=1e-13)
    assert tc.gradcheck(lambda a, b: F.conv2d(tc.transpose(a, 2, 3), tc.transpose(b, 2, 3), padding=1),
                        [t64(base[:1, :, :3, :4].copy()), t64(wbase[:2].copy())])


def test_auto_picks_im2col_and_matches_both_algorithms(rng):
    # measured: im2col both ways on every LeNet-5 / AlexNet layer (choose_algo's docstring)
    assert choose_algo((64, 1, 32, 32), (6, 1, 5, 5), (28, 28)) == ("im2col", "im2col")
    assert choose_algo((64, 6, 14, 14), (16, 6, 5, 5), (10, 10)) == ("im2col", "im2col")
    # values and gradients of "auto" equal each pure choice
    x = rng.standard_normal((3, 1, 9, 8))
    w = rng.standard_normal((4, 1, 3, 3))
    grads = []
    for algo in ("auto", "im2col", "direct"):
        xt, wt = t64(x.copy()), t64(w.copy())
        y = F.conv2d(xt, wt, padding=1, algo=algo)
        (y * t64(np.linspace(-1, 1, y.data.size).reshape(y.shape))).sum().backward()
        grads.append((y.numpy(), xt.grad.numpy(), wt.grad.numpy()))
    for got in grads[1:]:
        for a, e in zip(grads[0], got):
            np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12)


def test_dtype_is_kept_and_input_untouched(rng):
    data = rng.standard_normal((1, 2, 5, 4))
    x = t64(data.copy())
    y = F.conv2d(x, t64(rng.standard_normal((3, 2, 2, 2))), padding=(1, 0))
    assert y.dtype == np.float64 and y.shape == (1, 3, 6, 3) and y.requires_grad
    y.backward(np.ones(y.shape))
    np.testing.assert_array_equal(x.numpy(), data)


# --- bad input -----------------------------------------------------------------------------------
def f32(*shape):
    return tc.tensor(np.zeros(shape, dtype=np.float32))


BAD = [
    ("input_2d", lambda: F.conv2d(f32(4, 4), f32(1, 1, 2, 2)), ValueError,
     r"input must be 4-D \(N, C, H, W\) or 3-D \(C, H, W\), got shape \(4, 4\)"),
    ("input_5d", lambda: F.conv2d(f32(1, 1, 1, 4, 4), f32(1, 1, 2, 2)), ValueError,
     r"input must be 4-D .* got shape \(1, 1, 1, 4, 4\)"),
    ("weight_3d", lambda: F.conv2d(f32(1, 1, 4, 4), f32(1, 2, 2)), ValueError,
     r"weight must be 4-D \(out_channels, in_channels/groups, kh, kw\), got shape \(1, 2, 2\)"),
    ("in_channels", lambda: F.conv2d(f32(1, 4, 5, 5), f32(2, 3, 3, 3)), ValueError,
     r"input has 4 channels but weight \(2, 3, 3, 3\) with groups=1 expects 3"),
    ("in_channels_groups", lambda: F.conv2d(f32(1, 4, 5, 5), f32(2, 1, 3, 3), groups=2), ValueError,
     r"input has 4 channels but weight \(2, 1, 3, 3\) with groups=2 expects 2"),
    ("channels_vs_groups", lambda: F.conv2d(f32(1, 3, 5, 5), f32(4, 1, 3, 3), groups=2), ValueError,
     r"input channels 3 are not divisible by groups=2 \(input \(1, 3, 5, 5\)\)"),
    ("out_channels_vs_groups", lambda: F.conv2d(f32(1, 4, 5, 5), f32(3, 2, 3, 3), groups=2), ValueError,
     r"out channels 3 are not divisible by groups=2 \(weight \(3, 2, 3, 3\)\)"),
    ("groups_zero", lambda: F.conv2d(f32(1, 4, 5, 5), f32(3, 4, 3, 3), groups=0), ValueError,
     "groups must be a positive int, got 0"),
    ("kernel_too_big", lambda: F.conv2d(f32(1, 1, 4, 6), f32(1, 1, 5, 3)), ValueError,
     r"kernel extent 5 along H is larger than the padded input \(4 \+ 2\*0\)"),
    ("kernel_too_big_padded", lambda: F.conv2d(f32(1, 1, 4, 6), f32(1, 1, 3, 9), padding=1), ValueError,
     r"kernel extent 9 along W is larger than the padded input \(6 \+ 2\*1\)"),
    ("dilated_kernel_too_big", lambda: F.conv2d(f32(1, 1, 6, 6), f32(1, 1, 3, 3), dilation=3), ValueError,
     r"kernel extent 7 along H is larger than the padded input \(6 \+ 2\*0\)"),
    ("stride_zero", lambda: F.conv2d(f32(1, 1, 4, 4), f32(1, 1, 2, 2), stride=0), ValueError,
     "stride must be positive, got 0"),
    ("stride_negative", lambda: F.conv2d(f32(1, 1, 4, 4), f32(1, 1, 2, 2), stride=(1, -2)), ValueError,
     r"stride must be positive, got \(1, -2\)"),
    ("padding_negative", lambda: F.conv2d(f32(1, 1, 4, 4), f32(1, 1, 2, 2), padding=-1), ValueError,
     "padding must be non-negative, got -1"),
    ("dilation_zero", lambda: F.conv2d(f32(1, 1, 4, 4), f32(1, 1, 2, 2), dilation=(0, 1)), ValueError,
     r"dilation must be positive, got \(0, 1\)"),
    ("stride_float", lambda: F.conv2d(f32(1, 1, 4, 4), f32(1, 1, 2, 2), stride=1.5), TypeError,
     "stride must be an int or a pair of ints"),
    ("int_input", lambda: F.conv2d(tc.tensor(np.zeros((1, 1, 4, 4), dtype=np.int64)), f32(1, 1, 2, 2)),
     TypeError, r"input must be float32 or float64, got int64 \(shape \(1, 1, 4, 4\)\)"),
    ("int_weight", lambda: F.conv2d(f32(1, 1, 4, 4), tc.tensor(np.zeros((1, 1, 2, 2), dtype=np.int32))),
     TypeError, "weight must be float32 or float64, got int32"),
    ("mixed_dtypes", lambda: F.conv2d(f32(1, 1, 4, 4), tc.tensor(np.zeros((1, 1, 2, 2)))), TypeError,
     "inputs must share one dtype, got input float32, weight float64"),
    ("mixed_bias_dtype", lambda: F.conv2d(f32(1, 1, 4, 4), f32(2, 1, 2, 2), tc.tensor(np.zeros(2))),
     TypeError, "inputs must share one dtype, got input float32, weight float32, bias float64"),
    ("bias_shape", lambda: F.conv2d(f32(1, 1, 4, 4), f32(2, 1, 2, 2), f32(3)), ValueError,
     r"bias must have shape \(2,\) to match weight \(2, 1, 2, 2\), got \(3,\)"),
    ("bias_2d", lambda: F.conv2d(f32(1, 1, 4, 4), f32(2, 1, 2, 2), f32(1, 2)), ValueError,
     r"bias must have shape \(2,\)"),
    ("unknown_algo", lambda: F.conv2d(f32(1, 1, 4, 4), f32(1, 1, 2, 2), algo="fft"), ValueError,
     r"algo must be one of \('auto', 'im2col', 'direct'\), got 'fft'"),
    ("same_with_stride", lambda: F.conv2d(f32(1, 1, 4, 4), f32(1, 1, 3, 3), stride=2, padding="same"),
     ValueError, r"padding='same' needs stride 1, got stride \(2, 2\)"),
    ("padding_word", lambda: F.conv2d(f32(1, 1, 4, 4), f32(1, 1, 3, 3), padding="full"), ValueError,
     "padding must be an int, a pair, 'valid' or 'same', got 'full'"),
    ("input_not_tensor", lambda: F.conv2d(np.zeros((1, 1, 4, 4), dtype=np.float32), f32(1, 1, 2, 2)),
     TypeError, "input must be a Tensor, got ndarray"),
    ("weight_not_tensor", lambda: F.conv2d(f32(1, 1, 4, 4), np.zeros((1, 1, 2, 2), dtype=np.float32)),
     TypeError, "weight must be a Tensor, got ndarray"),
]


@pytest.mark.parametrize("call,error,match", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
