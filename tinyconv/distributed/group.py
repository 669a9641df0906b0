"""Process groups: the handful of collectives data and model parallelism need, over one engine.

A group answers the same calls whatever moves the bytes:

    allreduce_(buf)        sum over ranks, in place          iallreduce_(buf) -> Work (.wait())
    broadcast_(buf, root)  root's values everywhere, in place
    allgather(buf)         (size, *buf.shape): every rank's buf, in rank order
    reduce_scatter(buf)    buf of shape (size, *s): rank r gets sum over ranks of buf[r]
    allgather_object(obj)  small picklable objects (model signatures, metrics)
    barrier(), abort(message)

`LocalGroup` is the world of one process (no MPI needed). `MPIGroup` works on NumPy arrays
through mpi4py. `NCCLGroup` (nccl.py) works on CuPy arrays and keeps an MPIGroup for objects.

Fault handling: every MPI collective is started non-blocking and waited on with a deadline
(`timeout`, seconds). When the deadline passes, the waiting rank asks each peer, point to point,
whether it is still alive (a rank waiting in any collective answers), names the ranks that do not
answer, prints one line to stderr and aborts the whole job (MPI_Abort), so a dead or stuck rank
ends the run instead of hanging it.
"""
from __future__ import annotations

import os
import socket
import sys
import time

import numpy as np

DEFAULT_TIMEOUT = float(os.environ.get("TINYCONV_DIST_TIMEOUT", "45"))
_PING, _PONG = 0x7C01, 0x7C02
# Waiting for a collective without burning a core that the compute threads (ours or another
# rank's, on a 2-core machine) need, and without adding a fixed nap to every collective:
# poll for _SPIN_S (a small message whose peers are already inside the collective ends within
# microseconds); then nap, doubling the nap from _FIRST_PAUSE_S (Linux's timer slack makes it
# ~55 us) up to _MAX_PAUSE_S, so that a wait overshoots by at most about its own length, and
# after each nap poll for _BURST_S: MPICH moves a message only inside MPI calls, so a large one
# would crawl on one Test per nap. Long waits (a slow peer) nap up to 1/20 of the time waited,
# at most _LONG_PAUSE_S. Replaces 64 polls then a fixed 0.5 ms nap: +0.6-1.2 ms on every
# small all-reduce whose peer came a little late (measured, see benchmarks/scaling.py).
_SPIN_S, _BURST_S = 50e-6, 20e-6
_FIRST_PAUSE_S, _MAX_PAUSE_S, _LONG_PAUSE_S = 5e-6, 5e-4, 5e-3


def _poll(test, until) -> bool:
    """Call test() until it returns True (-> True) or the clock passes `until` (-> False)."""
    while True:
        for _ in range(4):
            if test():
                return True
        if time.monotonic() > until:
            return False


class DistributedError(RuntimeError):
    """A distributed setup or communication failure (raised identically on every rank)."""


def _check_timeout(timeout):
    if timeout is None:
        return DEFAULT_TIMEOUT
    timeout = float(timeout)
    if not timeout > 0:
        raise ValueError(f"timeout must be positive seconds, got {timeout}")
    return timeout


class _Done:
    """The Work of a collective that completed already."""

    def __init__(self, result=None):
        self.result = result

    def test(self) -> bool:
        return True

    def wait(self):
        return self.result


class ProcessGroup:
    """Base of every group: `rank`, `size`, `backend`, and the collectives listed above."""

    backend = "?"

    def __init__(self, rank: int, size: int, timeout=None):
        self.rank, self.size = int(rank), int(size)
        self.timeout = _check_timeout(timeout)

    def allreduce_(self, buf):
        return self.iallreduce_(buf).wait()

    def __repr__(self):
        return f"{type(self).__name__}(backend={self.backend!r}, rank={self.rank}, size={self.size})"


