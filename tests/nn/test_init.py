"""Initialisation schemes: formulas (gain, fans, bounds), statistics, in-place semantics,
reproducibility, and bad arguments."""
import math

import numpy as np
import pytest

import tinyconv as tc
from tinyconv import nn
from tinyconv.nn import init


def _param(shape, dtype=np.float32):
    return nn.Parameter(np.zeros(shape, dtype=dtype))


def test_fans_and_gains():
    assert init.calculate_fan_in_and_fan_out(_param((96, 48, 5, 5))) == (48 * 25, 96 * 25)
    assert init.calculate_fan_in_and_fan_out(_param((10, 400))) == (400, 10)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.calculate_fan_in_and_fan_out(_param((5,)))
    assert init.calculate_gain("linear") == init.calculate_gain("conv2d") == init.calculate_gain("sigmoid") == 1.0
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01 ** 2)))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="negative_slope"):
        init.calculate_gain("leaky_relu", "big")


def test_gains_and_fans_match_torch():
    torch = pytest.importorskip("torch")
    for name, param in [("linear", None), ("tanh", None), ("relu", None), ("leaky_relu", None),
                        ("leaky_relu", 0.2), ("selu", None), ("conv2d", None)]:
        assert init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))
    for shape in [(7, 3), (6, 2, 5, 3), (4, 1, 1, 1)]:
        ours = init.calculate_fan_in_and_fan_out(_param(shape))
        assert ours == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


# (initialiser, kwargs, expected std, expected bound for uniform or None)
FAN_IN, FAN_OUT = 50 * 9, 120 * 9


@pytest.mark.parametrize("fn, kwargs, std, bound", [
    (init.kaiming_uniform_, {}, math.sqrt(2 / FAN_IN), math.sqrt(6 / FAN_IN)),  # a=0: gain sqrt(2)
    (init.kaiming_uniform_, dict(a=math.sqrt(5)), 1 / math.sqrt(3 * FAN_IN), 1 / math.sqrt(FAN_IN)),
    (init.kaiming_normal_, dict(nonlinearity="relu"), math.sqrt(2 / FAN_IN), None),
    (init.kaiming_normal_, dict(nonlinearity="relu", mode="fan_out"), math.sqrt(2 / FAN_OUT), None),
    (init.kaiming_normal_, dict(nonlinearity="linear"), 1 / math.sqrt(FAN_IN), None),  # LeCun normal
    (init.xavier_uniform_, dict(gain=2.0), 2 * math.sqrt(2 / (FAN_IN + FAN_OUT)), 2 * math.sqrt(6 / (FAN_IN + FAN_OUT))),
    (init.xavier_normal_, {}, math.sqrt(2 / (FAN_IN + FAN_OUT)), None),
    (init.normal_, dict(mean=0.0, std=0.01), 0.01, None),
    (init.uniform_, dict(a=-0.5, b=0.5), 1 / math.sqrt(12), 0.5),
])
def test_statistics(fn, kwargs, std, bound):
    tc.manual_seed(0)
    w = _param((120, 50, 3, 3))  # 54,000 draws: the sample std is within ~1% of the truth
    arr = w.data
    out = fn(w, **kwargs)
    assert out is w and w.data is arr  # in place, same array object
    assert w.dtype == np.float32
    v = w.numpy().astype(np.float64)
    assert abs(v.mean()) < 4 * std / math.sqrt(v.size) + 1e-12
    assert v.std() == pytest.approx(std, rel=0.02)
    if bound is not None:
        assert np.abs(v).max() <= bound * (1 + 1e-6)
        assert np.abs(v).max() > 0.99 * bound


def test_constants_and_dtypes():
    w = _param((3, 4), np.float64)
    init.constant_(w, 2.5)
    np.testing.assert_array_equal(w.numpy(), np.full((3, 4), 2.5))
    init.zeros_(w)
    assert not np.any(w.numpy())
    init.ones_(w)
    assert np.all(w.numpy() == 1.0) and w.dtype == np.float64
    with pytest.raises(TypeError, match="floating"):
        init.normal_(tc.tensor(np.zeros(3, np.int64)))
    with pytest.raises(TypeError, match="Tensor"):
        init.normal_(np.zeros(3))


def test_reproducible_with_manual_seed_and_private_generator():
    tc.manual_seed(42)
    a = init.kaiming_normal_(_param((8, 4)))
    tc.manual_seed(42)
    b = init.kaiming_normal_(_param((8, 4)))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    c = init.kaiming_normal_(_param((8, 4)))
    assert not np.array_equal(b.numpy(), c.numpy())
    d = init.normal_(_param((8, 4)), generator=np.random.default_rng(7))
    e = init.normal_(_param((8, 4)), generator=np.random.default_rng(7))
    np.testing.assert_array_equal(d.numpy(), e.numpy())
    # a float64 tensor gets the same draws as a float32 one, without the rounding
    tc.manual_seed(3)
    f32 = init.uniform_(_param((5,)))
    tc.manual_seed(3)
    f64 = init.uniform_(_param((5,), np.float64))
    np.testing.assert_allclose(f32.numpy(), f64.numpy(), rtol=1e-7)


def test_bad_arguments():
    w = _param((4, 4))
    with pytest.raises(ValueError, match="std must be non-negative"):
        init.normal_(w, std=-1)
    with pytest.raises(ValueError, match="a <= b"):
        init.uniform_(w, 1.0, 0.0)
    with pytest.raises(ValueError, match="mode must be"):
        init.kaiming_uniform_(w, mode="fan_avg")
    with pytest.raises(ValueError, match="finite number"):
        init.normal_(w, mean=float("nan"))
    with pytest.warns(UserWarning, match="zero-element"):
        init.kaiming_uniform_(_param((0, 3)))
