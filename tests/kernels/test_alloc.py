"""The cpu flavour's memory reuse: output blocks come back when their last view dies and are
handed out again; scratch buffers are kept per thread and grown, never shared between threads."""
import threading

import numpy as np

from tinyconv.kernels.cpu import _alloc, _workspace


def test_a_block_returns_when_its_last_view_dies_and_is_reused():
    _alloc.release()
    a = _alloc.empty((300, 100), np.float32)
    assert a.flags.c_contiguous and a.flags.writeable and a.ctypes.data % 64 == 0
    address = a.ctypes.data
    view = a[5:]
    del a
    assert _alloc.idle_bytes() == 0  # the view still holds the block
    del view
    assert _alloc.idle_bytes() == 300 * 100 * 4
    b = _alloc.empty((100, 300), np.float32)  # same byte size, another shape
    assert b.ctypes.data == address and _alloc.idle_bytes() == 0
    b[:] = 7  # the memory is really the array's
    assert float(b.sum()) == 7 * b.size


def test_small_arrays_bypass_the_cache_and_the_cap_holds(monkeypatch):
    _alloc.release()
    small = _alloc.empty(8, np.float64)
    del small
    assert _alloc.idle_bytes() == 0
    monkeypatch.setattr(_alloc, "LIMIT", 200_000)
    blocks = [_alloc.empty(30_000, np.float32) for _ in range(3)]  # 120 kB each
    del blocks
    assert _alloc.idle_bytes() == 120_000  # the second one would exceed the cap: freed
    _alloc.release()
    assert _alloc.idle_bytes() == 0


def test_workspace_is_reused_grown_and_per_thread():
    w1 = _workspace.workspace("test", (4, 5), np.float64)
    w2 = _workspace.workspace("test", (2, 5), np.float64)
    assert w2.ctypes.data == w1.ctypes.data  # a smaller request reuses the buffer
    w3 = _workspace.workspace("test", (40, 50), np.float64)
    assert w3.shape == (40, 50)
    other = []
    t = threading.Thread(target=lambda: other.append(_workspace.workspace("test", (4, 5), np.float64)))
    t.start()
    t.join()
    assert not np.shares_memory(other[0], w3)
