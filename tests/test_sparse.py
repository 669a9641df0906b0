"""tinyconv.sparse: CSRMatrix, SparseLinear/SparseConv2d and to_sparse on pruned models give the
dense model's outputs on both CPU backends; bad input raises."""
import numpy as np
import pytest

import tinyconv as tc
import tinyconv.nn.utils.prune as prune
from tinyconv import nn
from tinyconv.models import lenet5
from tinyconv.sparse import CSRMatrix, SparseConv2d, SparseLinear, sparsity, to_sparse


def prune_all(model, amount):
    params = [(m, "weight") for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=amount)
    return model


def test_csr_round_trip_and_groups(rng):
    w = rng.standard_normal((6, 10))
    w[rng.random(w.shape) < 0.6] = 0
    csr = CSRMatrix.from_dense(w)
    np.testing.assert_array_equal(csr.to_dense(), w)
    assert csr.nnz == np.count_nonzero(w) and csr.density == pytest.approx(csr.nnz / 60)
    assert csr.nbytes == csr.nnz * (8 + 4) + 7 * 8
    grouped = CSRMatrix.from_dense(w, groups=2)          # block diagonal (6, 20)
    dense = np.zeros((6, 20))
    dense[:3, :10], dense[3:, 10:] = w[:3], w[3:]
    np.testing.assert_array_equal(grouped.to_dense(), dense)
    with pytest.raises(ValueError, match="indptr"):
        CSRMatrix([0, 2], [0], [1.0], (1, 3))
    with pytest.raises(ValueError, match="column indices"):
        CSRMatrix([0, 1], [3], [1.0], (1, 3))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_to_sparse_lenet_equals_pruned_dense(backend, dtype, rng):
    model = prune_all(lenet5().to(dtype=dtype), 0.9)
    assert sparsity(model) == pytest.approx(0.9, abs=1e-4)
    sparse = to_sparse(model)
    kinds = [type(m).__name__ for m in sparse.modules() if "Sparse" in type(m).__name__]
    assert kinds == ["SparseConv2d", "SparseConv2d", "SparseLinear", "SparseLinear", "SparseLinear"]
    assert prune.is_pruned(model)                        # the original is untouched
    x = tc.tensor(rng.standard_normal((5, 1, 32, 32)).astype(dtype))
    with tc.use_backend(backend), tc.no_grad():
        want, got = model(x).numpy(), sparse(x).numpy()
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_grouped_strided_conv_and_min_sparsity(rng):
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, dilation=2, groups=2, dtype=np.float64)
    prune.l1_unstructured(conv, "weight", 0.8)
    model = nn.Sequential(conv, nn.ReLU(), nn.Flatten(), nn.Linear(6 * 4 * 4, 3, dtype=np.float64))
    sparse = to_sparse(model, min_sparsity=0.5)          # the dense Linear stays dense
    assert isinstance(sparse[0], SparseConv2d) and isinstance(sparse[3], nn.Linear)
    x = tc.tensor(rng.standard_normal((2, 4, 9, 9)))
    with tc.no_grad():
        np.testing.assert_allclose(sparse(x).numpy(), model(x).numpy(), rtol=1e-12, atol=1e-12)
    same = SparseConv2d.from_dense(nn.Conv2d(2, 2, 3, padding="same"))
    assert same.padding == (1, 1)
    lin = nn.Linear(5, 4)
    y = SparseLinear.from_dense(lin)(tc.tensor(np.ones((2, 3, 5), np.float32)))
    assert y.shape == (2, 3, 4)                          # leading axes, as Linear


def test_bad_input_raises(rng):
    lin = SparseLinear.from_dense(nn.Linear(5, 4))
    with pytest.raises(ValueError, match="5 at axis -1"):
        lin(tc.tensor(np.ones((2, 6), np.float32)))
    with pytest.raises(TypeError, match="float64 differs"):
        lin(tc.tensor(np.ones((2, 5))))
    with pytest.raises(RuntimeError, match="inference only"):
        lin(tc.tensor(np.ones((2, 5), np.float32), requires_grad=True))
    conv = SparseConv2d.from_dense(nn.Conv2d(3, 2, 5))
    with pytest.raises(ValueError, match="3 at axis 1"):
        conv(tc.tensor(np.ones((1, 2, 8, 8), np.float32)))
    with pytest.raises(ValueError, match="smaller than the kernel"):
        conv(tc.tensor(np.ones((1, 3, 4, 4), np.float32)))
    with pytest.raises(ValueError, match="odd total"):
        SparseConv2d.from_dense(nn.Conv2d(2, 2, 4, padding="same"))
    with pytest.raises(ValueError, match="min_sparsity"):
        to_sparse(lenet5(), 1.5)
