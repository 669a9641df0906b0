"""Data parallel over 2 MPI ranks: broadcast, bucketed (and deterministic) gradient averaging."""
import re


def test_ddp_two_ranks(mpirun, python, workers):
    code, out, err, _ = mpirun([python, workers / "ddp.py"])
    assert code == 0, out + err
    for check in ("broadcast", "deterministic", "sgd", "accumulate", "mismatch"):
        ranks = sorted(re.findall(rf"OK {check} rank (\d)", out))
        assert ranks == ["0", "1"], f"{check}: {out}\n{err}"


def test_ddp_two_ranks_default_float32_path(mpirun, python, workers):
    # numba, float32: the averaged gradient and 4 SGD steps are bitwise one process's
    code, out, err, _ = mpirun([python, workers / "ddp_float32.py"])
    assert code == 0, out + err
    for check in ("forward32", "grad32", "sgd32"):
        ranks = sorted(re.findall(rf"OK {check} rank (\d)", out))
        assert ranks == ["0", "1"], f"{check}: {out}\n{err}"


def test_ddp_four_ranks_deterministic_float32(mpirun, python, workers):
    # 4 ranks (16 and 10 samples each): MPI's reduction order is not the kernels' tree, the
    # deterministic gather adds the ranks as (r0 + r2) + (r1 + r3): bitwise one process again
    code, out, err, _ = mpirun([python, workers / "ddp_float32.py"], n=4, timeout=180)
    assert code == 0, out + err
    for check in ("forward32", "grad32", "sgd32"):
        ranks = sorted(re.findall(rf"OK {check} rank (\d)", out))
        assert ranks == ["0", "1", "2", "3"], f"{check}: {out}\n{err}"
