"""`tinyconv train --loss/--gamma/--label-smoothing`: the loss the CLI hands to fit."""
import numpy as np
import pytest

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv import cli


def loss_of(*flags):
    return cli._loss_fn(cli.build_parser().parse_args(["train", "lenet5", *flags]))


def test_losses(rng):
    x = tc.tensor(rng.standard_normal((6, 10)))
    t = tc.tensor(rng.integers(0, 10, 6))
    assert loss_of() is None  # fit's default, cross-entropy
    assert loss_of("--loss", "focal", "--gamma", "1.5")(x, t).item() == F.focal_loss(x, t, 1.5).item()
    smooth = loss_of("--label-smoothing", "0.1")(x, t).item()
    assert smooth == F.cross_entropy(x, t, label_smoothing=0.1).item() != F.cross_entropy(x, t).item()
    with pytest.raises(ValueError, match="label-smoothing"):
        loss_of("--loss", "focal", "--label-smoothing", "0.1")
    assert cli.main(["train", "lenet5", "--loss", "focal", "--label-smoothing", "0.1", "--epochs", "1"]) == 2


def test_calibration_summary():
    class Constant(tc.nn.Module):  # always 3:1 for class 0
        def forward(self, x):
            return tc.tensor(np.tile([np.log(3.0), 0.0], (x.shape[0], 1)))
    x = np.zeros((8, 1), np.float32)
    y = np.array([0, 0, 0, 1, 0, 0, 1, 0])  # right 6 times in 8: exactly its 75% confidence
    loader = tc.data.DataLoader(tc.data.TensorDataset(x, y), batch_size=3)
    out = cli._calibration(Constant(), loader)
    assert out["test_ece"] == pytest.approx(0.0, abs=1e-12)
    assert out["test_nll"] == pytest.approx(-(6 * np.log(0.75) + 2 * np.log(0.25)) / 8)
