import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# "ci" is derandomized so a CI failure reproduces; "dev" explores new examples on every run.
_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("ci", derandomize=True, max_examples=50, **_common)
settings.register_profile("dev", max_examples=12, **_common)
settings.register_profile("thorough", max_examples=200, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_collection_modifyitems(config, items):
    """GPU tests skip cleanly where no CUDA device is usable."""
    from tinyconv import cuda
    if cuda.is_available():
        return
    skip = pytest.mark.skip(reason="no usable CUDA device (CuPy missing or no GPU)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
