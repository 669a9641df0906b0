"""tinyconv evaluate / predict / data download against the library's own answers."""
import numpy as np
import pytest

import tinyconv as tc
from tinyconv import cli, data, metrics, models
from tinyconv.train import evaluate


@pytest.fixture
def checkpoint(tmp_path):
    tc.manual_seed(3)
    model = models.lenet5(activation="tanh", pool="avg")
    tc.save({"model": model.state_dict(), "arch": "lenet5", "activation": "tanh", "pool": "avg"},
            tmp_path / "checkpoint.npz")
    return tmp_path, model


def _test_loader():
    transform = data.Compose([data.Pad(2), data.Normalize(data.MNIST_MEAN, data.MNIST_STD)])
    return data.DataLoader(data.MNIST(train=False), batch_size=500, transform=transform)


def test_evaluate_reports_accuracy_top_k_and_writes_the_matrix(checkpoint, capsys):
    folder, model = checkpoint
    assert cli.main(["evaluate", str(folder), "--top-k", "3"]) == 0
    out = capsys.readouterr().out
    want = evaluate(model, _test_loader())
    assert f"accuracy {100 * want['accuracy']:.2f}%" in out and "top-3" in out
    png = folder / "confusion.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cm = metrics.confusion_matrix(want["preds"], want["targets"], 10)
    recall0 = cm[0, 0] / cm[0].sum()
    assert f"0 {100 * recall0:.1f}%" in out


def test_predict_matches_the_model_on_dataset_images(checkpoint, tmp_path, capsys):
    from PIL import Image
    folder, model = checkpoint
    test_set = data.MNIST(train=False)
    paths = []
    for i in range(3):
        path = tmp_path / f"digit{i}.png"
        Image.fromarray(test_set.data[i]).save(path)
        paths.append(str(path))
    inverted = tmp_path / "inverted.jpg"
    Image.fromarray(255 - test_set.data[0]).save(inverted, quality=100)
    assert cli.main(["predict", str(folder), *paths, "--top-k", "2"]) == 0
    lines = capsys.readouterr().out.strip().split("\n")
    x = _test_loader().dataset[0:3][0]
    x = data.Normalize(data.MNIST_MEAN, data.MNIST_STD)(data.Pad(2)(x))
    with tc.no_grad():
        probs = tc.nn.functional.softmax(model.eval()(tc.tensor(x)), 1).numpy()
    for line, p, path in zip(lines, probs, paths):
        best = int(np.argmax(p))
        assert line.startswith(f"{path}: {best} ({100 * p[best]:.1f}%)")
    assert cli.main(["predict", str(folder), str(inverted), "--invert"]) == 0
    assert capsys.readouterr().out.split(": ")[1].startswith(str(int(np.argmax(probs[0]))))
    (tmp_path / "junk.png").write_bytes(b"not an image")
    assert cli.main(["predict", str(folder), str(tmp_path / "junk.png")]) == 2
    assert "not a readable image" in capsys.readouterr().err


def test_bad_checkpoints_and_data_download(tmp_path, capsys, monkeypatch):
    tc.save({"model": {}, "arch": "alexnet"}, tmp_path / "other.npz")
    assert cli.main(["evaluate", str(tmp_path / "other.npz")]) == 2
    assert "not a checkpoint of `tinyconv train lenet5`" in capsys.readouterr().err
    assert cli.main(["evaluate", str(tmp_path / "missing.npz")]) == 2
    calls = []
    monkeypatch.setattr(data, "download_mnist", lambda root: calls.append(root) or {"a.gz": tmp_path / "a.gz"})
    assert cli.main(["data", "download", "mnist", "--data-dir", str(tmp_path)]) == 0
    assert calls == [str(tmp_path)] and "a.gz  (SHA-256 verified)" in capsys.readouterr().out


def test_predict_without_pillow_is_one_line(checkpoint, tmp_path, capsys, monkeypatch):
    import sys
    folder, _ = checkpoint
    monkeypatch.setitem(sys.modules, "PIL", None)
    assert cli.main(["predict", str(folder), str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'tinyconv[train]'" in err
