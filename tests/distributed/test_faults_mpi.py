"""A rank that dies or hangs ends the job quickly, with the lost rank named."""
import re

import pytest


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
