"""`tinyconv robustness` and tinyconv.robustness.corruption_accuracy against a direct evaluation."""
import csv
import json

import numpy as np
import pytest

import tinyconv as tc
from tinyconv import cli, data, models
from tinyconv.data import corruptions as C
from tinyconv.robustness import corruption_accuracy


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A LeNet-5 trained for a few steps: far from chance, far from perfect."""
    folder = tmp_path_factory.mktemp("run")
    tc.manual_seed(0)
    model = models.lenet5()
    train = data.MNIST(train=True)
    x = data.Normalize(data.MNIST_MEAN, data.MNIST_STD)(data.Pad(2)(train.data[:1280, None] / np.float32(255)))
    opt = tc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for i in range(0, 1280, 64):
        opt.zero_grad()
        tc.nn.functional.cross_entropy(model(tc.tensor(x[i:i + 64])), tc.tensor(train.targets[i:i + 64])).backward()
        opt.step()
    tc.save({"model": model.state_dict(), "arch": "lenet5", "activation": "relu", "pool": "max"},
            folder / "checkpoint.npz")
    return folder, model.eval()


def _accuracy(model, images, labels):
    x = data.Normalize(data.MNIST_MEAN, data.MNIST_STD)(data.Pad(2)(images[:, None]))
    with tc.no_grad():
        return float((model(tc.tensor(x)).numpy().argmax(1) == labels).mean())


def test_table_csv_json_and_heat_map_match_a_direct_evaluation(checkpoint, tmp_path, capsys):
    folder, model = checkpoint
    out = tmp_path / "rob"
    assert cli.main(["robustness", str(folder), "--corruptions", "gaussian_noise,rotate",
                     "--severities", "1,4-5", "--out", str(out), "--seed", "3"]) == 0
    printed = capsys.readouterr().out
    test_set = data.MNIST(train=False)
    images, labels = test_set.data.astype(np.float32) / 255, test_set.targets
    clean = _accuracy(model, images, labels)
    assert 0.3 < clean < 0.97
    want = {name: [clean] + [_accuracy(model, C.CORRUPTIONS[name](images, s, seed=3), labels) for s in (1, 4, 5)]
            for name in ("gaussian_noise", "rotate")}
    assert want["rotate"][3] < clean  # a 60-degree turn costs accuracy
    report = json.loads((out / "robustness.json").read_text())
    assert report["severities"] == [1, 4, 5] and report["images"] == 1000 and report["seed"] == 3
    assert report["clean_accuracy"] == pytest.approx(clean, abs=1e-12)
    assert report["parameters"]["rotate"] == list(C.SEVERITIES["rotate"])
    with open(out / "robustness.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["corruption", "severity_0", "severity_1", "severity_4", "severity_5", "mean"]
    for row, name in zip(rows[1:], ("gaussian_noise", "rotate")):
        acc = want[name]
        assert [float(v) for v in row[1:5]] == pytest.approx([100 * a for a in acc], abs=0.006)
        assert float(row[5]) == pytest.approx(100 * np.mean(acc[1:]), abs=0.006)
        assert [report["accuracy"][name][s] for s in ("1", "4", "5")] == pytest.approx(acc[1:], abs=1e-12)
        line = next(line for line in printed.splitlines() if line.startswith(name))
        assert line.split()[1:] == [f"{100 * a:.2f}" for a in acc] + [f"{100 * np.mean(acc[1:]):.2f}"]
    assert (out / "robustness.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_default_output_goes_beside_the_checkpoint(checkpoint, tmp_path, capsys):
    folder, model = checkpoint
    run = tmp_path / "copy"
    run.mkdir()
    (run / "checkpoint.npz").write_bytes((folder / "checkpoint.npz").read_bytes())
    assert cli.main(["robustness", str(run / "checkpoint.npz"), "--corruptions", "brightness",
                     "--severities", "2"]) == 0
    assert {p.name for p in run.iterdir()} >= {"robustness.csv", "robustness.json", "robustness.png"}
    assert "brightness" in capsys.readouterr().out


def test_bad_arguments(checkpoint, tmp_path, capsys):
    folder, model = checkpoint
    for args in (["--corruptions", "fog"], ["--severities", "0-6"], ["--severities", "x"]):
        with pytest.raises(SystemExit):
            cli.main(["robustness", str(folder), *args])
        assert "robustness: error: argument" in capsys.readouterr().err
    assert cli.main(["robustness", str(folder), "--seed", "-1"]) == 2
    assert "--seed must be >= 0" in capsys.readouterr().err
    tc.save({"model": {}, "arch": "alexnet"}, tmp_path / "other.npz")
    assert cli.main(["robustness", str(tmp_path / "other.npz")]) == 2
    assert "not a checkpoint of `tinyconv train lenet5`" in capsys.readouterr().err
    x = np.zeros((4, 28, 28), np.float32)
    with pytest.raises(ValueError, match="unknown corruptions"):
        corruption_accuracy(model, x, np.zeros(4, np.int64), ["fog"])
    with pytest.raises(ValueError, match="severities"):
        corruption_accuracy(model, x, np.zeros(4, np.int64), severities=[0])
    with pytest.raises(ValueError, match="one label per image"):
        corruption_accuracy(model, x, np.zeros(3, np.int64))
    with pytest.raises(TypeError, match="uint8"):
        corruption_accuracy(model, x.astype(np.uint8), np.zeros(4, np.int64))
