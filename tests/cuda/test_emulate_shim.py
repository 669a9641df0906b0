"""The CUDA-on-the-host shim on its own (kernels/cuda/emulate/): small kernels written here whose
results are known, each run under every thread order, and kernels with a planted bug (missing
barrier, divergent barrier, bad warp mask, mistyped argument) that the emulator must catch."""
from __future__ import annotations

import numpy as np
import pytest

from tinyconv.kernels.cuda.emulate import ORDERS, EmulationError, runtime, schedule

pytestmark = pytest.mark.emulated

SOURCE = r"""
// Every thread writes its id, waits, then reads its neighbour's: correct only behind a barrier.
__global__ void rotate(const int* __restrict__ in, int* __restrict__ out, int with_barrier)
{
    __shared__ int slots[256];
    const int t = threadIdx.x, n = blockDim.x;
    slots[t] = in[blockIdx.x * n + t];
    if (with_barrier)
        __syncthreads();
    out[blockIdx.x * n + t] = slots[(t + 1) % n];
}

// Tree reduction in shared memory, one partial sum per block.
template <typename T>
__global__ void block_sum(const T* __restrict__ x, T* __restrict__ sums, long long n)
{
    __shared__ T buf[128];
    const unsigned t = threadIdx.x;
    T v = 0;
    for (long long i = (long long)blockIdx.x * blockDim.x + t; i < n; i += (long long)gridDim.x * blockDim.x)
        v += x[i];
    buf[t] = v;
    __syncthreads();
    for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
        if (t < half)
            buf[t] += buf[t + half];
        __syncthreads();
    }
    if (t == 0)
        sums[blockIdx.x] = buf[0];
}

// Histogram: per-block counts in shared memory, merged into the global one with atomics.
__global__ void histogram(const int* __restrict__ values, unsigned int* __restrict__ counts,
                          long long n, int bins)
{
    __shared__ unsigned int local[64];
    for (int b = threadIdx.x; b < bins; b += blockDim.x)
        local[b] = 0;
    __syncthreads();
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        atomicAdd(&local[values[i]], 1u);
    __syncthreads();
    for (int b = threadIdx.x; b < bins; b += blockDim.x)
        atomicAdd(&counts[b], local[b]);
}

// Threads of a 2-D block record who they are.
__global__ void coordinates(int* __restrict__ out)
{
    const int flat = (blockIdx.y * gridDim.x + blockIdx.x) * blockDim.x * blockDim.y
                     + threadIdx.y * blockDim.x + threadIdx.x;
    out[4 * flat + 0] = threadIdx.x;
    out[4 * flat + 1] = threadIdx.y;
    out[4 * flat + 2] = blockIdx.x;
    out[4 * flat + 3] = blockIdx.y;
}

// Warp intrinsics: a butterfly sum, a broadcast, a ballot, and groups of equal keys.
__global__ void warp_ops(const double* __restrict__ x, const long long* __restrict__ keys,
                         double* __restrict__ sum, double* __restrict__ first,
                         unsigned int* __restrict__ ballot, unsigned int* __restrict__ peers)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    double v = x[i];
    for (int m = 16; m > 0; m /= 2)
        v += __shfl_xor_sync(0xffffffffu, v, m);
    sum[i] = v;
    first[i] = __shfl_sync(0xffffffffu, x[i], 0);
    ballot[i] = __ballot_sync(0xffffffffu, x[i] > 0);
    peers[i] = __match_any_sync(0xffffffffu, keys[i]);
}

__global__ void divergent_barrier(int* __restrict__ out)
{
    if (threadIdx.x % 2)
        __syncthreads();
    out[threadIdx.x] = 1;
}

__global__ void barrier_after_exit(int* __restrict__ out)
{
    if (threadIdx.x == 0)
        return;
    __syncthreads();
    out[threadIdx.x] = 1;
}

__global__ void shuffle_outside_mask(int* __restrict__ out)
{
    out[threadIdx.x] = __shfl_sync(0x0000ffffu, (int)threadIdx.x, 20);
}

__global__ void out_of_bounds(float* __restrict__ out, long long n)
{
    out[n] = 1.0f;  // one past the end: only AddressSanitizer sees this
}
"""
EXPRESSIONS = ("rotate", "block_sum<float>", "block_sum<double>", "histogram", "coordinates", "warp_ops",
               "divergent_barrier", "barrier_after_exit", "shuffle_outside_mask", "out_of_bounds")


