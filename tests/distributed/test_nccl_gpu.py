"""The NCCL group (CuPy arrays, one GPU a process) behind the same interface as the MPI one."""
import re

import pytest


@pytest.mark.gpu
def test_nccl_group_and_ddp_on_gpus(mpirun, python, workers):
    pytest.importorskip("cupy")
    from tinyconv.distributed import nccl_available
    if not nccl_available():
        pytest.skip("CuPy's NCCL binding or libnccl is missing")
    import cupy
    n = min(2, cupy.cuda.runtime.getDeviceCount())  # NCCL wants one device per rank
    code, out, err, _ = mpirun([python, workers / "nccl.py"], n=n, timeout=300)
    assert code == 0, out + err
    for check in ("collectives", "ddp"):
        assert sorted(re.findall(rf"OK {check} rank (\d)", out)) == [str(q) for q in range(n)], out + err
