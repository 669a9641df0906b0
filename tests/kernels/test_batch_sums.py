"""Parameter gradients summed over a batch in the tree order of kernels/reference/_tree.py: a
batch's gradient equals, bitwise, the gradient of its even rows plus that of its odd rows (the
shares DistributedSampler deals two ranks) whenever the batch is more than one leaf: in the
reference flavour in float32 and float64, in the Numba flavour in float32 (its own GEMM); and the
Numba flavour's float32 sums do not depend on the thread count."""
import numba
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

from tinyconv.kernels.cpu import _tree as cpu_tree
from tinyconv.kernels.cpu import conv as cpu_conv
from tinyconv.kernels.cpu import linear as cpu_linear
from tinyconv.kernels.reference import _tree as ref_tree
from tinyconv.kernels.reference import conv as ref_conv
from tinyconv.kernels.reference import linear as ref_linear

LEAF = ref_tree.LEAF

CONV = [pytest.param(ref_conv, id="reference"), pytest.param(cpu_conv, id="cpu")]
LINEAR = [pytest.param(ref_linear, id="reference"), pytest.param(cpu_linear, id="cpu")]
DTYPES = [np.float32, np.float64]


def halves(a):
    return np.ascontiguousarray(a[0::2]), np.ascontiguousarray(a[1::2])


def assert_split_invariant(full, even, odd, exact=True):
    """Parameter gradients add up bitwise; input gradients are the same rows. exact=False: the
    Numba flavour in float64, whose GEMMs are BLAS's (it rounds by matrix size): to rounding."""
    def same(actual, desired):
        assert actual.dtype == desired.dtype
        if exact:
            np.testing.assert_array_equal(actual, desired)
        else:
            np.testing.assert_allclose(actual, desired, rtol=1e-13, atol=1e-12)  # O(1) terms, <= 200 of them
    gx, *params = full
    gx_e, *params_e = even
    gx_o, *params_o = odd
    if gx is not None:
        same(gx_e, gx[0::2])
        same(gx_o, gx[1::2])
    for p, e, o in zip(params, params_e, params_o):
        same(e + o, p)


def exact(k, dtype):
    return not (k in (cpu_conv, cpu_linear) and dtype == np.float64)


