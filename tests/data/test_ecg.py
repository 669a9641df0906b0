"""The synthetic ECG model (McSharry et al. 2003) and the Heartbeats dataset; LeNet-1D on it."""
import numpy as np
import pytest

import tinyconv as tc
from tinyconv import data, models
from tinyconv.data import ecg


def one_normal_record(rr=1.0, fs=500, beats=4):
    """Beats at -rr, 0, rr, ... with the paper's parameters; the record covers [0, (beats-2) rr)."""
    r = rr * (np.arange(beats)[None, :] - 1.0)
    a, b = np.tile(ecg.A, (1, beats, 1)), np.tile(ecg.B, (1, beats, 1))
    th = np.tile(ecg.THETA, (1, beats, 1))
    return ecg.synthesize(r, a, b, th, (beats - 2) * rr, fs=fs, fs_internal=2000, resp_amplitude=0.0)[0]


def test_waves_sit_at_their_phases_with_height_a_b_squared():
    fs, rr = 500, 1.0
    z = one_normal_record(rr, fs)
    beat = z[int(0.5 * fs):int(1.5 * fs)]  # the beat whose R peak is at t = rr, centred
    t = np.arange(len(beat)) / fs - 0.5
    r = np.argmax(beat)
    assert abs(t[r]) <= 2 / fs  # the R peak at the beat time
    for i, name in enumerate("PQRST"):
        expected_t = ecg.THETA[i] / (2 * np.pi / rr)
        near = np.abs(t - expected_t) < 0.02
        local = beat[near]
        extreme = local.max() if ecg.A[i] > 0 else local.min()
        assert abs(t[near][np.argmax(local) if ecg.A[i] > 0 else np.argmin(local)] - expected_t) < 0.01, name
        # height above the level between beats: a b^2 (neighbouring waves add a little)
        baseline = z[int(0.5 * fs) - int(0.05 * fs)]
        assert extreme - baseline == pytest.approx(ecg.A[i] * ecg.B[i] ** 2, rel=0.25, abs=0.01), name


def test_beats_repeat_and_heart_rate_only_stretches_time():
    z1 = one_normal_record(1.0, 500)
    z2 = one_normal_record(0.5, 500, beats=12)
    # the R peak's height does not depend on the heart rate (the omega factor)
    assert z1.max() - z1.min() == pytest.approx(z2.max() - z2.min(), rel=0.05)
    # two identical beats one RR apart (after the relaxation's transient): the same samples
    np.testing.assert_allclose(z2[2000:2250], z2[2250:2500], atol=2e-3)


def test_premature_beats_and_compensatory_pause():
    rng = np.random.default_rng(0)
    kinds, times = ecg.beat_sequence(rng, 400, np.array([0.6, 0.2, 0.2]), 60.0)
    rr = np.diff(times)
    before, after = rr[:-1], rr[1:]  # around beat k = 1 .. n-2
    k = kinds[1:-1]
    prev_normal = kinds[:-2] == 0
    for cls, early in ((1, 0.72), (2, 0.62)):
        sel = (k == cls) & prev_normal
        assert np.mean(before[sel]) == pytest.approx(early, rel=0.03)
    # PVC between normal beats: the two intervals around it add up to two normal ones
    full = (k == 2) & prev_normal & (kinds[2:] == 0)
    assert full.sum() > 20
    assert np.mean(before[full] + after[full]) == pytest.approx(2.0, rel=0.03)


def test_heartbeats_dataset():
    a, b = data.Heartbeats(train=True, records=12, seed=3), data.Heartbeats(train=True, records=12, seed=3)
    np.testing.assert_array_equal(a.data, b.data)
    assert a.data.shape[1:] == (1, 256) and a.data.dtype == np.float32 and a.targets.dtype == np.int64
    np.testing.assert_allclose(a.data.mean(-1), 0, atol=1e-5)
    np.testing.assert_allclose(a.data.std(-1), 1, atol=1e-4)
    # the window is centred on its beat's R peak: for normal beats the sharpest peak (largest
    # second difference, which ignores baseline wander) sits at index 128 +- 1
    normal = a.data[a.targets == 0, 0]
    curvature = normal[:, :-2] - 2 * normal[:, 1:-1] + normal[:, 2:]
    near = np.abs(np.argmin(curvature[:, 118:138], axis=1) + 119 - 128) <= 1
    assert near.mean() > 0.95
    test = data.Heartbeats(train=False, records=12, seed=3)
    assert not np.array_equal(test.data[:5], a.data[:5])
    big = data.Heartbeats(train=True, records=60, seed=1)
    freq = np.bincount(big.targets, minlength=3) / len(big)
    np.testing.assert_allclose(freq, [0.6, 0.2, 0.2], atol=0.05)
    x, y = a[0]
    assert x.shape == (1, 256) and y in (0, 1, 2)
    with pytest.raises(ValueError, match="class_probs"):
        data.Heartbeats(class_probs=(0.5, 0.5))
    with pytest.raises(ValueError, match="records"):
        data.Heartbeats(records=0)


def test_lenet1d_shapes_and_bad_input():
    m = models.lenet1d()
    assert m(tc.tensor(np.zeros((2, 1, 256), np.float32))).shape == (2, 3)
    assert models.count_parameters(m) == (6 * 9 + 6) + (16 * 6 * 9 + 16) + (32 * 16 * 5 + 32) + (288 * 84 + 84) + (84 * 3 + 3)
    with pytest.raises(ValueError, match=r"\(N, 1, 256\)"):
        m(tc.tensor(np.zeros((2, 1, 200), np.float32)))
    with pytest.raises(ValueError, match="length"):
        models.lenet1d(length=100)


def test_cli_trains_ecg1d_above_95_percent(tmp_path, capsys):
    from tinyconv import cli
    rc = cli.main(["train", "ecg1d", "--epochs", "4", "--batch-size", "32", "--no-progress", "--out", str(tmp_path)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "always answering 'normal' scores" in out
    import json
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert report["test_accuracy"] >= 0.95
    assert min(report["per_class_recall"].values()) >= 0.85
    assert 0 <= report["test_ece"] < 0.1 and report["test_nll"] > 0
    assert (tmp_path / "checkpoint.npz").exists()
