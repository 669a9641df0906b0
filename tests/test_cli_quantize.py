"""`tinyconv quantize`: files written, table contents, and the saved model reproducing the run."""
import json

import numpy as np
import pytest

import tinyconv as tc
from tinyconv import data, models
from tinyconv.cli import main
from tinyconv.quantization import load_quantized, quantize_static


@pytest.fixture
def checkpoint(tmp_path):
    tc.manual_seed(5)
    model = models.lenet5()
    tc.save({"arch": "lenet5", "activation": "relu", "pool": "max", "model": model.state_dict()},
            tmp_path / "checkpoint.npz")
    return tmp_path, model


def test_quantize_bits4_writes_model_and_table(checkpoint, capsys):
    folder, model = checkpoint
    out = folder / "q"
    assert main(["quantize", str(folder), "--bits", "4", "--calibration", "64", "--batch-size", "32",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "int4 (int8 activations)" in printed and "predicted SNR" in printed
    assert (out / "quantize.txt").read_text().splitlines()[0] == printed.splitlines()[1]
    report = json.loads((out / "quantize.json").read_text())
    assert [r["model"] for r in report["table"]] == ["fp32", "int8", "int4 (int8 activations)"]
    fp32, int8, int4 = report["table"]
    assert fp32["bytes"] == 4 * 61706 and int4["bytes"] < int8["bytes"] < fp32["bytes"] / 3.5
    assert all(0 <= r["accuracy"] <= 1 and r["seconds_per_batch"] > 0 and r["batch_size"] == 32
               for r in report["table"])
    assert len(report["snr"]) == 7
    # the saved model is the int4 model of the same calibration images, and gives the reported accuracy
    q = load_quantized(out / "quantized.npz")
    assert q.weight_bits == 4
    transform = data.Compose([data.Pad(2), data.Normalize(data.MNIST_MEAN, data.MNIST_STD)])
    x_cal = next(iter(data.DataLoader(data.MNIST(train=True), batch_size=64, shuffle=True, seed=0,
                                      transform=transform)))[0].numpy()
    x_test, y_test = next(iter(data.DataLoader(data.MNIST(train=False), batch_size=1000, transform=transform)))
    again = quantize_static(model, x_cal, weight_bits=4)
    logits = q(x_test.numpy()).numpy()
    np.testing.assert_array_equal(logits, again(x_test.numpy()).numpy())
    assert float((logits.argmax(1) == y_test.numpy()).mean()) == int4["accuracy"]


def test_quantize_refuses_bad_arguments(checkpoint, capsys):
    folder, _ = checkpoint
    assert main(["quantize", str(folder), "--calibration", "999999", "--out", str(folder / "q")]) == 2
    assert "--calibration 999999" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["quantize", str(folder), "--bits", "3"])
