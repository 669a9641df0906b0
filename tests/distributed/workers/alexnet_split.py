"""Run under `mpiexec -n 2`: the paper's two-rank AlexNet against the single-process grouped model.

float64, train mode (both draw the same dropout masks from the same seed), an odd class count so
the output layer splits unevenly.
Prints "OK <name> rank <r>".
"""
import numpy as np

import tinyconv as tc
import tinyconv.distributed as dist

world = dist.init()
r = world.rank
tc.set_backend("numpy")
classes = 11

tc.manual_seed(0)
full = tc.models.alexnet("original", num_classes=classes).double()
split = tc.models.alexnet("original", num_classes=classes, split=2).double()
split.load_full_state_dict(full.state_dict())
assert split.fc8.weight.shape == ((6, 4096) if r == 0 else (5, 4096))
assert split.conv3.weight.shape == (192, 256, 3, 3) and split.conv2.weight.shape == (128, 48, 5, 5)

rng = np.random.default_rng(42)  # the same input and upstream gradient on every rank
x_np = rng.standard_normal((2, 3, 227, 227))
upstream = rng.standard_normal((2, classes))
x_full = tc.tensor(x_np, requires_grad=True)
x_split = tc.tensor(x_np, requires_grad=True)

tc.manual_seed(7)
out_full = full(x_full)
tc.manual_seed(7)
out_split = split(x_split)
assert full.training and split.training
np.testing.assert_allclose(out_split.numpy(), out_full.numpy(), rtol=1e-10, atol=1e-13)
print(f"OK forward rank {r}", flush=True)

(out_full * tc.tensor(upstream)).sum().backward()
(out_split * tc.tensor(upstream)).sum().backward()
named = dict(full.named_parameters())
for name, path in dist.model_parallel.LAYERS.items():
    for kind in ("weight", "bias"):
        mine = getattr(getattr(split, name), kind).grad.numpy()
        expect = split.shard_of(name, named[f"{path}.{kind}"].grad.numpy())
        scale = np.abs(expect).max()
        assert scale > 0, f"{name}.{kind}: zero gradient tests nothing"
        np.testing.assert_allclose(mine, expect, rtol=1e-10, atol=1e-10 * scale,
                                   err_msg=f"{name}.{kind}")
# each rank's conv1 half sends its part of the input gradient; together they are the whole
dx = world.allgather(x_split.grad.numpy()).sum(axis=0)
np.testing.assert_allclose(dx, x_full.grad.numpy(), rtol=1e-10, atol=1e-10 * np.abs(dx).max())
print(f"OK gradients rank {r}", flush=True)

gathered = split.full_state_dict()
for key, value in full.state_dict().items():
    assert np.array_equal(gathered[key], value), key
print(f"OK state_dict rank {r}", flush=True)
