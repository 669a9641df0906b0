"""NCCL process group for CuPy arrays (one GPU per process), bootstrapped over MPI.

Rank 0 creates the NCCL unique id and MPI broadcasts it; every rank then builds a
`cupy.cuda.nccl.NcclCommunicator(size, id, rank)` on device `rank % device_count` (or the
device given). Collectives run on CuPy's current stream, so they are ordered with the kernels
around them; `wait()` synchronises that stream. Objects (signatures, metrics) travel over the
MPI group. NCCL has no deadline of its own: a dead peer is caught by the MPI group's deadline at
the next object exchange, and `abort()` calls ncclCommAbort before MPI_Abort.
"""
from __future__ import annotations

from .group import MPIGroup, ProcessGroup, _check_scatter_shape


def nccl_available() -> bool:
    """True when CuPy, its NCCL binding and a CUDA device are all usable."""
    try:
        import cupy
        from cupy.cuda import nccl  # noqa: F401
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # missing package, missing libnccl, no driver: all mean "not usable"
        return False


class _StreamWork:
    def __init__(self, stream, result):
        self.stream, self.result = stream, result

    def test(self) -> bool:
        return self.stream.done

    def wait(self):
        self.stream.synchronize()
        return self.result


class NCCLGroup(ProcessGroup):
    """MPI_COMM_WORLD's processes, one GPU each, exchanging CuPy arrays through NCCL."""

    backend = "nccl"

    def __init__(self, mpi_group=None, device=None, timeout=None):
        if not nccl_available():
            raise RuntimeError("the NCCL backend needs CuPy with NCCL and a CUDA device "
                               "(pip install tinyconv[cuda]); none is usable here")
        import cupy
        from cupy.cuda import nccl
        self.cupy, self.nccl = cupy, nccl
        self.mpi = mpi_group if mpi_group is not None else MPIGroup(timeout=timeout)
        super().__init__(self.mpi.rank, self.mpi.size, self.mpi.timeout)
        self.device = self.rank % cupy.cuda.runtime.getDeviceCount() if device is None else int(device)
        cupy.cuda.Device(self.device).use()
        uid = nccl.get_unique_id() if self.rank == 0 else None
        uid = self.mpi.allgather_object(uid)[0]
        self.comm = nccl.NcclCommunicator(self.size, uid, self.rank)
        self.library = f"NCCL {nccl.get_version()}"

    def _dtype(self, buf, name):
        if not isinstance(buf, self.cupy.ndarray):
            raise TypeError(f"{name}: the NCCL group works on CuPy arrays, got {type(buf).__name__}; "
                            "use the MPI group for NumPy arrays")
        if not buf.flags.c_contiguous:
            raise ValueError(f"{name}: the buffer must be C-contiguous (shape {buf.shape})")
        kinds = {"float16": self.nccl.NCCL_FLOAT16, "float32": self.nccl.NCCL_FLOAT32,
                 "float64": self.nccl.NCCL_FLOAT64, "int32": self.nccl.NCCL_INT32,
                 "int64": self.nccl.NCCL_INT64, "uint8": self.nccl.NCCL_UINT8}
        if buf.dtype.name not in kinds:
            raise TypeError(f"{name}: NCCL cannot move {buf.dtype} arrays")
        return kinds[buf.dtype.name]

    def _stream(self):
        return self.cupy.cuda.get_current_stream()

    def iallreduce_(self, buf):
        dt, s = self._dtype(buf, "allreduce_"), self._stream()
        self.comm.allReduce(buf.data.ptr, buf.data.ptr, buf.size, dt, self.nccl.NCCL_SUM, s.ptr)
        return _StreamWork(s, buf)

    def broadcast_(self, buf, root=0):
        dt, s = self._dtype(buf, "broadcast_"), self._stream()
        if not 0 <= root < self.size:
            raise ValueError(f"broadcast_: root {root} out of range for a world of {self.size}")
        self.comm.broadcast(buf.data.ptr, buf.data.ptr, buf.size, dt, root, s.ptr)
        return _StreamWork(s, buf).wait()

    def iallgather(self, buf):
        buf = self.cupy.ascontiguousarray(buf)
        dt, s = self._dtype(buf, "allgather"), self._stream()
        out = self.cupy.empty((self.size,) + buf.shape, dtype=buf.dtype)
        self.comm.allGather(buf.data.ptr, out.data.ptr, buf.size, dt, s.ptr)
        return _StreamWork(s, out)

    def allgather(self, buf):
        return self.iallgather(buf).wait()

    def reduce_scatter(self, buf):
        _check_scatter_shape(buf, self.size)
        buf = self.cupy.ascontiguousarray(buf)
        dt, s = self._dtype(buf, "reduce_scatter"), self._stream()
        out = self.cupy.empty(buf.shape[1:], dtype=buf.dtype)
        self.comm.reduceScatter(buf.data.ptr, out.data.ptr, out.size, dt, self.nccl.NCCL_SUM, s.ptr)
        return _StreamWork(s, out).wait()

    def allgather_object(self, obj):
        return self.mpi.allgather_object(obj)

    def barrier(self):
        self._stream().synchronize()
        self.mpi.barrier()

    def abort(self, message, code=1):
        self.comm.abort()
        self.mpi.abort(message, code)
