"""`tinyconv prune`: iterative global magnitude pruning of a LeNet-5 checkpoint, its report and
a pruned checkpoint that the other commands read."""
import json

import numpy as np
import pytest

import tinyconv as tc
from tinyconv import cli
from tinyconv.cli_tools import _load_model
from tinyconv.models import lenet5
from tinyconv.pruning import schedule


@pytest.fixture
def checkpoint(tmp_path):
    tc.manual_seed(3)
    path = tmp_path / "run" / "checkpoint.npz"
    path.parent.mkdir()
    tc.save({"arch": "lenet5", "activation": "relu", "pool": "max", "model": lenet5().state_dict()}, path)
    return path


def test_schedule_prunes_the_same_fraction_of_the_rest():
    assert schedule(0.9, 3, 61470) == [round((1 - 0.1 ** (k / 3)) * 61470) for k in (1, 2, 3)]
    assert schedule(0.9, 3, 61470)[-1] == 55323
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        schedule(1.0, 3, 10)


@pytest.mark.parametrize("epochs", [0, 1])
def test_prune_writes_report_and_a_sparse_checkpoint(checkpoint, tmp_path, epochs, capsys):
    out = tmp_path / "pruned"
    assert cli.main(["prune", str(checkpoint.parent), "--sparsity", "0.8", "--steps", "2",
                     "--epochs-per-step", str(epochs), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "prune.json").read_text())
    assert report["sparsity"] == pytest.approx(round(0.8 * 61470) / 61470)
    assert [s["step"] for s in report["steps"]] == [1, 2] and report["test_images"] == 1000
    assert "classifier.0" in printed and "before" in printed and "after" in printed
    model, _ = _load_model(out)                           # an ordinary LeNet-5 checkpoint
    weights = [m.weight.numpy() for m in model.modules() if hasattr(m, "weight") and m.weight is not None]
    zeros = sum(int((w == 0).sum()) for w in weights)
    assert zeros == round(0.8 * 61470)
    masks = tc.load(out / "checkpoint.npz")["masks"]
    assert set(masks) == {"features.0", "features.3", "classifier.0", "classifier.2", "classifier.4"}
    for name, mask in masks.items():                      # the zeros are exactly the masks' zeros
        w = dict(model.named_parameters())[name + ".weight"].numpy()
        np.testing.assert_array_equal(w == 0, mask == 0)
    if epochs == 0:  # no retraining: the kept weights are the checkpoint's own
        before = tc.load(checkpoint)["model"]
        kept = masks["classifier.0"] == 1
        np.testing.assert_array_equal(model.classifier[0].weight.numpy()[kept], before["classifier.0.weight"][kept])


@pytest.mark.parametrize("args, message", [
    (["--sparsity", "1"], "fraction in [0, 1)"),
    (["--steps", "0"], "int >= 1"),
    (["--epochs-per-step", "-1"], "int >= 0"),
    (["--lr", "0"], "> 0"),
])
def test_bad_options_are_refused(checkpoint, args, message, capsys):
    with pytest.raises(SystemExit):
        cli.main(["prune", str(checkpoint)] + args)
    assert message in capsys.readouterr().err


def test_not_a_lenet_checkpoint(tmp_path, capsys):
    tc.save({"arch": "alexnet", "model": {}}, tmp_path / "c.npz")
    assert cli.main(["prune", str(tmp_path / "c.npz"), "--out", str(tmp_path / "o")]) == 2
    assert "not a checkpoint of `tinyconv train lenet5`" in capsys.readouterr().err


def test_excluded_layers_stay_dense_and_the_target_still_counts_every_weight(checkpoint, tmp_path):
    out = tmp_path / "pruned"
    assert cli.main(["prune", str(checkpoint), "--sparsity", "0.9", "--steps", "1", "--epochs-per-step",
                     "0", "--exclude", "features.0,classifier.4", "--out", str(out), "--no-progress"]) == 0
    report = json.loads((out / "prune.json").read_text())
    assert report["layers"]["features.0"]["nonzero"] == 150 and report["layers"]["classifier.4"]["nonzero"] == 840
    assert report["sparsity"] == pytest.approx(round(0.9 * 61470) / 61470)
    assert cli.main(["prune", str(checkpoint), "--exclude", "features.9", "--epochs-per-step", "0",
                     "--out", str(out), "--no-progress"]) == 2
