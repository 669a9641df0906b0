"""The fused Numba SGD update against the reference, step after step, for every option."""
import numpy as np
import pytest

from tinyconv.kernels.cpu import optim as cpu
from tinyconv.kernels.reference import optim as ref


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("momentum,dampening,nesterov", [(0.0, 0.0, False), (0.9, 0.0, False),
                                                         (0.9, 0.3, False), (0.8, 0.0, True)])
@pytest.mark.parametrize("weight_decay", [0.0, 5e-4])
def test_sgd_step_matches_reference(dtype, momentum, dampening, nesterov, weight_decay, rng):
    p0 = rng.standard_normal((7, 5)).astype(dtype)
    states = []
    for k in (ref, cpu):
        p = p0.copy()
        buf = np.empty_like(p) if momentum else None
        for step in range(3):
            g = np.random.default_rng(step).standard_normal(p.shape).astype(dtype)
            g_before = g.copy()
            k.sgd_step(p, g, buf, 0.1, momentum, dampening, weight_decay, nesterov, step == 0)
            np.testing.assert_array_equal(g, g_before)  # the gradient is read, never written
        states.append((p, buf))
    tol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(states[1][0], states[0][0], rtol=tol, atol=tol)
    if momentum:
        np.testing.assert_allclose(states[1][1], states[0][1], rtol=tol, atol=tol)
        assert not np.array_equal(states[0][0], p0)
