"""`mpirun` fixture: run a command under `mpiexec -n 2` with a deadline, so a hang fails the test."""
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

WORKERS = Path(__file__).parent / "workers"


def _mpiexec():
    beside = Path(sys.executable).parent / "mpiexec"  # the MPI that mpi4py was installed with
    return str(beside) if beside.exists() else shutil.which("mpiexec")


@pytest.fixture
def mpirun():
    pytest.importorskip("mpi4py", reason="mpi4py is not installed (pip install 'tinyconv[distributed]')")
    launcher = _mpiexec()
    if launcher is None:
        pytest.skip("no mpiexec on PATH (pip install mpich)")

    def run(args, n=2, timeout=90, env=None):
        """(returncode, stdout, stderr, seconds) of `mpiexec -n n args`; a run past `timeout` fails."""
        import time
        full_env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
                        NUMBA_NUM_THREADS="1", TINYCONV_DIST_TIMEOUT="30", PYTHONUNBUFFERED="1")
        full_env.update(env or {})
        cmd = [launcher, "-n", str(n)] + [str(a) for a in args]
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=full_env, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the launcher and every rank it started
            out, err = proc.communicate()
            pytest.fail(f"`{' '.join(cmd)}` hung for more than {timeout} s\n{out}\n{err}")
        return proc.returncode, out, err, time.monotonic() - start

    return run


@pytest.fixture
def python():
    return sys.executable


@pytest.fixture
def workers():
    """The folder of the scripts each rank runs."""
    return WORKERS