@st.composite
def conv_cases(draw):
    groups = draw(st.integers(1, 2))
    c, o = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    h, w = draw(st.integers(3, 9)), draw(st.integers(3, 9))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 1)), draw(st.integers(0, 1)))
    dilation = (draw(st.integers(1, 2)), 1)
    assume(dilation[0] * (kh - 1) + 1 <= h + 2 * padding[0])
    n = 2 * draw(st.integers(ref_tree.CONV_LEAF // 2 + 1, 40))  # more samples than a conv leaf
    return (n, c, h, w), (o, c // groups, kh, kw), stride, padding, dilation, groups


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("algo", ["im2col", "direct"])
@pytest.mark.parametrize("k", CONV)
@given(case=conv_cases(), seed=st.integers(0, 2**16))
def test_conv_gradient_of_a_batch_is_the_sum_of_its_halves(k, algo, dtype, case, seed):
    x_shape, w_shape, stride, padding, dilation, groups = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    args = stride, padding, dilation, groups, algo
    gy = rng.standard_normal(k.conv2d_forward(x, w, None, *args).shape).astype(dtype)
    (x_e, x_o), (gy_e, gy_o) = halves(x), halves(gy)
    assert_split_invariant(k.conv2d_backward(gy, x, w, *args), k.conv2d_backward(gy_e, x_e, w, *args),
                           k.conv2d_backward(gy_o, x_o, w, *args), exact(k, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", LINEAR)
@given(m=st.integers(LEAF // 2 + 1, 100), features=st.tuples(st.integers(1, 70), st.integers(1, 40)),
       seed=st.integers(0, 2**16))
def test_linear_gradient_of_a_batch_is_the_sum_of_its_halves(k, dtype, m, features, seed):
    rng = np.random.default_rng(seed)
    n, (K, N) = 2 * m, features
    x = rng.standard_normal((n, K)).astype(dtype)
    w = rng.standard_normal((N, K)).astype(dtype)
    g = rng.standard_normal((n, N)).astype(dtype)
    (x_e, x_o), (g_e, g_o) = halves(x), halves(g)
    assert_split_invariant(k.linear_backward(g, x, w), k.linear_backward(g_e, x_e, w),
                           k.linear_backward(g_o, x_o, w), exact(k, dtype))


def test_linear_weight_gradient_wider_than_one_scratch_tile():
    # fc-sized: several 64 x 512 tiles of gW per thread, 16 leaves
    rng = np.random.default_rng(0)
    x, g = rng.standard_normal((128, 1100)).astype(np.float32), rng.standard_normal((128, 150)).astype(np.float32)
    w = np.zeros((150, 1100), np.float32)
    full = cpu_linear.linear_backward(g, x, w)
    (x_e, x_o), (g_e, g_o) = halves(x), halves(g)
    assert_split_invariant(full, cpu_linear.linear_backward(g_e, x_e, w), cpu_linear.linear_backward(g_o, x_o, w))
    np.testing.assert_allclose(full[1], g.astype(np.float64).T @ x, rtol=1e-5, atol=1e-4)


def test_sums_do_not_depend_on_the_thread_count():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((48, 6, 12, 12)).astype(np.float32)
    w = rng.standard_normal((16, 6, 5, 5)).astype(np.float32)
    gy = rng.standard_normal((48, 16, 8, 8)).astype(np.float32)
    xl, wl, gl = (rng.standard_normal(s).astype(np.float32) for s in [(48, 300), (70, 300), (48, 70)])
    before = numba.get_num_threads()
    results = []
    try:
        for t in sorted({1, before}):
            numba.set_num_threads(t)
            results.append(cpu_conv.conv2d_backward(gy, x, w, (1, 1), (0, 0), (1, 1), 1, "im2col")
                           + cpu_linear.linear_backward(gl, xl, wl))
    finally:
        numba.set_num_threads(before)
    for a, b in zip(results[0], results[-1]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("leaf", [ref_tree.LEAF, ref_tree.CONV_LEAF])
@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 16, 17, 63, 64, 65, 200])
def test_both_flavours_cut_a_batch_into_the_same_leaves(n, leaf):
    L = ref_tree.leaf_stride(n, leaf)
    assert L == cpu_tree.leaf_stride(n, leaf) and cpu_tree.LEAF == LEAF
    assert L & (L - 1) == 0 and L * leaf >= n and (L == 1 or (L // 2) * leaf < n)
    assert sum(cpu_tree.leaf_rows(n, L, q) for q in range(L)) == n
    assert all(cpu_tree.leaf_rows(n, L, q) <= leaf for q in range(L))


def test_tree_order_is_even_leaves_plus_odd_leaves():
    # values whose float32 sum shows the grouping: 1 + 2^-24 rounds away unless added together
    leaves = np.array([1.0, 2.0**-24, 0.0, 2.0**-24], np.float32)
    got = ref_tree.tree_sum(lambda l: leaves[l], 4)
    assert got == (leaves[0] + leaves[2]) + (leaves[1] + leaves[3])
    parts = leaves.reshape(4, 1, 1).copy()
    assert cpu_tree.fold(parts)[0, 0] == got


def test_batch_sum_rounds_each_leaf_then_folds():
    rows = np.full(4 * LEAF, 0.1, np.float32)  # L = 4: four leaves of LEAF rows
    leaf = np.float32(sum(np.float64(r) for r in rows[:LEAF]))
    assert ref_tree.leaf_stride(len(rows)) == 4
    assert ref_tree.batch_sum(rows, np.float64) == (leaf + leaf) + (leaf + leaf)
