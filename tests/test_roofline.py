"""benchmarks/roofline.py: the model's flop and byte counts, and a tiny run end to end (no
timing is asserted: the probes are replaced by constants and the layers by small ones)."""
import json

import numpy as np
import pytest

roofline = pytest.importorskip("benchmarks.roofline")


def test_layer_model_counts():
    df, db, sf, sb, cols = roofline.layer_model("linear", (120, 400), (256, 400), None, nnz=4800)
    assert (df, sf, cols) == (2 * 120 * 400 * 256, 2 * 4800 * 256, 256)
    act = (256 * 400 + 256 * 120) * 4
    assert db == 120 * 400 * 4 + act and sb == 4800 * 8 + 121 * 8 + act
    # AlexNet conv2 with groups: 27x27 output, 48*25 taps per output of each group
    df, db, sf, sb, cols = roofline.layer_model("conv", (256, 48, 5, 5), (2, 96, 27, 27),
                                                ((1, 1), (2, 2), 2), nnz=1000)
    assert cols == 2 * 27 * 27 and df == 2 * 256 * 48 * 25 * cols and sf == 2 * 1000 * cols
    assert sb - 1000 * 8 - 257 * 8 == db - 256 * 48 * 25 * 4 == (2 * 96 * 27 * 27 + cols * 256) * 4


@pytest.mark.parametrize("layer", [("linear", (10, 20), (4, 20), None),
                                   ("conv", (6, 3, 3, 2), (2, 6, 9, 7), ((2, 1), (1, 0), 2))])
def test_csr_probe_runs_the_layers_geometry(layer, monkeypatch):
    times = iter([3e-3, 1e-3])                    # the probe, then its empty-weight call
    calls = []
    monkeypatch.setattr(roofline, "best_time", lambda fn, **kw: (calls.append(fn()), next(times))[1])
    rate = roofline.probe_csr_compute(*layer)
    probe, empty = calls
    if layer[0] == "linear":
        assert probe.shape == (4, 64)             # the layer's batch, 64 probe rows
    else:                                         # the layer's batch and output plane, 8 probe channels
        assert probe.shape == (2, 8, 5, 6)
    assert empty.shape == probe.shape and not empty.any()   # no weight, no bias: zeros
    assert probe.any() and np.isfinite(rate) and rate > 0


def test_prune_magnitude_keeps_the_largest(rng):
    w = rng.standard_normal((30, 40)).astype(np.float32)
    p = roofline.prune_magnitude(w, 0.9, rng)
    assert np.count_nonzero(p) == 120
    assert np.abs(w[p == 0]).max() <= np.abs(p[p != 0]).min()


def test_tiny_run_writes_table_json_and_png(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(roofline, "LAYERS", [
        ("conv", "conv", (4, 2, 3, 3), (2, 4, 8, 8), ((1, 1), (1, 1), 2)),
        ("fc", "linear", (6, 10), (3, 10), None)])
    monkeypatch.setattr(roofline, "SPARSITIES", (0.5, 0.9))
    monkeypatch.setattr(roofline, "probe_peak", lambda: 1e11)
    monkeypatch.setattr(roofline, "probe_bandwidth", lambda: 1e10)
    monkeypatch.setattr(roofline, "probe_csr_compute", lambda *layer: 1e10)
    monkeypatch.setattr(roofline, "probe_overhead", lambda *layer: 2e-4)
    monkeypatch.setattr(roofline, "best_time", lambda fn, **kw: (fn(), 1e-3)[1])
    result = roofline.main(["--out", str(tmp_path / "r")])
    saved = json.loads((tmp_path / "r.json").read_text())
    assert (tmp_path / "r.png").stat().st_size > 0
    assert saved["cases"] == 4 and len(saved["rows"]) == 4 and saved["ridge_intensity"] == 10.0
    for r in saved["rows"]:
        assert r["predicted_sparse_s"] == pytest.approx(2e-4 + max(r["sparse_flops"] / 1e10, r["sparse_bytes"] / 1e10))
        assert r["measured_speedup"] == 1.0 and r["agree"] == (r["predicted_speedup"] <= 1)
    assert [r["nnz"] for r in result["rows"]] == [36, 7, 30, 6]
    assert "agree" in capsys.readouterr().out
