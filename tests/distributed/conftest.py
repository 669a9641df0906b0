"""`mpirun`: run a command under `mpiexec -n 2` with a deadline, so a hang fails the test;
`mpistart`: start one in the background, for tests that act on the running job."""
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


def _launcher():
    pytest.importorskip("mpi4py", reason="mpi4py is not installed (pip install 'tinyconv[distributed]')")
    launcher = _mpiexec()
    if launcher is None:
        pytest.skip("no mpiexec on PATH (pip install mpich)")
    return launcher


def mpi_env(env=None):
    """The ranks' environment: one thread each unless `env` says otherwise (a value of None
    removes the variable, e.g. to keep a library's default thread count)."""
    full = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1",
                TINYCONV_DIST_TIMEOUT="30", PYTHONUNBUFFERED="1")
    for key, value in (env or {}).items():
        if value is None:
            full.pop(key, None)
        else:
            full[key] = value
    return full


@pytest.fixture
def mpirun():
    launcher = _launcher()

    def run(args, n=2, timeout=90, env=None):
        """(returncode, stdout, stderr, seconds) of `mpiexec -n n args`; a run past `timeout` fails."""
        import time
        cmd = [launcher, "-n", str(n)] + [str(a) for a in args]
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=mpi_env(env), start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the launcher and every rank it started
            out, err = proc.communicate()
            pytest.fail(f"`{' '.join(cmd)}` hung for more than {timeout} s\n{out}\n{err}")
        return proc.returncode, out, err, time.monotonic() - start

    return run


@pytest.fixture
def mpistart():
    """Start `mpiexec -n n args` in the background (text pipes) and return its Popen, for tests
    that act on a running job; whatever is left of the job is killed when the test ends."""
    launcher = _launcher()
    started = []

    def start(args, n=2, env=None):
        proc = subprocess.Popen([launcher, "-n", str(n)] + [str(a) for a in args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=mpi_env(env), start_new_session=True)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()


@pytest.fixture
def python():
    return sys.executable


@pytest.fixture
def workers():
    """The folder of the scripts each rank runs."""
    return WORKERS
