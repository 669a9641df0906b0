"""The default group of this process: `init()` once, then `get_world()` anywhere."""
from __future__ import annotations

import os

from .group import LocalGroup, MPIGroup

BACKENDS = ("auto", "local", "mpi", "nccl")
# Launchers announce the world size here: MPICH/Intel MPI (hydra), Open MPI, PMIx, Slurm.
_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")

_state = {"world": None}


def launched_size() -> int:
    """The number of processes an MPI launcher started (1 when not started by one)."""
    for var in _SIZE_VARS:
        value = os.environ.get(var, "").strip()
        if value.isdigit():
            return int(value)
    return 1


def init(backend: str = "auto", timeout=None):
    """Join the world and return its group; later calls return the same group.

    backend: "mpi" (NumPy arrays over mpi4py), "nccl" (CuPy arrays, one GPU a process, MPI
      bootstraps the NCCL id), "local" (a world of one), or "auto": "local" when no MPI launcher
      started this process, else "nccl" on the cupy backend with NCCL usable, else "mpi".
    timeout: seconds a collective may wait for its peers before the job is aborted with the
      names of the ranks that stopped answering (default $TINYCONV_DIST_TIMEOUT or 45).
    In a world of several processes an uncaught exception on any rank aborts the whole job.
    """
    if backend not in BACKENDS:
        raise ValueError(f"init: unknown backend {backend!r}; expected one of {BACKENDS}")
    world = _state["world"]
    if world is not None:
        if backend not in ("auto", world.backend):
            raise RuntimeError(f"init: already initialised with backend {world.backend!r}, "
                               f"cannot switch to {backend!r}")
        return world
    launched = launched_size()
    if backend == "auto":
        backend = "local" if launched == 1 else _auto_multi()
    if backend == "local":
        if launched > 1:
            raise RuntimeError(f"init: an MPI launcher started {launched} processes, but backend "
                               "'local' would make each train alone; use 'mpi' or 'nccl'")
        world = LocalGroup(timeout)
    else:
        _require_mpi4py(launched)
        if backend == "nccl":
            from .nccl import NCCLGroup
            world = NCCLGroup(timeout=timeout)
        else:
            world = MPIGroup(timeout=timeout)
        if world.size > 1:
            _abort_on_uncaught(world)
            _explain_launcher_stop(getattr(world, "mpi", world))
    _state["world"] = world
    return world


def _abort_on_uncaught(world):
    """An exception that ends one rank ends the job (as `python -m mpi4py` does): otherwise the
    other ranks would wait for it until their deadline."""
    import sys
    previous = sys.excepthook

    def hook(kind, value, tb):
        previous(kind, value, tb)
        world.abort(f"tinyconv.distributed: rank {world.rank} of {world.size} stopped on an uncaught "
                    f"{kind.__name__}; aborting the job")
    sys.excepthook = hook


def _explain_launcher_stop(mpi_group):
    """When one rank dies, a launcher that stops the others with SIGTERM and a grace period
    (Open MPI's, Slurm's) names only a PID; each survivor says which rank is gone before it
    exits. MPICH's hydra sends SIGTERM and SIGKILL back to back, so no Python handler runs
    there: it names the dead PID, which the CLI's first lines list per rank."""
    import signal
    import sys

    def handler(signum, frame):
        dead = mpi_group.dead_local_peers()
        why = (f"rank{'s' if len(dead) > 1 else ''} {', '.join(map(str, dead))} died" if dead
               else "another rank failed")
        print(f"tinyconv.distributed: rank {mpi_group.rank} of {mpi_group.size} stopped by the "
              f"launcher: {why}", file=sys.stderr, flush=True)
        os._exit(128 + signum)

    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):  # never replace a user's handler
        signal.signal(signal.SIGTERM, handler)


def _auto_multi() -> str:
    from ..backend import get_backend
    if get_backend() == "cupy":
        from .nccl import nccl_available
        if nccl_available():
            return "nccl"
    return "mpi"


def _require_mpi4py(launched):
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        raise RuntimeError(f"this process was started as one of {launched} MPI processes, but "
                           "mpi4py is not installed: pip install 'tinyconv[distributed]' "
                           "(mpi4py and MPICH)") from None


def is_initialized() -> bool:
    return _state["world"] is not None


def get_world():
    """The default group (initialising it with backend "auto" on first use)."""
    return _state["world"] if _state["world"] is not None else init()


def get_rank() -> int:
    return get_world().rank


def get_world_size() -> int:
    return get_world().size


def is_main_process() -> bool:
    """True on rank 0, the one rank that writes checkpoints, metrics and plots."""
    return get_world().rank == 0