class LocalGroup(ProcessGroup):
    """The world of one process: every collective is the identity (copies where one is expected)."""

    backend = "local"

    def __init__(self, timeout=None):
        super().__init__(0, 1, timeout)

    def iallreduce_(self, buf):
        return _Done(buf)

    def broadcast_(self, buf, root=0):
        if root != 0:
            raise ValueError(f"broadcast_: root {root} out of range for a world of 1")
        return buf

    def iallgather(self, buf):
        return _Done(buf[None].copy())

    def allgather(self, buf):
        return buf[None].copy()

    def reduce_scatter(self, buf):
        _check_scatter_shape(buf, 1)
        return buf[0].copy()

    def allgather_object(self, obj):
        return [obj]

    def barrier(self):
        pass

    def abort(self, message, code=1):
        raise DistributedError(message)


def _check_scatter_shape(buf, size):
    if buf.ndim < 1 or buf.shape[0] != size:
        raise ValueError(f"reduce_scatter: buf must have a leading axis of size {size} (one slice "
                         f"per rank), got shape {tuple(buf.shape)}")


class _MPIWork:
    """A started MPI collective; `wait()` enforces the group's deadline."""

    def __init__(self, group, request, what, result, finish=None):
        self.group, self.request, self.what = group, request, what
        self.result, self.finish, self.done = result, finish, False

    def test(self) -> bool:
        if not self.done:
            self.done = bool(self.request.Test())
        return self.done

    def wait(self):
        if not self.done:
            self.group._wait(self.request, self.what)
            self.done = True
        if self.finish is not None:
            self.result, self.finish = self.finish(self.result), None
        return self.result


