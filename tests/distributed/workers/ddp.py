"""Run under `mpiexec -n 2`: data-parallel checks in float64 (numpy backend). Prints "OK <name>"."""
import copy

import numpy as np

import tinyconv as tc
import tinyconv.distributed as dist
from tinyconv.nn import functional as F

world = dist.init()
r, size = world.rank, world.size
tc.set_backend("numpy")


def ok(name):
    print(f"OK {name} rank {r}", flush=True)


def grads(model):
    return [p.grad.numpy().copy() for p in model.parameters()]


def batch(n=8, seed=7):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1, 32, 32)), rng.integers(0, 10, n)


def shard_grads(model, x, y, shards):
    out = []
    for idx in shards:
        model.zero_grad()
        F.cross_entropy(model(tc.tensor(x[idx])), tc.tensor(y[idx])).backward()
        out.append(grads(model))
    return out


# 1. rank 0's initial weights reach every rank, whatever each rank drew
tc.manual_seed(100 + r)
net = tc.models.lenet5().double()
ddp = dist.DistributedDataParallel(net, deterministic=True, bucket_cap_mb=0.05)
rows = world.allgather(np.concatenate([p.numpy().ravel() for p in net.parameters()]))
assert np.array_equal(rows[0], rows[1]), "parameters differ after the initial broadcast"
assert len(ddp.bucket_sizes) > 1, ddp.bucket_sizes
ok("broadcast")

# 2. deterministic: bitwise equal to one process summing the ranks' shard gradients, and to one
#    process training the whole batch (the kernels' tree splits it as the sampler does)
x, y = batch(24)
shards = [dist.DistributedSampler(range(24), size, q, shuffle=False).indices() for q in range(size)]
reference = tc.models.lenet5().double()  # a copy without DDP's hooks
reference.load_state_dict(net.state_dict())
ddp.zero_grad()
loss = F.cross_entropy(ddp(tc.tensor(x[shards[r]])), tc.tensor(y[shards[r]]))
loss.backward()
assert ddp.hooked  # every bucket was started during backward: communication overlapped it
assert all(b.work is not None for b in ddp._buckets)
try:
    ddp(tc.tensor(x[:1]))
    raise AssertionError("forward before finish_gradient_sync was accepted")
except RuntimeError as e:
    assert "finish_gradient_sync" in str(e)
ddp.finish_gradient_sync()
per_rank = shard_grads(reference, x, y, shards)
for k, g in enumerate(grads(net)):
    expect = per_rank[0][k].copy()
    for q in range(1, size):
        expect += per_rank[q][k]
    assert np.array_equal(g, expect / size), f"parameter {k} not bitwise equal"
full = shard_grads(reference, x, y, [np.arange(24)])[0]
for k, (g, f) in enumerate(zip(grads(net), full)):
    assert np.array_equal(g, f), f"parameter {k}: not bitwise the whole batch's gradient"
ok("deterministic")

# 3. MPI's own allreduce, one bucket, several SGD steps: bitwise the weights of full-batch training
tc.manual_seed(5)
net2 = tc.models.lenet5().double()
single = copy.deepcopy(net2)
ddp2 = dist.DistributedDataParallel(net2)
assert len(ddp2.bucket_sizes) == 1
opt2 = tc.optim.SGD(net2.parameters(), lr=0.1, momentum=0.9)
opt1 = tc.optim.SGD(single.parameters(), lr=0.1, momentum=0.9)
for step in range(3):
    x, y = batch(24, seed=step)
    mine = dist.DistributedSampler(range(24), size, r, shuffle=False).indices()
    opt2.zero_grad()
    F.cross_entropy(ddp2(tc.tensor(x[mine])), tc.tensor(y[mine])).backward()
    ddp2.finish_gradient_sync()
    opt2.step()
    opt1.zero_grad()
    F.cross_entropy(single(tc.tensor(x)), tc.tensor(y)).backward()
    opt1.step()
for a, b in zip(net2.parameters(), single.parameters()):
    assert np.array_equal(a.numpy(), b.numpy())
ok("sgd")

# 4. gradient accumulation over two backwards keeps the already averaged part (2 samples a rank
#    a backward: less than a leaf each, so equal to rounding only)
ddp2.zero_grad()
x, y = batch(8, seed=3)
for half in (slice(0, 4), slice(4, 8)):
    idx = np.arange(8)[half][r::size]
    F.cross_entropy(ddp2(tc.tensor(x[idx])), tc.tensor(y[idx])).backward()
    ddp2.finish_gradient_sync()
acc = shard_grads(single, x, y, [np.arange(8)[s][q::size] for s in (slice(0, 4), slice(4, 8))
                                 for q in range(size)])
for k, g in enumerate(grads(net2)):
    np.testing.assert_allclose(g, sum(a[k] for a in acc) / size, rtol=1e-10, atol=1e-13)
ok("accumulate")

# 5. different model definitions are caught at construction, on every rank
try:
    dist.DistributedDataParallel(tc.models.lenet5(num_classes=10 + r))
    raise AssertionError("mismatched models were accepted")
except dist.DistributedError as e:
    assert "rank 1" in str(e) and "differ" in str(e), str(e)
ok("mismatch")
