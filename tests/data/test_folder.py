"""ImageFolder (class per sub-folder, Pillow decoding, AlexNet's 256 format), CenterCrop, and
`tinyconv train alexnet --data folder` on a small generated folder."""
import json

import numpy as np
import pytest

from tinyconv import cli, data
from tinyconv.data.folder import load_rgb


def _folder(root, rng, per_class=5, size=(40, 30)):
    from PIL import Image
    for c, (name, channel) in enumerate((("blue", 2), ("red", 0))):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            a = rng.integers(0, 60, size[::-1] + (3,), dtype=np.uint8)
            a[..., channel] = 200 + rng.integers(0, 55, size[::-1], dtype=np.uint8)
            ext = ".png" if i % 2 else ".jpg"
            Image.fromarray(a).save(root / name / f"{i}{ext}")
    (root / "red" / "notes.txt").write_text("not an image")
    return root


def test_image_folder_layout_and_decoding(tmp_path, rng):
    from PIL import Image
    root = _folder(tmp_path / "imgs", rng)
    ds = data.ImageFolder(root, size=16)
    assert ds.classes == ["blue", "red"] and ds.class_to_idx == {"blue": 0, "red": 1}
    assert len(ds) == 10 and ds.targets.tolist() == [0] * 5 + [1] * 5
    x, y = ds[0:4]
    assert x.shape == (4, 3, 16, 16) and x.dtype == np.float32 and y.tolist() == [0, 0, 0, 0]
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert (x[:, 2].mean() > x[:, 0].mean() + 0.4)  # blue images are blue
    # the paper's preprocessing: shorter side to `size`, then the central square
    a = np.arange(60 * 90 * 3, dtype=np.uint32).reshape(60, 90, 3) % 251
    Image.fromarray(a.astype(np.uint8)).save(tmp_path / "wide.png")
    got = load_rgb(tmp_path / "wide.png", 60)
    np.testing.assert_array_equal(got, a[:, 15:75].transpose(2, 0, 1))  # no resize needed: a crop
    sub = ds.subset([9, 0])
    assert sub.targets.tolist() == [1, 0] and sub.classes == ds.classes


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a directory"):
        data.ImageFolder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no class sub-folders"):
        data.ImageFolder(tmp_path / "empty")
    (tmp_path / "empty" / "cls").mkdir()
    with pytest.raises(ValueError, match="holds no images"):
        data.ImageFolder(tmp_path / "empty")
    (tmp_path / "empty" / "cls" / "bad.png").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a readable image"):
        data.ImageFolder(tmp_path / "empty")[0]


def test_center_crop():
    x = np.arange(2 * 1 * 5 * 6, dtype=np.float32).reshape(2, 1, 5, 6)
    np.testing.assert_array_equal(data.CenterCrop((3, 2))(x), x[:, :, 1:4, 2:4])
    with pytest.raises(ValueError, match="larger"):
        data.CenterCrop(7)(x)


def test_train_alexnet_on_a_folder(tmp_path, rng, capsys):
    root = _folder(tmp_path / "imgs", rng, per_class=3)
    out = tmp_path / "run"
    rc = cli.main(["train", "alexnet", "--data", "folder", "--data-dir", str(root), "--epochs", "1",
                   "--batch-size", "4", "--no-progress", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    report = json.loads((out / "metrics.json").read_text())
    assert report["classes"] == ["blue", "red"] and report["train_images"] == 4
    assert report["val_images"] == 2 and len(report["history"]) == 1
    assert np.isfinite(report["history"][0]["train_loss"])
    assert cli.main(["train", "alexnet", "--data", "mnist5k"]) == 2
    assert "--data folder --data-dir" in capsys.readouterr().err
