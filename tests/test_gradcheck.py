import numpy as np
import pytest

import tinyconv as tc
from tinyconv.autograd import Function


class WrongSquare(Function):
    """y = x^2 with a deliberately wrong backward (2x + 0.01)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        return g * (2 * ctx.saved[0] + 0.01)


class SumOnlyWrong(Function):
    """A backward that is right for an all-ones upstream gradient only: swaps two elements."""

    @staticmethod
    def forward(ctx, x):
        return 3 * x

    @staticmethod
    def backward(ctx, g):
        return 3 * g[::-1]


def x64(n=5, seed=0):
    return tc.tensor(np.random.default_rng(seed).normal(size=n), requires_grad=True)


def test_gradcheck_passes_on_correct_op():
    assert tc.gradcheck(lambda x: x * x, [x64()])
    assert tc.gradcheck(lambda x: x * x, [x64()], mode="directional")


def test_gradcheck_fails_on_wrong_backward_and_names_worst_element():
    with pytest.raises(tc.GradcheckError, match=r"worst element \(\d+,\)"):
        tc.gradcheck(WrongSquare.apply, [x64()])
    assert tc.gradcheck(WrongSquare.apply, [x64()], raise_exception=False) is False
    with pytest.raises(tc.GradcheckError, match="directional"):
        tc.gradcheck(WrongSquare.apply, [x64()], mode="directional")


def test_gradcheck_uses_random_upstream_gradient():
    # with .sum() (all-ones upstream) this wrong backward would pass; a random one catches it
    x = x64()
    y = SumOnlyWrong.apply(x)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3.0)
    with pytest.raises(tc.GradcheckError):
        tc.gradcheck(SumOnlyWrong.apply, [x64()])


def test_gradcheck_input_validation():
    with pytest.raises(TypeError, match="float64"):
        tc.gradcheck(lambda x: x * x, [tc.tensor([1.0, 2.0], requires_grad=True)])
    with pytest.raises(ValueError, match="requires_grad"):
        tc.gradcheck(lambda x: x * x, [tc.tensor(np.ones(2))])
    with pytest.raises(ValueError, match="mode"):
        tc.gradcheck(lambda x: x * x, [x64()], mode="fast")


def test_full_mode_perturbs_non_contiguous_inputs_in_place():
    base = tc.tensor(np.arange(12.0).reshape(3, 4) / 5)
    x = tc.Tensor(base.data.T, requires_grad=True)  # a transposed (non-contiguous) view
    assert not x.data.flags.c_contiguous
    assert tc.gradcheck(lambda x: x * x, [x])
    with pytest.raises(tc.GradcheckError):
        tc.gradcheck(lambda x: WrongSquare.apply(x), [x])
    np.testing.assert_array_equal(x.numpy(), np.arange(12.0).reshape(3, 4).T / 5)


def test_gradcheck_keeps_callers_grads_and_fills_empty_ones():
    x = tc.tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * 3).sum().backward()
    before = x.grad
    tc.gradcheck(lambda x: x * x, [x])
    assert x.grad is before and x.grad.tolist() == [3.0, 3.0]
    y = tc.tensor(np.array([1.0, 2.0]), requires_grad=True)
    tc.gradcheck(lambda y: y * y, [y], seed=5)
    v = np.random.default_rng(5).standard_normal(2)  # gradcheck's upstream gradient for seed 5
    np.testing.assert_allclose(y.grad.numpy(), 2 * y.numpy() * v)
