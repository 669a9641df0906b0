"""Run under `mpiexec -n <GPUs, at most 2>`: the NCCL group on CuPy arrays. Prints "OK <name> rank <r>"."""
import cupy as cp
import numpy as np

import tinyconv as tc
import tinyconv.distributed as dist
from tinyconv.nn import functional as F

world = dist.init("nccl")
assert world.backend == "nccl", world
r, n = world.rank, world.size

a = cp.full(5, r + 1.0)
world.allreduce_(a)
assert cp.allclose(a, n * (n + 1) / 2)
b = cp.arange(4.0) if r == 0 else cp.zeros(4)
world.broadcast_(b, root=0)
assert cp.array_equal(b, cp.arange(4.0))
g = world.allgather(cp.full((2, 3), float(r)))
assert g.shape == (n, 2, 3) and all(float(g[q].max()) == q for q in range(n))
s = world.reduce_scatter(cp.ones((n, 3)) * (r + 1))
assert cp.allclose(s, n * (n + 1) / 2)
assert world.allgather_object(r) == list(range(n))
print(f"OK collectives rank {r}", flush=True)

tc.manual_seed(1)  # CuPy arrays go to the CUDA kernels whatever the CPU backend
cpu = tc.models.lenet5().double()
gpu = tc.models.lenet5().double()
gpu.load_state_dict(cpu.state_dict())
gpu.to("cuda")
ddp = dist.DistributedDataParallel(gpu, bucket_cap_mb=0.05)
rng = np.random.default_rng(3)
x, y = rng.standard_normal((4 * n, 1, 32, 32)), rng.integers(0, 10, 4 * n)
mine = dist.DistributedSampler(range(4 * n), n, r, shuffle=False).indices()
F.cross_entropy(ddp(tc.tensor(x[mine]).to("cuda")), tc.tensor(y[mine]).to("cuda")).backward()
ddp.finish_gradient_sync()
F.cross_entropy(cpu(tc.tensor(x)), tc.tensor(y)).backward()
for p, q in zip(gpu.parameters(), cpu.parameters()):
    np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-9, atol=1e-12)
print(f"OK ddp rank {r}", flush=True)
