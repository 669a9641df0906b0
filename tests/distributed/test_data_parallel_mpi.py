"""Data parallel over 2 MPI ranks: broadcast, bucketed (and deterministic) gradient averaging."""
import re


def test_ddp_two_ranks(mpirun, python, workers):
    code, out, err, _ = mpirun([python, workers / "ddp.py"])
    assert code == 0, out + err
    for check in ("broadcast", "deterministic", "sgd", "accumulate", "mismatch"):
        ranks = sorted(re.findall(rf"OK {check} rank (\d)", out))
        assert ranks == ["0", "1"], f"{check}: {out}\n{err}"
