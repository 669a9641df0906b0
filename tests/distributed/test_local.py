"""A world of one process (no MPI): init(), the local group, DDP and collectives as identities."""
import numpy as np
import pytest

import tinyconv as tc
import tinyconv.distributed as dist
from tinyconv.nn import functional as F


def test_init_without_a_launcher_is_a_world_of_one(monkeypatch):
    for var in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setitem(dist.world._state, "world", None)
    world = dist.init()
    assert (world.backend, world.rank, world.size) == ("local", 0, 1)
    assert dist.init() is world and dist.get_world() is world and dist.is_main_process()
    with pytest.raises(RuntimeError, match="cannot switch"):
        dist.init("mpi")


def test_local_backend_refused_under_a_launcher(monkeypatch):
    monkeypatch.setenv("PMI_SIZE", "4")
    monkeypatch.setitem(dist.world._state, "world", None)
    with pytest.raises(RuntimeError, match="4 processes"):
        dist.init("local")
    with pytest.raises(ValueError, match="unknown backend"):
        dist.init("gloo")


def test_local_group_collectives():
    g = dist.LocalGroup()
    a = np.arange(3.0)
    assert g.allreduce_(a) is a
    np.testing.assert_array_equal(g.allgather(a), a[None])
    np.testing.assert_array_equal(g.reduce_scatter(a[None]), a)
    assert g.allgather_object("x") == ["x"]
    with pytest.raises(ValueError, match="leading axis of size 1"):
        g.reduce_scatter(a)
    with pytest.raises(dist.DistributedError, match="gone"):
        g.abort("gone")


@pytest.mark.parametrize("deterministic", [False, True])
def test_ddp_in_a_world_of_one_matches_the_plain_model(deterministic):
    tc.manual_seed(0)
    plain = tc.models.lenet5().double()
    wrapped = tc.models.lenet5().double()
    wrapped.load_state_dict(plain.state_dict())
    ddp = dist.DistributedDataParallel(wrapped, group=dist.LocalGroup(), bucket_cap_mb=0.01,
                                       deterministic=deterministic)
    assert len(ddp.bucket_sizes) > 1 and sum(ddp.bucket_sizes) == len(list(plain.parameters()))
    rng = np.random.default_rng(0)
    x, y = tc.tensor(rng.standard_normal((4, 1, 32, 32))), tc.tensor(rng.integers(0, 10, 4))
    F.cross_entropy(plain(x), y).backward()
    F.cross_entropy(ddp(x), y).backward()
    ddp.finish_gradient_sync()
    for p, q in zip(plain.parameters(), wrapped.parameters()):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())
    assert ddp.state_dict().keys() == plain.state_dict().keys()


def test_model_signature_names_the_first_difference():
    class TwoRanks(dist.LocalGroup):  # stands in for a world where rank 1 built another model
        def allgather_object(self, obj):
            other = tc.models.lenet5(num_classes=11)
            sig = dist.model_signature(other)
            import hashlib
            return [obj, (hashlib.sha256(repr(sig).encode()).hexdigest()[:16], sig)]

    with pytest.raises(dist.DistributedError, match=r"rank 1 has .*first difference: .*\(10, 84\).*\(11, 84\)"):
        dist.check_same_model(tc.models.lenet5(), TwoRanks())


def test_all_gather_and_halo_in_a_world_of_one():
    g = dist.LocalGroup()
    x = tc.tensor(np.arange(6.0).reshape(1, 6), requires_grad=True)
    y = dist.all_gather(x, dim=1, group=g)
    np.testing.assert_array_equal(y.numpy(), x.numpy())
    (y * y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2 * x.numpy())
    assert dist.halo_exchange(x, 2, 2, dim=1, group=g) is x
    with pytest.raises(ValueError, match="one extent per rank"):
        dist.all_gather(x, dim=1, group=g, sizes=[3, 3])
    with pytest.raises(ValueError, match="grad must be"):
        dist.all_gather(x, dim=1, group=g, grad="mean")


def test_split_alexnet_needs_two_ranks():
    with pytest.raises(ValueError, match="world of 2 processes"):
        tc.models.alexnet(split=2, group=dist.LocalGroup())
    with pytest.raises(ValueError, match="variant='original'"):
        tc.models.alexnet("gap", split=2, group=dist.LocalGroup())
    with pytest.raises(ValueError, match="split=3"):
        tc.models.alexnet(split=3, group=dist.LocalGroup())


def test_nccl_group_refuses_cleanly_without_a_gpu():
    if dist.nccl_available():
        pytest.skip("NCCL is usable here; the GPU test covers it")
    with pytest.raises(RuntimeError, match="NCCL backend needs CuPy"):
        dist.NCCLGroup()
