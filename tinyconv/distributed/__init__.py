"""Training over several processes: data parallel over MPI (NumPy) or NCCL (CuPy), and the
AlexNet paper's two-way model split.

    import tinyconv.distributed as dist
    world = dist.init()                       # "local" (1 process) unless started by mpiexec
    sampler = dist.DistributedSampler(train_set, seed=0)
    loader = tinyconv.data.DataLoader(train_set, batch_size=global_batch // world.size, sampler=sampler)
    model = dist.DistributedDataParallel(tinyconv.models.lenet5())

Run with `mpiexec -n 2 python train.py` (or `mpiexec -n 2 tinyconv train lenet5`). mpi4py and
MPICH come with `pip install 'tinyconv[distributed]'`.
"""
from .functional import all_gather, halo_exchange  # noqa: F401
from .group import DistributedError, LocalGroup, MPIGroup, ProcessGroup  # noqa: F401
from .nccl import NCCLGroup, nccl_available  # noqa: F401
from .parallel import DistributedDataParallel, check_same_model, model_signature  # noqa: F401
from .sampler import DistributedSampler  # noqa: F401
from .world import (get_rank, get_world, get_world_size, init, is_initialized,  # noqa: F401
                    is_main_process, launched_size)
