"""`mpiexec -n 2 tinyconv train lenet5` trains the weights one process trains."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinyconv as tc


def _tinyconv():
    return str(Path(sys.executable).parent / "tinyconv")


def test_two_processes_train_the_single_process_weights(mpirun, tmp_path):
    # float64: in float32 a rounding difference (1e-7) can flip a near-tie of a max-pool window
    # within an epoch and move the weights by percents, in one process too (other thread count,
    # other backend); float64 makes such a flip vanishingly rare, so the runs must agree closely.
    args = ["train", "lenet5", "--epochs", "1", "--no-progress", "--batch-size", "64", "--dtype", "float64"]
    threads = dict(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1",
                   TINYCONV_BACKEND="numpy")
    single = subprocess.run([_tinyconv()] + args + ["--out", str(tmp_path / "one")],
                            env=dict(os.environ, **threads), capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stdout + single.stderr
    code, out, err, _ = mpirun([_tinyconv()] + args + ["--out", tmp_path / "two"], timeout=300, env=threads)
    assert code == 0, out + err
    assert "distributed: 2 processes over mpi" in out and "32 images each of every global batch of 64" in out
    assert out.count("test accuracy") == 1  # rank 0 alone reports
    one = tc.load(tmp_path / "one" / "checkpoint.npz")["model"]
    two = tc.load(tmp_path / "two" / "checkpoint.npz")["model"]
    assert one.keys() == two.keys()
    for key in one:
        assert one[key].dtype == np.float64
        np.testing.assert_allclose(two[key], one[key], rtol=1e-9, atol=1e-9 * np.abs(one[key]).max(),
                                   err_msg=key)
    first = json.loads((tmp_path / "one" / "metrics.json").read_text())
    report = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert report["test_accuracy"] == first["test_accuracy"]
    assert abs(report["history"][0]["train_loss"] - first["history"][0]["train_loss"]) < 1e-9
    assert (report["world_size"], report["dist_backend"]) == (2, "mpi")


def test_batch_not_divisible_by_the_world_is_refused(mpirun, tmp_path):
    code, out, err, _ = mpirun([_tinyconv(), "train", "lenet5", "--epochs", "1", "--batch-size", "63",
                                "--no-progress", "--out", tmp_path], timeout=120)
    assert code != 0
    assert "--batch-size 63 is the global batch; it must be divisible by the 2 processes" in err


def test_help_documents_mpiexec():
    from tinyconv.cli import build_parser
    text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    assert "mpiexec -n 2 tinyconv train lenet5" in text and "--dist-backend" in text
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "lenet5", "--dist-backend", "gloo"])
