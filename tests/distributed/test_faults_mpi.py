"""A rank that dies or hangs ends the job quickly, with the lost rank named."""
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import tinyconv as tc


def _pid_of(out, rank):
    found = re.search(rf"rank {rank} = pid (\d+)", out)
    assert found, out
    return found.group(1)


def test_killed_rank_ends_the_job_and_the_launcher_names_its_pid(mpirun, python, workers):
    code, out, err, seconds = mpirun([python, workers / "fault.py", "kill"], timeout=60)
    assert code != 0 and seconds < 60
    assert "finished all steps" not in out
    # MPICH's launcher stops every rank at once and names the dead process by the PID that
    # rank 1 announced (the CLI prints the same rank -> pid table)
    assert re.search(rf"PID {_pid_of(out, 1)} RUNNING AT .*\n.*EXIT CODE: 9", out + err), out + err


@pytest.mark.parametrize("mode", ["kill", "hang"])
def test_survivor_names_the_lost_rank(mpirun, python, workers, mode):
    # "kill": the rank runs under a shell with MPICH's cleanup off, so the launcher does not stop
    # the survivor and leaves it to its own deadline (as launchers that do not clean up do).
    # "hang": rank 1 stays alive but silent, outside MPI; MPI_Abort then ends it.
    worker = [python, workers / "fault.py", mode]
    if mode == "kill":
        worker = ["-disable-auto-cleanup", "sh", "-c", " ".join(map(str, worker))]
    code, out, err, seconds = mpirun(worker, timeout=60, env={"TINYCONV_DIST_TIMEOUT": "4"})
    assert code != 0 and seconds < 60
    assert "finished all steps" not in out
    assert re.search(r"rank 0 of 2: lost rank 1: no reply within 4 s during an allreduce", err), out + err


def _pump(stream, sink):
    for line in stream:
        sink.append(line)


@pytest.mark.parametrize("cleanup", [True, False], ids=["launcher-cleanup", "own-deadline"])
def test_killing_a_rank_of_tinyconv_train_mid_epoch(mpistart, tmp_path, cleanup):
    """The acceptance, on the CLI itself: rank 1 of `mpiexec -n 2 tinyconv train lenet5` is killed
    from outside (SIGKILL) in the middle of epoch 2; the job ends within 60 s and says that rank 1
    is lost. With MPICH's cleanup (its default) the launcher stops the survivor at once (SIGTERM
    and SIGKILL back to back: no handler of the survivor's gets to run) and names the dead
    process by the PID that the CLI listed as rank 1's; without it (launchers that leave the
    survivors running) the survivor's own deadline (--dist-timeout 8 here; 45 s by default, then
    <= 5 s of pings) finds rank 1 silent and names it. The checkpoint, written after every epoch,
    shows where the kill landed."""
    # batch 16: 250 steps an epoch, so that epoch 2 outlasts the moment of the kill on a fast machine
    # (at batch 64 an epoch took ~0.2 s once the kernels got faster)
    train = [Path(sys.executable).parent / "tinyconv", "train", "lenet5", "--epochs", "4",
             "--batch-size", "16", "--no-progress", "--dist-timeout", "8", "--out", tmp_path]
    # without cleanup the rank runs under a shell, so that its death is an ordinary exit of
    # the shell to the launcher (see test_survivor_names_the_lost_rank)
    args = train if cleanup else ["-disable-auto-cleanup", "sh", "-c", " ".join(map(str, train))]
    proc = mpistart(args)
    out, err = [], []
    pumps = [threading.Thread(target=_pump, args=(s, sink), daemon=True)
             for s, sink in ((proc.stdout, out), (proc.stderr, err))]
    for p in pumps:
        p.start()
    checkpoint = tmp_path / "checkpoint.npz"
    deadline = time.monotonic() + 240
    while not checkpoint.exists():  # rank 0 writes it (atomically) when epoch 1 is over
        assert proc.poll() is None and time.monotonic() < deadline, "".join(out + err)
        time.sleep(0.01)
    listed = re.search(r"rank 1 = pid (\d+)", "".join(out))  # the CLI's first lines
    assert listed, "".join(out + err)
    pid = int(listed.group(1))
    time.sleep(0.05)  # into epoch 2
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    try:
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("the job outlived its killed rank by 60 s:\n" + "".join(out + err))
    seconds = time.monotonic() - killed
    for p in pumps:
        p.join(10)
    text = "".join(out + err)
    assert code != 0 and seconds < 60, text
    assert tc.load(checkpoint)["epoch"] == 1, "the kill did not land in epoch 2"
    assert "test accuracy" not in text
    if cleanup:  # MPICH's launcher names the PID that the CLI's first lines gave as rank 1's
        assert re.search(rf"PID {pid} RUNNING AT .*\n.*EXIT CODE: 9", text), text
    else:
        assert re.search(r"rank 0 of 2: lost rank 1: no reply within 8 s during an? \w+", text), text
