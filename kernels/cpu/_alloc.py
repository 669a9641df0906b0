"""Output arrays served from a cache of freed blocks: PyTorch's caching allocator, on the CPU.

Why: a training step allocates the same large activations and gradients every step. Served by
malloc, each one is fresh mmap memory whose pages fault in on first touch, and in a VM that
costs more than the kernel itself (measured on the dev machine: a LeNet-5 ReLU over 1.2 MB took
326 us in a training step, 15 us on reused memory; the whole step 6.1 ms -> 3.8 ms). Changing
malloc's thresholds would fix it for every library in the process, which is not ours to decide;
so tinyconv keeps its own blocks instead.

`empty(shape, dtype)` returns an ordinary ndarray whose memory belongs to a small owner object;
when the last array or view using it is collected, the owner hands the block back to the cache,
where the next request of the same byte size takes it. The cache holds at most `LIMIT` bytes of
idle blocks; `release()` empties it. Arrays under `MIN_BYTES` come from np.empty directly
(malloc's own free lists already recycle small blocks).
"""
import math
import threading

import numpy as np

MIN_BYTES = 1 << 16
LIMIT = 1 << 30

_lock = threading.Lock()
_idle = {}  # nbytes -> [uint8 arrays]
_idle_bytes = [0]


class _Block:
    """Owns one raw block; numpy keeps it as the base of the array built on it."""

    __slots__ = ("raw", "address", "__array_interface__")

    def __init__(self, raw, address, shape, dtype):
        self.raw, self.address = raw, address
        self.__array_interface__ = {"shape": shape, "typestr": dtype.str, "version": 3,
                                    "data": (address, False)}

    def __del__(self):
        try:
            _give_back(self.raw, self.address)
        except Exception:  # interpreter shutdown: module globals may be gone already
            pass


def _give_back(raw, address):
    with _lock:
        if _idle_bytes[0] + raw.nbytes <= LIMIT:
            _idle.setdefault(raw.nbytes, []).append((raw, address))
            _idle_bytes[0] += raw.nbytes


def empty(shape, dtype):
    """An uninitialised C-contiguous array, from the cache when a block of its size is idle."""
    dtype = np.dtype(dtype)
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < MIN_BYTES:
        return np.empty(shape, dtype)
    with _lock:
        blocks = _idle.get(nbytes)
        block = blocks.pop() if blocks else None
        if block is not None:
            _idle_bytes[0] -= nbytes
    if block is None:
        raw = np.empty(nbytes + 64, np.uint8)  # + 64: room to align the start to a cache line
        address = raw.ctypes.data
        raw = raw[-address % 64:][:nbytes]
        block = raw, address + (-address % 64)
    return np.asarray(_Block(*block, shape, dtype))


def empty_like(a):
    return empty(a.shape, a.dtype)


def release():
    """Free every idle block (the cached memory goes back to the system)."""
    with _lock:
        _idle.clear()
        _idle_bytes[0] = 0


def idle_bytes():
    return _idle_bytes[0]
