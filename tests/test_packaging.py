"""tinyconv installs as one package with kernels/ mapped to tinyconv.kernels, from a wheel too."""
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_editable_install_maps_kernels():
    import tinyconv.kernels.reference as ref
    assert Path(ref.__file__).resolve().parent == ROOT / "kernels" / "reference"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(out), str(ROOT)], check=True, capture_output=True, text=True)
    (whl,) = out.glob("tinyconv-*.whl")
    return whl


def test_wheel_contains_kernels_and_cuda_sources(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "tinyconv/kernels/reference/conv.py" in names
    assert "tinyconv/kernels/cpu/conv.py" in names
    assert "tinyconv/kernels/README.md" in names  # the kernel contract travels with the code
    for cu in (ROOT / "kernels" / "cuda").glob("*.cu"):
        assert f"tinyconv/kernels/cuda/{cu.name}" in names
    assert not any(n.startswith("kernels/") for n in names)  # no clash with PyPI's `kernels`
    # the emulated CUDA flavour: shim headers and loader, never a cached build
    for name in ("cuda_emulate.h", "scheduler.h", "README.md", "runtime.py", "conv.py"):
        assert f"tinyconv/kernels/cuda/emulate/{name}" in names
    assert not any(n.endswith(".so") for n in names)


def test_wheel_imports_in_fresh_venv(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    target = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                            check=True, capture_output=True, text=True).stdout.strip()
    with zipfile.ZipFile(wheel) as z:  # a wheel is a zip laid out for site-packages
        z.extractall(target)
    # numpy/numba come from this environment's site-packages (PYTHONPATH skips its .pth files,
    # so the editable install of the source tree stays invisible); tinyconv from the fresh venv.
    env = dict(os.environ, PYTHONPATH=sysconfig.get_path("purelib"))
    code = ("import tinyconv, tinyconv.kernels.reference.conv as c, numpy as np;"
            "import tinyconv.nn.functional as F;"
            "print(tinyconv.__file__); print(c.__file__);"
            "x = tinyconv.tensor(np.ones((1, 1, 4, 4)));"
            "print(F.conv2d(x, tinyconv.tensor(np.ones((1, 1, 3, 3)))).sum().item())")
    res = subprocess.run([str(py), "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    pkg_file, kernel_file, total = res.stdout.split()
    assert pkg_file.startswith(str(venv)) and kernel_file.startswith(str(venv))
    assert float(total) == 36.0
