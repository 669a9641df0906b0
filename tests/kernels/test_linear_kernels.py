"""linear kernels: the Numba flavour (column blocks of single-threaded BLAS GEMMs, one per
thread) against the NumPy reference, over shapes that split unevenly, empty ones included."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinyconv.kernels.cpu import linear as cpu
from tinyconv.kernels.reference import linear as ref


def close(a, b, scale):
    assert a.dtype == b.dtype and a.shape == b.shape
    tol = 1e-10 if b.dtype == np.float64 else 1e-5
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(scale, 1.0))


@given(st.integers(0, 70), st.integers(0, 70), st.integers(0, 70), st.booleans(),
       st.sampled_from([np.float32, np.float64]), st.integers(0, 2**32 - 1))
def test_cpu_matches_reference(m, k, n, with_bias, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((m, k)).astype(dtype)
    w = rng.standard_normal((n, k)).astype(dtype)
    b = rng.standard_normal(n).astype(dtype) if with_bias else None
    g = rng.standard_normal((m, n)).astype(dtype)
    close(cpu.linear_forward(x, w, b), ref.linear_forward(x, w, b), k)
    for need in [(True, True), (True, False), (False, True)]:
        got, want = cpu.linear_backward(g, x, w, *need), ref.linear_backward(g, x, w, *need)
        for a, e, scale in zip(got, want, (n, m, m)):
            assert (a is None) == (e is None)
            if e is not None:
                close(a, e, scale)


@pytest.mark.parametrize("n", [1, 15, 16, 17, 120, 4096])
def test_column_blocks_cover_every_column_once(n):
    edges = cpu._blocks(n)
    assert edges[0] == 0 and edges[-1] == n and np.all(np.diff(edges) >= 0)
    assert np.all(edges[1:-1] % cpu.ALIGN == 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blas_threads_are_restored_after_a_kernel(dtype):
    from tinyconv.kernels.cpu import _blas
    if not _blas.HAVE_BLAS:
        pytest.skip("no CBLAS beside NumPy: the loop GEMM stands in")
    before = _blas._LIB.get_num_threads()
    x = np.ones((64, 256), dtype)
    cpu.linear_forward(x, np.ones((256, 256), dtype), None)
    assert _blas._LIB.get_num_threads() == before


def test_blas_limited_to_one_thread_only_where_a_kernel_calls_it():
    # float64 GEMMs run in NumPy's BLAS from every Numba thread; float32 ones are tinyconv's own
    from tinyconv.kernels.cpu import _blas
    if not _blas.HAVE_BLAS:
        pytest.skip("no CBLAS beside NumPy: the loop GEMM stands in")
    before = _blas._LIB.get_num_threads()
    with _blas.one_thread(np.float64):
        assert _blas._LIB.get_num_threads() == 1
    with _blas.one_thread(np.float32):
        assert _blas._LIB.get_num_threads() == before
    assert _blas._LIB.get_num_threads() == before
