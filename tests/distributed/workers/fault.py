"""Run under `mpiexec -n 2`: rank 1 dies (`kill`) or stops answering (`hang`) at step 3 of a
data-parallel loop; rank 0 must end the job instead of waiting forever."""
import os
import signal
import sys
import time

import numpy as np

import tinyconv as tc
import tinyconv.distributed as dist
from tinyconv.nn import functional as F

mode = sys.argv[1]
world = dist.init()
tc.set_backend("numpy")
model = dist.DistributedDataParallel(tc.models.lenet5())
opt = tc.optim.SGD(model.parameters(), lr=0.01)
rng = np.random.default_rng(world.rank)
sys.stdout.write(f"rank {world.rank} = pid {os.getpid()}\n")
sys.stdout.flush()
for step in range(1000):
    if step == 3 and world.rank == 1:
        print(f"rank 1 {mode}s at step {step}", flush=True)
        if mode == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(3600)
    x, y = tc.tensor(rng.standard_normal((4, 1, 32, 32)).astype(np.float32)), tc.tensor(rng.integers(0, 10, 4))
    opt.zero_grad()
    F.cross_entropy(model(x), y).backward()
    model.finish_gradient_sync()
    opt.step()
print("finished all steps", flush=True)
