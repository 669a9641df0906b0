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
    # the default path (numba, float32, each process's default thread count): bitwise the same
    # weights, since every gradient's batch sum splits as DistributedSampler splits the batch
    args = ["train", "lenet5", "--epochs", "1", "--no-progress", "--batch-size", "64"]
    defaults = dict(OMP_NUM_THREADS=None, OPENBLAS_NUM_THREADS=None, NUMBA_NUM_THREADS=None,
                    TINYCONV_BACKEND=None)
    env = {k: v for k, v in os.environ.items() if k not in defaults}
    single = subprocess.run([_tinyconv()] + args + ["--out", str(tmp_path / "one")],
                            env=env, capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stdout + single.stderr
    code, out, err, _ = mpirun([_tinyconv()] + args + ["--out", tmp_path / "two"], timeout=300,
                               env=defaults)
    assert code == 0, out + err
    assert "distributed: 2 processes over mpi" in out and "32 images each of every global batch of 64" in out
    assert out.count("test accuracy") == 1  # rank 0 alone reports
    one = tc.load(tmp_path / "one" / "checkpoint.npz")["model"]
    two = tc.load(tmp_path / "two" / "checkpoint.npz")["model"]
    assert one.keys() == two.keys()
    for key in one:
        assert one[key].dtype == two[key].dtype == np.float32
        np.testing.assert_array_equal(two[key], one[key], err_msg=key)
    first = json.loads((tmp_path / "one" / "metrics.json").read_text())
    report = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert report["test_accuracy"] == first["test_accuracy"]
    assert report["history"][0]["train_loss"] == pytest.approx(first["history"][0]["train_loss"], rel=1e-6)
    assert (report["world_size"], report["dist_backend"]) == (2, "mpi")


def test_float64_numpy_backend_is_bitwise_too(mpirun, tmp_path):
    args = ["train", "lenet5", "--epochs", "1", "--no-progress", "--batch-size", "100", "--dtype",
            "float64", "--backend", "numpy", "--seed", "3"]
    single = subprocess.run([_tinyconv()] + args + ["--out", str(tmp_path / "one")],
                            capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stdout + single.stderr
    code, out, err, _ = mpirun([_tinyconv()] + args + ["--out", tmp_path / "two"], timeout=300)
    assert code == 0, out + err
    one = tc.load(tmp_path / "one" / "checkpoint.npz")["model"]
    two = tc.load(tmp_path / "two" / "checkpoint.npz")["model"]
    for key in one:
        assert one[key].dtype == np.float64
        np.testing.assert_array_equal(two[key], one[key], err_msg=key)


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
