"""`tinyconv distill` on a tiny run, the student model, and tinyconv.distill's training loop."""
import json

import numpy as np
import pytest

import tinyconv as tc
from tinyconv import cli, data, models, optim, serialization
from tinyconv.distill import fit_distill, teacher_logits


def test_lenet5_small_is_a_fraction_of_lenet5():
    small = models.lenet5_small()
    assert models.count_parameters(small) == 8042
    assert models.count_parameters(small) * 7 < models.count_parameters(models.lenet5())
    assert small(tc.tensor(np.zeros((2, 1, 32, 32), np.float32))).shape == (2, 10)
    assert models.count_parameters(models.lenet5_small(widths=(6, 16, 120, 84))) == 61706
    with pytest.raises(ValueError, match="widths must be four positive ints"):
        models.lenet5_small(widths=(4, 8, 0, 16))
    with pytest.raises(ValueError, match=r"\(N, 1, 32, 32\)"):
        small(tc.tensor(np.zeros((2, 1, 28, 28), np.float32)))


@pytest.fixture
def teacher_ckpt(tmp_path):
    """An untrained LeNet-5 saved the way `tinyconv train lenet5` saves one (fast; the test is
    about the plumbing, the notebook about the learning)."""
    tc.manual_seed(3)
    path = tmp_path / "teacher.npz"
    serialization.save({"arch": "lenet5", "activation": "relu", "pool": "max",
                        "model": models.lenet5().state_dict()}, path)
    return path


def test_distill_writes_a_checkpoint_and_metrics(tmp_path, teacher_ckpt, capsys):
    out = tmp_path / "run"
    assert cli.main(["distill", "--teacher", str(teacher_ckpt), "--student", "lenet5-small", "--T", "4",
                     "--alpha", "0.9", "--epochs", "1", "--omit-class", "3", "--out", str(out)]) == 0
    assert "digit 3 (never seen)" in capsys.readouterr().out
    report = json.loads((out / "metrics.json").read_text())
    assert report["student_parameters"] == 8042 and report["teacher_parameters"] == 61706
    assert report["train_images"] == 3600 and report["test_images"] == 1000  # 400 threes left out
    assert report["config"]["T"] == 4.0 and report["config"]["alpha"] == 0.9
    assert len(report["history"]) == 1 and len(report["per_class_accuracy"]) == 10
    cm = np.array(report["confusion_matrix"])
    assert cm.sum() == 1000 and np.trace(cm) / 1000 == pytest.approx(report["test_accuracy"])
    state = serialization.load(out / "checkpoint.npz")
    assert state["arch"] == "lenet5_small"
    student = models.lenet5_small()
    student.load_state_dict(state["model"])  # the saved weights give the reported accuracy
    from tinyconv.train import evaluate
    transform = data.Compose([data.Pad(2), data.Normalize(data.MNIST_MEAN, data.MNIST_STD)])
    acc = evaluate(student, data.DataLoader(data.MNIST(train=False), batch_size=500, transform=transform))
    assert acc["accuracy"] == report["test_accuracy"]
    capsys.readouterr()
    assert cli.main(["evaluate", str(out), "--out", str(tmp_path / "cm.png")]) == 0  # evaluate reads students
    assert f"accuracy {100 * report['test_accuracy']:.2f}%" in capsys.readouterr().out


def test_bad_arguments(tmp_path, teacher_ckpt):
    for flags in (["--T", "0"], ["--alpha", "1.5"], ["--student", "alexnet"], ["--epochs", "0"]):
        with pytest.raises(SystemExit):
            cli.main(["distill", "--teacher", str(teacher_ckpt), *flags])
    assert cli.main(["distill", "--teacher", str(teacher_ckpt), "--omit-class", "11",
                     "--out", str(tmp_path / "x")]) == 2
    assert cli.main(["distill", "--teacher", str(tmp_path / "missing.npz"),
                     "--out", str(tmp_path / "x")]) == 2


def test_precomputed_teacher_logits_equal_running_the_teacher(rng):
    x = rng.random((96, 1, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, 96)
    tc.manual_seed(0)
    teacher = models.lenet5()
    soft = teacher_logits(teacher, data.DataLoader(data.TensorDataset(x, y), batch_size=40))
    test = data.DataLoader(data.TensorDataset(x, y), batch_size=96)
    runs = []
    for fields, with_teacher in (((x, y, soft), None), ((x, y), teacher)):
        tc.manual_seed(1)
        student = models.lenet5_small()
        opt = optim.SGD(student.parameters(), lr=0.05, momentum=0.9)
        loader = data.DataLoader(data.TensorDataset(*fields), batch_size=32, shuffle=True, seed=0)
        h = fit_distill(student, opt, loader, test, 2, teacher=with_teacher, T=3.0, alpha=0.7, log=lambda *a: None)
        runs.append((h[-1]["train_loss"], student.classifier[4].weight.numpy().copy()))
    # equal up to the rounding of batch-size dependent GEMM blocking (teacher batches of 40 vs 32)
    assert runs[0][0] == pytest.approx(runs[1][0], rel=1e-5)
    np.testing.assert_allclose(runs[0][1], runs[1][1], rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="no teacher"):
        fit_distill(student, opt, data.DataLoader(data.TensorDataset(x, y), batch_size=32), test, 1)