@pytest.fixture(scope="module")
def lib():
    return runtime.source_library("shim_test", SOURCE, EXPRESSIONS)


@pytest.mark.parametrize("order", ORDERS)
def test_barrier(lib, order):
    x = np.arange(3 * 64, dtype=np.int32)
    out = np.full_like(x, -1)
    with schedule(order, seed=3):
        lib.launch("rotate", (3,), (64,), (x, out, np.int32(1)))
    np.testing.assert_array_equal(out.reshape(3, 64), np.roll(x.reshape(3, 64), -1, axis=1))


@pytest.mark.skipif(runtime.sanitize_requested(), reason="ASan builds keep shared memory unpoisoned (redzones)")
def test_missing_barrier_shows_as_a_mismatch_between_orders(lib):
    x = np.arange(64, dtype=np.int32)
    results = []
    for order in ORDERS:
        out = np.full_like(x, -1)
        with schedule(order, seed=5):
            lib.launch("rotate", (1,), (64,), (x, out, np.int32(0)))
        results.append(out)
    # shared memory starts each block as garbage (0xff bytes: -1), so every order shows the race:
    # forward, threads 0..62 read slots their successors have not written yet; reverse, thread
    # 63 reads slot 0 before thread 0 writes it
    right = np.roll(x, -1)
    np.testing.assert_array_equal(results[0] == right, np.arange(64) == 63)
    np.testing.assert_array_equal(results[1] == right, np.arange(64) != 63)
    assert not np.array_equal(results[2], right)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("dtype, ctype", [(np.float32, "float"), (np.float64, "double")])
