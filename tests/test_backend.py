import subprocess
import sys

import numpy as np
import pytest

import tinyconv as tc
from tinyconv import backend


def test_set_get_and_context_manager():
    start = tc.get_backend()
    with tc.use_backend("numpy"):
        assert tc.get_backend() == "numpy"
        assert backend.kernels("conv", np.zeros(1)).__name__ == "tinyconv.kernels.reference.conv"
        with tc.use_backend("numba"):
            assert backend.kernels("conv", np.zeros(1)).__name__ == "tinyconv.kernels.cpu.conv"
        assert tc.get_backend() == "numpy"
    assert tc.get_backend() == start


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown backend 'torch'"):
        tc.set_backend("torch")


def test_cupy_backend_needs_a_device():
    if tc.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(RuntimeError, match="CUDA"):
        tc.set_backend("cupy")
    with pytest.raises(RuntimeError, match="CUDA"):
        tc.tensor([1.0]).to("cuda")


@pytest.mark.parametrize("name", ["numpy", "numba"])
def test_environment_variable(name):
    code = "import tinyconv; print(tinyconv.get_backend())"
    out = subprocess.run([sys.executable, "-c", code], env={"TINYCONV_BACKEND": name, "PATH": ""},
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == name


def test_numba_missing_falls_back_with_warning():
    code = ("import sys; sys.modules['numba'] = None\n"
            "import warnings; warnings.simplefilter('error')\n"
            "import tinyconv\n"
            "try:\n    tinyconv.get_backend()\nexcept RuntimeWarning as w:\n    print('warned', w)\n")
    out = subprocess.run([sys.executable, "-c", code], env={"PATH": ""}, capture_output=True,
                         text=True, check=True).stdout
    assert "warned" in out and "numpy" in out
