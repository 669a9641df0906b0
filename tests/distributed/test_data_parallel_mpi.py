"""Data parallel over 2 MPI ranks: broadcast, bucketed (and deterministic) gradient averaging."""
import re


def test_ddp_two_ranks(mpirun, python, workers):
    code, out, err, _ = mpirun([python, workers / "ddp.py"])
    assert code == 0, out + err
    for check in ("broadcast", "deterministic", "sgd", "accumulate", "mismatch"):
        ranks = sorted(re.findall(rf"OK {check} rank (\d)", out))
        assert ranks == ["0", "1"], f"{check}: {out}\n{err}"


def test_ddp_two_ranks_default_float32_path(mpirun, python, workers):
    # numba, float32: the averaged gradient and 4 SGD steps agree with one process to float32
    # rounding (measured 3e-7 and 1e-7 relative); the float64 numpy checks above are bitwise
    code, out, err, _ = mpirun([python, workers / "ddp_float32.py"])
    assert code == 0, out + err
    for check in ("forward32", "grad32", "sgd32"):
        ranks = sorted(re.findall(rf"OK {check} rank (\d)", out))
        assert ranks == ["0", "1"], f"{check}: {out}\n{err}"