def test_shared_memory_reduction(lib, order, dtype, ctype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(5000).astype(dtype)
    sums = np.empty(7, dtype=dtype)
    with schedule(order, seed=1):
        lib.launch(f"block_sum<{ctype}>", (7,), (128,), (x, sums, np.int64(x.size)))
    np.testing.assert_allclose(sums.sum(dtype=np.float64), x.sum(dtype=np.float64),
                               rtol=1e-5 if dtype == np.float32 else 1e-12)
    # the tree's shape is fixed: every order adds in the same order, to the same bits
    again = np.empty_like(sums)
    lib.launch(f"block_sum<{ctype}>", (7,), (128,), (x, again, np.int64(x.size)))
    np.testing.assert_array_equal(sums, again)


@pytest.mark.parametrize("order", ORDERS)
def test_atomic_histogram(lib, order):
    rng = np.random.default_rng(1)
    values = rng.integers(0, 50, 10_000).astype(np.int32)
    counts = np.zeros(50, dtype=np.uint32)
    with schedule(order, seed=2):
        lib.launch("histogram", (6,), (96,), (values, counts, np.int64(values.size), np.int32(50)))
    np.testing.assert_array_equal(counts, np.bincount(values, minlength=50))


def test_thread_and_block_coordinates(lib):
    out = np.full((2 * 3 * 4 * 5, 4), -1, dtype=np.int32)
    with schedule("shuffle", seed=9):
        lib.launch("coordinates", (2, 3), (4, 5), (out,))
    ty, tx = np.divmod(np.arange(20), 4)
    expected = [np.stack([tx, ty, np.full(20, bx), np.full(20, by)], axis=1)
                for by in range(3) for bx in range(2)]
    np.testing.assert_array_equal(out, np.concatenate(expected))


@pytest.mark.parametrize("order", ORDERS)
def test_warp_intrinsics(lib, order):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(64)
    keys = rng.integers(0, 4, 64).astype(np.int64)
    sum_, first = np.empty(64), np.empty(64)
    ballot, peers = np.empty(64, dtype=np.uint32), np.empty(64, dtype=np.uint32)
    with schedule(order, seed=6):
        lib.launch("warp_ops", (1,), (64,), (x, keys, sum_, first, ballot, peers))
    for w in range(2):
        lanes = slice(32 * w, 32 * w + 32)
        np.testing.assert_allclose(sum_[lanes], x[lanes].sum(), rtol=1e-13)
        np.testing.assert_array_equal(first[lanes], x[32 * w])
        bits = np.uint32(sum(1 << k for k in range(32) if x[32 * w + k] > 0))
        np.testing.assert_array_equal(ballot[lanes], bits)
        for lane in range(32):
            same = keys[lanes] == keys[32 * w + lane]
            assert peers[32 * w + lane] == sum(1 << k for k in range(32) if same[k])


@pytest.mark.parametrize("kernel, message", [
    ("divergent_barrier", "exited"),  # odd threads wait, even ones finish
    ("barrier_after_exit", "exited"),
    ("shuffle_outside_mask", "outside the mask"),
])
def test_misuse_is_an_error(lib, kernel, message):
    with pytest.raises(EmulationError, match=message):
        lib.launch(kernel, (1,), (32,), (np.zeros(32, dtype=np.int32),))


def test_arguments_are_checked_against_the_kernel_signature(lib):
    x = np.zeros(64, dtype=np.int32)
    assert lib.signature("rotate") == ("const int*", "int*", "int")
    with pytest.raises(TypeError, match="numpy.int32"):
        lib.launch("rotate", (1,), (64,), (x, x.copy(), 1))  # a Python int is not a C int
    with pytest.raises(TypeError, match="int32 array"):
        lib.launch("rotate", (1,), (64,), (x.astype(np.int64), x.copy(), np.int32(1)))
    with pytest.raises(ValueError, match="C-contiguous"):
        lib.launch("rotate", (1,), (32,), (x[::2], x.copy(), np.int32(1)))
    with pytest.raises(ValueError, match="read-only"):
        out = x.copy()
        out.flags.writeable = False
        lib.launch("rotate", (1,), (64,), (x, out, np.int32(1)))
    with pytest.raises(ValueError, match="overlaps"):
        lib.launch("rotate", (1,), (64,), (x, x, np.int32(1)))
    with pytest.raises(TypeError, match="takes 3 arguments"):
        lib.launch("rotate", (1,), (64,), (x, x.copy()))
    with pytest.raises(EmulationError, match="1 to 1024"):
        lib.launch("rotate", (1,), (2048,), (x, x.copy(), np.int32(1)))


@pytest.mark.skipif(runtime.sanitize_requested(), reason="the plain build is what the README shows")
def test_readme_step_through_runs_as_printed():
    """kernels/cuda/emulate/README.md's "Step through a kernel": its code prints what it says."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    readme = (Path(runtime.__file__).parent / "README.md").read_text()
    section = readme[readme.index("## Step through a kernel"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    shown = re.search(r"prints .*?\n\n```\n(.*?)```", section, re.S).group(1).splitlines()
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    printed = run.stdout.splitlines()
    cut = shown.index("...")  # the README elides the middle
    assert printed[:cut] == shown[:cut] and printed[-1] == shown[-1]
    assert len(printed) == 15


def test_launches_from_several_threads_do_not_interfere(lib):
    """ctypes drops the GIL during a call; the emulator's state is process-wide, so launches
    from different Python threads must take turns (they do, behind a lock)."""
    from concurrent.futures import ThreadPoolExecutor
    rng = np.random.default_rng(7)
    inputs = [rng.standard_normal(200_000) for _ in range(8)]  # long enough launches to overlap

    def block_sums(x):
        sums = np.empty(64)
        lib.launch("block_sum<double>", (64,), (128,), (x, sums, np.int64(x.size)))
        return sums.sum()

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(block_sums, inputs))
    np.testing.assert_allclose(results, [x.sum() for x in inputs], rtol=1e-12)