class MPIGroup(ProcessGroup):
    """All of MPI_COMM_WORLD (or `comm`), for NumPy arrays. Needs mpi4py (tinyconv[distributed])."""

    backend = "mpi"

    def __init__(self, comm=None, timeout=None):
        from mpi4py import MPI
        self.MPI = MPI
        comm = MPI.COMM_WORLD if comm is None else comm
        super().__init__(comm.Get_rank(), comm.Get_size(), timeout)
        # Separate communicators keep our collectives, liveness pings and a user's own MPI
        # traffic from ever matching each other's messages.
        self.comm, self.ctl = comm.Dup(), comm.Dup()
        self.library = " ".join(MPI.Get_library_version().split()[:3])
        # (host, pid) of every rank: on one host, a rank whose process is gone can be named
        self.peers = self.allgather_object((socket.gethostname(), os.getpid()))

    # --- the deadline -----------------------------------------------------------------------
    def _answer_pings(self):
        status = self.MPI.Status()
        while self.ctl.Iprobe(source=self.MPI.ANY_SOURCE, tag=_PING, status=status):
            peer = status.Get_source()
            self.ctl.recv(source=peer, tag=_PING)
            self.ctl.isend(self.rank, dest=peer, tag=_PONG)

    def _wait(self, request, what):
        """Poll `request` to completion: see _SPIN_S and the pauses above."""
        test = request.Test
        if test():
            return
        start = time.monotonic()
        if _poll(test, start + _SPIN_S):
            return
        pause = _FIRST_PAUSE_S
        while True:
            self._answer_pings()
            elapsed = time.monotonic() - start
            if elapsed > self.timeout:
                self._lost(what)
            time.sleep(pause)
            if _poll(test, time.monotonic() + _BURST_S):
                return
            pause = min(2 * pause, max(_MAX_PAUSE_S, min(_LONG_PAUSE_S, elapsed / 20)))

    def _silent_peers(self, window):
        """Ranks that do not answer a ping within `window` seconds (dead, or stuck outside MPI)."""
        peers = [p for p in range(self.size) if p != self.rank]
        for p in peers:
            self.ctl.isend(self.rank, dest=p, tag=_PING)
        replies = {p: self.ctl.irecv(source=p, tag=_PONG) for p in peers}
        deadline = time.monotonic() + window
        while replies and time.monotonic() < deadline:
            self._answer_pings()
            for p in [p for p, r in replies.items() if r.test()[0]]:
                del replies[p]
            time.sleep(0.005)
        return sorted(replies)

    def dead_local_peers(self) -> list:
        """Ranks on this host whose process has exited (gone, or a zombie not yet reaped)."""
        host = socket.gethostname()
        return [r for r, (h, pid) in enumerate(self.peers)
                if r != self.rank and h == host and not _process_alive(pid)]

    def _lost(self, what):
        silent = self._silent_peers(window=min(5.0, self.timeout / 4))
        if silent:
            who = "rank" + ("s " if len(silent) > 1 else " ") + ", ".join(map(str, silent))
            reason = f"lost {who}: no reply within {self.timeout:g} s during {what} (dead or hung)"
        else:
            reason = (f"{what} did not complete within {self.timeout:g} s although every rank "
                      "answers; the ranks are probably running different collectives")
        self.abort(f"tinyconv.distributed: rank {self.rank} of {self.size}: {reason}; aborting the job")

    def abort(self, message, code=1):
        """Print `message` and end every rank of the job (MPI_Abort); never returns."""
        sys.stdout.flush()
        print(message, file=sys.stderr, flush=True)
        self.comm.Abort(code)

    # --- collectives --------------------------------------------------------------------
    def iallreduce_(self, buf):
        _check_host(buf, "allreduce_")
        req = self.comm.Iallreduce(self.MPI.IN_PLACE, buf, op=self.MPI.SUM)
        return _MPIWork(self, req, f"an allreduce of {buf.size} x {buf.dtype}", buf)

    def broadcast_(self, buf, root=0):
        _check_host(buf, "broadcast_")
        self._check_root(root)
        req = self.comm.Ibcast(buf, root=root)
        return _MPIWork(self, req, f"a broadcast of {buf.size} x {buf.dtype}", buf).wait()

    def iallgather(self, buf):
        _check_host(buf, "allgather")
        buf = np.ascontiguousarray(buf)
        out = np.empty((self.size,) + buf.shape, dtype=buf.dtype)
        req = self.comm.Iallgather(buf, out)
        return _MPIWork(self, req, f"an allgather of {buf.size} x {buf.dtype}", out)

    def allgather(self, buf):
        return self.iallgather(buf).wait()

    def reduce_scatter(self, buf):
        _check_host(buf, "reduce_scatter")
        _check_scatter_shape(buf, self.size)
        buf = np.ascontiguousarray(buf)
        out = np.empty(buf.shape[1:], dtype=buf.dtype)
        req = self.comm.Ireduce_scatter_block(buf, out, op=self.MPI.SUM)
        return _MPIWork(self, req, f"a reduce-scatter of {buf.size} x {buf.dtype}", out).wait()

    def allgather_object(self, obj):
        import pickle
        data = np.frombuffer(pickle.dumps(obj), dtype=np.uint8)
        sizes = self.allgather(np.array([data.size], dtype=np.int64))[:, 0]
        padded = np.zeros(int(sizes.max()), dtype=np.uint8)
        padded[:data.size] = data
        rows = self.allgather(padded)
        return [pickle.loads(rows[r, :sizes[r]].tobytes()) for r in range(self.size)]

    def barrier(self):
        _MPIWork(self, self.comm.Ibarrier(), "a barrier", None).wait()

    def _check_root(self, root):
        if not 0 <= root < self.size:
            raise ValueError(f"broadcast_: root {root} out of range for a world of {self.size}")


def _process_alive(pid) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True  # no /proc: existing is all we can tell


def _check_host(buf, name):
    if not isinstance(buf, np.ndarray):
        raise TypeError(f"{name}: the MPI group works on NumPy arrays, got {type(buf).__module__}."
                        f"{type(buf).__name__}; use the NCCL group for CuPy arrays")
    if not buf.flags.c_contiguous:
        raise ValueError(f"{name}: the buffer must be C-contiguous (shape {buf.shape})")
