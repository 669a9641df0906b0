"""0-d tensors through every activation: gradients keep the scalar shape (a past bug)."""
import numpy as np
import pytest

import tinyconv as tc
import tinyconv.nn.functional as F


@pytest.mark.parametrize("fn, deriv", [
    (F.relu, lambda v: 1.0),
    (F.tanh, lambda v: 1 - np.tanh(v) ** 2),
    (F.sigmoid, lambda v: np.exp(-v) / (1 + np.exp(-v)) ** 2),
    (lambda t: F.leaky_relu(t, 0.1), lambda v: 1.0),
])
def test_scalar_input_gradient(fn, deriv):
    x = tc.tensor(np.array(0.3), requires_grad=True)
    y = fn(x)
    assert y.shape == ()
    y.backward()
    assert x.grad.shape == ()
    assert np.isclose(float(x.grad.numpy()), deriv(0.3), rtol=1e-12)
