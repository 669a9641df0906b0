"""The CUDA kernels of kernels/cuda/ built for the host and run on NumPy arrays (README.md here).

`tinyconv.set_backend("cuda-emulated")` sends every op through them; the modules of this package
(LAUNCHERS) answer the same calls as kernels/cuda/'s.
"""
from .build import BuildError, available  # noqa: F401
from .runtime import ORDERS, EmulationError, schedule  # noqa: F401

FAMILIES = ("activation", "conv", "dropout", "lrn", "pool", "softmax")  # the .cu families
LAUNCHERS = FAMILIES + ("distill", "linear", "optim")  # every module of kernels/cuda/ the ops call (no .cu: array expressions)


def prebuild(jobs: int = 2) -> None:
    """Compile (or find in the cache) every family's library, `jobs` compilers at a time; each
    family otherwise compiles on its first launch."""
    import importlib
    from concurrent.futures import ThreadPoolExecutor

    def one(family):
        importlib.import_module(f"{__name__}.{family}")._kernels.library()

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(one, FAMILIES))
