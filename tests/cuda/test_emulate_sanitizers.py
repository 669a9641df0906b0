"""The emulated kernels under AddressSanitizer and UBSan: the shim and kernel tests run again in
a child process whose libraries are built with -fsanitize=address,undefined (ASan's runtime
must be preloaded into the interpreter, hence the child). Any finding aborts the child."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tinyconv.kernels.cuda import emulate
from tinyconv.kernels.cuda.emulate import runtime

pytestmark = [pytest.mark.emulated,
              pytest.mark.skipif(not emulate.available(), reason="no C++ compiler (g++) for the emulated kernels"),
              pytest.mark.skipif(runtime.sanitize_requested(), reason="already the sanitized child")]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

OUT_OF_BOUNDS = r"""
import numpy as np
from tinyconv.kernels.cuda.emulate import runtime
lib = runtime.source_library("oob", '''
template <typename T>
__global__ void fill(T* __restrict__ out, long long n)
{
    __shared__ T tile[32];
    tile[threadIdx.x] = T(1);
    __syncthreads();
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i <= n)  // off by one
        out[i] = tile[threadIdx.x];
}
''', ("fill<float>",))
assert lib.sanitized
out = np.zeros(%d, np.float32)
lib.launch("fill<float>", (1,), (32,), (out, np.int64(out.size)))
print("finished", out.sum())
"""


def _child(args, timeout=600):
    try:
        env = runtime.sanitizer_environment()
    except emulate.BuildError as err:
        pytest.skip(str(err))
    return subprocess.run([sys.executable, *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def test_address_sanitizer_catches_an_out_of_bounds_write():
    bad = _child(["-c", OUT_OF_BOUNDS % 20])
    assert bad.returncode != 0
    assert "heap-buffer-overflow" in bad.stderr and "fill" in bad.stderr, bad.stderr[-3000:]
    good = _child(["-c", OUT_OF_BOUNDS % 40])  # n = 40 > 32 threads: i <= n stays inside
    assert good.returncode == 0, good.stderr[-3000:]
    assert "finished 32.0" in good.stdout


def test_kernels_under_address_and_undefined_behaviour_sanitizers():
    run = _child(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
                  str(HERE / "test_emulate_shim.py"), str(HERE / "test_emulated_kernels.py")])
    tail = (run.stdout + run.stderr)[-6000:]
    assert run.returncode == 0, tail
    assert " passed" in run.stdout and " failed" not in run.stdout, tail
