"""conv2d: gradients, the two algorithms, both CPU flavours, PyTorch parity, bad input."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv.kernels.cpu import conv as cpu
from tinyconv.kernels.reference import conv as ref


@st.composite
def configs(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cg, og = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 1)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    h = draw(st.integers(dilation[0] * (kh - 1) + 1, 7))
    w = draw(st.integers(max(1, dilation[1] * (kw - 1) + 1 - 2 * padding[1]), 6))
    return dict(n=draw(st.integers(1, 2)), c=cg * groups, o=og * groups, hw=(h, w), k=(kh, kw),
                stride=stride, padding=padding, dilation=dilation, groups=groups,
                bias=draw(st.booleans()), seed=draw(st.integers(0, 2**31 - 1)))


def _arrays(cfg, dtype=np.float64):
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal((cfg["n"], cfg["c"]) + cfg["hw"]).astype(dtype)
    w = rng.standard_normal((cfg["o"], cfg["c"] // cfg["groups"]) + cfg["k"]).astype(dtype)
    b = rng.standard_normal(cfg["o"]).astype(dtype) if cfg["bias"] else None
    return x, w, b


def _kw(cfg):
    return dict(stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"], groups=cfg["groups"])


@given(configs(), st.sampled_from(["im2col", "direct"]))
def test_conv2d_gradcheck(cfg, algo):
    x, w, b = _arrays(cfg)
    ins = [tc.tensor(a, requires_grad=True) for a in (x, w) + ((b,) if b is not None else ())]
    tc.gradcheck(lambda *t: F.conv2d(*t, **_kw(cfg), algo=algo), ins)


@given(configs())
def test_algorithms_and_flavours_agree(cfg):
    x, w, b = _arrays(cfg)
    args = (cfg["stride"], cfg["padding"], cfg["dilation"], cfg["groups"])
    y0 = ref.conv2d_forward(x, w, b, *args, "im2col")
    gy = np.random.default_rng(1).standard_normal(y0.shape)
    g0 = ref.conv2d_backward(gy, x, w, *args, "im2col")
    for mod in (ref, cpu):
        for algo in ("im2col", "direct"):
            np.testing.assert_allclose(mod.conv2d_forward(x, w, b, *args, algo), y0, rtol=1e-10, atol=1e-12)
            for got, want in zip(mod.conv2d_backward(gy, x, w, *args, algo), g0):
                np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
            gx, _, _ = mod.conv2d_backward(gy, x, w, *args, algo, need_input_grad=False)
            assert gx is None
    kk = (cfg["k"], cfg["stride"], cfg["padding"], cfg["dilation"])
    cols = ref.im2col(x, *kk)
    np.testing.assert_array_equal(cpu.im2col(x, *kk), cols)
    c = np.random.default_rng(2).standard_normal(cols.shape)
    np.testing.assert_allclose(cpu.col2im(c, x.shape, *kk), ref.col2im(c, x.shape, *kk), rtol=1e-12, atol=1e-12)
    # col2im is the adjoint of im2col: <im2col(x), c> == <x, col2im(c)>
    assert np.isclose((cols * c).sum(), (x * ref.col2im(c, x.shape, *kk)).sum(), rtol=1e-10)


@given(configs())
def test_float32_flavours_agree(cfg):
    x, w, b = _arrays(cfg, np.float32)
    args = (cfg["stride"], cfg["padding"], cfg["dilation"], cfg["groups"])
    want = ref.conv2d_forward(x, w, b, *args, "im2col")
    got = cpu.conv2d_forward(x, w, b, *args, "im2col")
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(want).max()))


@given(configs())
def test_matches_pytorch(cfg):
    torch = pytest.importorskip("torch")
    x, w, b = _arrays(cfg, np.float32)
    ours = [tc.tensor(a, requires_grad=True) for a in (x, w) + ((b,) if b is not None else ())]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w) + ((b,) if b is not None else ())]
    y = F.conv2d(*ours, **_kw(cfg))
    ty = torch.nn.functional.conv2d(*theirs, **_kw(cfg))
    gy = np.random.default_rng(3).standard_normal(y.shape).astype(np.float32)
    y.backward(gy)
    ty.backward(torch.from_numpy(gy))
    scale = max(1.0, float(np.abs(ty.detach().numpy()).max()))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-5 * scale)
    for a, t in zip(ours, theirs):
        s = max(1.0, float(t.grad.abs().max()))
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=2e-5 * s)


def test_same_padding_and_unbatched_input():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((3, 7, 6)).astype(np.float32), rng.standard_normal((4, 3, 3, 5)).astype(np.float32)
    y = F.conv2d(tc.tensor(x), tc.tensor(w), padding="same", dilation=(2, 1))
    ty = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), padding="same", dilation=(2, 1))
    assert y.shape == (4, 7, 6)
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-5, atol=1e-5)


def test_auto_keeps_im2col_for_large_layers_whatever_the_batch():
    # the im2col scratch is bounded per thread, so a huge batch no longer forces "direct"
    from tinyconv.ops.conv import choose_algo
    assert choose_algo((4096, 256, 64, 64), (256, 256, 3, 3), (64, 64)) == ("im2col", "im2col")


def t(shape, dtype=np.float32):
    return tc.tensor(np.ones(shape, dtype=dtype))


@pytest.mark.parametrize("call, err, match", [
    (lambda: F.conv2d(t((3, 4)), t((2, 3, 1, 1))), ValueError, r"input must be 4-D .* got shape \(3, 4\)"),
    (lambda: F.conv2d(t((1, 4, 5, 5)), t((2, 3, 1, 1))), ValueError, "input has 4 channels"),
    (lambda: F.conv2d(t((1, 3, 5, 5)), t((2, 1, 1, 1)), groups=2), ValueError, "not divisible by groups"),
    (lambda: F.conv2d(t((1, 4, 5, 5)), t((3, 2, 1, 1)), groups=2), ValueError, "out channels 3"),
    (lambda: F.conv2d(t((1, 1, 3, 3)), t((1, 1, 5, 5))), ValueError, "larger than the padded input"),
    (lambda: F.conv2d(t((1, 1, 5, 5)), t((1, 1, 3, 3)), stride=0), ValueError, "stride must be positive"),
    (lambda: F.conv2d(t((1, 1, 5, 5)), t((1, 1, 3, 3)), padding=-1), ValueError, "padding must be non-negative"),
    (lambda: F.conv2d(t((1, 1, 5, 5)), t((1, 1, 3, 3)), dilation=0), ValueError, "dilation must be positive"),
    (lambda: F.conv2d(t((1, 1, 5, 5), np.int64), t((1, 1, 3, 3))), TypeError, "input must be float32 or float64"),
    (lambda: F.conv2d(t((1, 1, 5, 5)), t((1, 1, 3, 3), np.float64)), TypeError, "share one dtype"),
    (lambda: F.conv2d(t((1, 1, 5, 5)), t((2, 1, 3, 3)), t((3,))), ValueError, r"bias must have shape \(2,\)"),
    (lambda: F.conv2d(t((1, 1, 5, 5)), t((1, 1, 3, 3)), algo="fft"), ValueError, "algo must be one of"),
    (lambda: F.conv2d(t((1, 1, 5, 5)), t((1, 1, 3, 3)), stride=2, padding="same"), ValueError, "needs stride 1"),
])
def test_bad_input(call, err, match):
    with pytest.raises(err, match=match):
        call()
