"""The CLI refuses bad numbers before doing anything, and a missing optional package gives one
line naming the extra to install."""
import sys

import pytest

from tinyconv import cli


@pytest.mark.parametrize("args,message", [
    (["--lr", "inf"], "--lr: must be a finite number > 0"),
    (["--lr", "nan"], "--lr: must be a finite number > 0"),
    (["--lr", "-0.1"], "--lr: must be a finite number > 0"),
    (["--lr", "abc"], "--lr: invalid"),
    (["--seed", "-1"], "--seed: must be a finite number >= 0"),
    (["--epochs", "0"], "--epochs: must be a finite number > 0"),
    (["--batch-size", "-4"], "--batch-size: must be a finite number > 0"),
    (["--momentum", "-0.5"], "--momentum: must be a finite number >= 0"),
    (["--weight-decay", "inf"], "--weight-decay: must be a finite number >= 0"),
])
def test_train_rejects_bad_numbers_before_creating_anything(args, message, tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as e:
        cli.main(["train", "lenet5", "--out", str(out)] + args)
    assert e.value.code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("missing", ["tqdm", "matplotlib"])
def test_missing_optional_package_is_one_line(missing, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, missing, None)  # makes `import missing` fail
    out = tmp_path / "run"
    assert cli.main(["train", "lenet5", "--epochs", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"'{missing}' is not installed" in err
    assert "pip install 'tinyconv[train]'" in err
    assert not out.exists()


def test_summary_subcommand(capsys):
    assert cli.main(["summary", "lenet5"]) == 0
    assert "input 1x32x32: 61,706 parameters, 416,520 MACs per image" in capsys.readouterr().out


def test_bench_outside_a_checkout_says_where_to_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="run it from the repository root"):
        cli.main(["bench"])


def test_unknown_subcommand_and_choices_are_refused(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["fly"])
    assert e.value.code == 2 and "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["train", "resnet"])
    with pytest.raises(SystemExit):
        cli.main(["train", "lenet5", "--data", "cifar"])
