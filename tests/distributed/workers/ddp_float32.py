"""Run under `mpiexec -n 2` (or 4): data parallel on the default path (numba backend, float32), against one
process training the whole batch. Prints "OK <name> rank <r> <worst relative difference>".

The kernels sum every parameter gradient over a batch as a tree whose top split is even rows +
odd rows (kernels/reference/_tree.py), which is DistributedSampler's split for 2 ranks: the
averaged gradient, and so the weights, are bitwise one process's. Differences are
max |a - b| / max |b| a tensor. Under `mpiexec -n 4` the ranks' gradients are gathered and
added in the tree's order (deterministic=True): bitwise too."""
import copy

import numpy as np

import tinyconv as tc
import tinyconv.distributed as dist
from tinyconv.nn import functional as F

world = dist.init()
r, size = world.rank, world.size
tc.set_backend("numba")


def worst(mine, ref):
    return max(float(np.abs(a.astype(np.float64) - b).max() / np.abs(b).max()) for a, b in zip(mine, ref))


def batch(n, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1, 32, 32)).astype(np.float32), rng.integers(0, 10, n)


tc.manual_seed(11)
net = tc.models.lenet5()
single = copy.deepcopy(net)
ddp = dist.DistributedDataParallel(net, deterministic=size > 2)  # 4 ranks: the tree's order
assert all(p.dtype == np.float32 for p in net.parameters())
opt2 = tc.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
opt1 = tc.optim.SGD(single.parameters(), lr=0.05, momentum=0.9)
for step, n in enumerate([64, 64, 40, 64]):  # 40: a short last batch, 20 (or 10) rows a rank
    x, y = batch(n, seed=step)
    mine = dist.DistributedSampler(range(n), size, r, shuffle=False).indices()
    opt2.zero_grad()
    out2 = ddp(tc.tensor(x[mine]))
    F.cross_entropy(out2, tc.tensor(y[mine])).backward()
    ddp.finish_gradient_sync()
    opt1.zero_grad()
    out1 = single(tc.tensor(x))
    F.cross_entropy(out1, tc.tensor(y)).backward()
    if step == 0:
        d = worst([out2.numpy()], [out1.numpy()[mine]])
        assert d == 0, f"forward of the rank's shard differs from one process's by {d:.1e}"
        print(f"OK forward32 rank {r} {d:.1e}", flush=True)
        d = worst([p.grad.numpy() for p in net.parameters()], [p.grad.numpy() for p in single.parameters()])
        assert d == 0, f"averaged gradients differ from one process's by {d:.1e}"
        print(f"OK grad32 rank {r} {d:.1e}", flush=True)
    opt2.step()
    opt1.step()
d = worst([p.numpy() for p in net.parameters()], [p.numpy() for p in single.parameters()])
assert d == 0, f"weights after 4 steps differ from one process's by {d:.1e}"
print(f"OK sgd32 rank {r} {d:.1e}", flush=True)
