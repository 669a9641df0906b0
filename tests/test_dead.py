"""Dead-unit measurement (tinyconv.dead) and fit's loss_fn / track_dead options."""
import numpy as np
import pytest

import tinyconv as tc
from tinyconv import data, nn, optim
from tinyconv.dead import dead_units
from tinyconv.train import fit


def loader(x, y=None, batch=8):
    y = np.zeros(len(x), np.int64) if y is None else y
    return data.DataLoader(data.TensorDataset(x, y), batch_size=batch)


def test_linear_units_die_by_bias(rng):
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2), nn.LeakyReLU())
    model[0].bias.data[:] = [-100.0, 100.0, 100.0]  # unit 0 can never be positive on |x| < 1
    x = rng.uniform(-1, 1, (50, 4)).astype(np.float32)
    dead = dead_units(model, loader(x))
    assert dead["1"] == pytest.approx(1 / 3)
    assert set(dead) == {"1", "3"}
    model[0].bias.data[:] = -100.0
    assert dead_units(model, loader(x))["1"] == 1.0
    assert dead_units(model, loader(x))["3"] in (0.0, 0.5, 1.0)


def test_a_unit_alive_on_one_sample_only_counts_as_alive(rng):
    model = nn.Sequential(nn.Linear(1, 1), nn.ReLU())
    model[0].weight.data[:] = 1.0
    model[0].bias.data[:] = 0.0
    x = -np.ones((40, 1), np.float32)
    x[37] = 0.5  # a single positive sample, in the last batch
    assert dead_units(model, loader(x))["1"] == 0.0
    x[37] = -0.5
    assert dead_units(model, loader(x))["1"] == 1.0


def test_conv_units_are_channels(rng):
    conv = nn.Conv1d(1, 4, 3)
    model = nn.Sequential(conv, nn.ReLU())
    conv.weight.data[:] = 0.0
    conv.bias.data[:] = [1.0, -1.0, 1.0, -1.0]
    x = rng.standard_normal((10, 1, 12)).astype(np.float32)
    assert dead_units(model, loader(x))["1"] == 0.5
    # the model is left in the mode it was in, without hooks
    assert model.training
    assert not model[1].__dict__.get("_forward_hooks")


def _tiny_run(loss_fn=None, track_dead=False, seed=0):
    tc.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((64, 5)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = optim.SGD(model.parameters(), lr=0.1)
    return fit(model, opt, loader(x, y, 16), loader(x, y, 64), 2, log=lambda s: None,
               loss_fn=loss_fn, track_dead=track_dead)


def test_fit_loss_fn_and_track_dead():
    base = _tiny_run()
    focal0 = _tiny_run(loss_fn=nn.FocalLoss(gamma=0.0))
    # the same loss; gradients agree to rounding (a different kernel computes them)
    np.testing.assert_allclose([r["train_loss"] for r in focal0], [r["train_loss"] for r in base], rtol=1e-5)
    focal2 = _tiny_run(loss_fn=nn.FocalLoss(gamma=2.0))
    assert focal2[0]["train_loss"] < base[0]["train_loss"]  # the focal factor only shrinks losses
    tracked = _tiny_run(track_dead=True)
    assert "dead" not in base[0]
    assert set(tracked[0]["dead"]) == {"1"} and 0.0 <= tracked[0]["dead"]["1"] <= 1.0
    assert [r["train_loss"] for r in tracked] == [r["train_loss"] for r in base]  # measuring changes nothing


def test_cli_focal_and_track_dead(tmp_path, capsys):
    from tinyconv import cli
    rc = cli.main(["train", "ecg1d", "--epochs", "1", "--no-progress", "--loss", "focal",
                   "--track-dead", "--out", str(tmp_path)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "dead units" in out and "ECE" in out
    import json
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert report["config"]["loss"] == "focal" and set(report["history"][0]["dead"]) == {
        "features.1", "features.4", "features.7", "classifier.1"}
