"""Synthetic electrocardiograms from McSharry, Clifford, Tarassenko and Smith's dynamical model
(IEEE Trans. Biomed. Eng. 50(3):289-294, 2003; the model behind PhysioNet's ECGSYN), and a
heartbeat-classification dataset cut from them.

The model moves a point around the unit circle in the (x, y) plane, one turn per heartbeat, at
angular speed omega = 2 pi / RR. Its height z is pushed by five Gaussian bumps in the phase
theta = atan2(y, x), one per wave of the beat (P, Q, R, S, T at phases theta_i), and relaxes
towards a baseline z0(t) that wanders with respiration:

    dz/dt = - omega * sum_i a_i * dtheta_i * exp(-dtheta_i^2 / (2 b_i^2)) - (z - z0(t)),
    dtheta_i = (theta - theta_i) wrapped to [-pi, pi),   z0(t) = A sin(2 pi f_resp t).

Integrating the bumps over a beat gives z ~ sum_i a_i b_i^2 exp(-dtheta_i^2 / (2 b_i^2)): wave i
is a Gaussian of height a_i b_i^2 and width b_i / omega seconds. The factor omega (ours: the
paper's equation lacks it and ECGSYN rescales its output instead) keeps the heights independent
of the heart rate.

On the limit cycle (radius 1) the (x, y) equations reduce to theta advancing at omega, so here
theta is integrated in closed form (R peaks at the given beat times, theta linear between them)
and z by forward Euler at `fs_internal`, then averaged down to `fs`. The wave parameters are the
paper's Table 1; every beat may carry its own, which is how abnormal morphologies are made.

Beat classes (AAMI's heartbeat classes, reduced to three):
    0 "N" normal sinus beat
    1 "S" premature atrial contraction (PAC): early, abnormal (inverted) P wave, normal QRS,
          followed by a short (non-compensatory) pause
    2 "V" premature ventricular contraction (PVC): early, no P wave, wide QRS, discordant
          (inverted, larger) T wave, followed by a compensatory pause (the two RR intervals
          around it add up to two normal ones)
"""
from __future__ import annotations

import numbers

import numpy as np

from .dataset import TensorDataset

CLASSES = ("N", "S", "V")
CLASS_NAMES = ("normal", "premature atrial (PAC)", "premature ventricular (PVC)")

# McSharry et al. 2003, Table 1: P, Q, R, S, T
THETA = np.array([-np.pi / 3, -np.pi / 12, 0.0, np.pi / 12, np.pi / 2])
A = np.array([1.2, -5.0, 30.0, -7.5, 0.75])
B = np.array([0.25, 0.1, 0.1, 0.1, 0.4])

# How each class changes the normal beat: multipliers of (a, b) per wave, and its timing.
_QRS_WIDEN = 2.2
MORPHOLOGY = {
    0: (np.ones(5), np.ones(5)),
    1: (np.array([-0.7, 1, 1, 1, 1]), np.ones(5)),                      # inverted P
    2: (np.array([0.0, 1.3 / _QRS_WIDEN ** 2, 1.1 / _QRS_WIDEN ** 2, 1.3 / _QRS_WIDEN ** 2, -2.0]),
        np.array([1, _QRS_WIDEN, _QRS_WIDEN, _QRS_WIDEN, 1.2])),      # no P, wide QRS, big inverted T
}
PREMATURITY = {0: 1.0, 1: 0.72, 2: 0.62}   # RR before the beat / normal RR
PAUSE_AFTER = {0: 1.0, 1: 1.10, 2: 1.38}   # RR after the beat / normal RR (PVC: 0.62 + 1.38 = 2)


def _wrap(a):
    return (a + np.pi) % (2 * np.pi) - np.pi


def synthesize(r_times, a, b, theta, duration, fs=125, fs_internal=500, resp_amplitude=0.15,
               resp_hz=0.25, resp_phase=0.0):
    """Integrate the model for records in parallel; returns z (records, duration*fs).

    r_times (records, beats): R-peak times in seconds, increasing, covering [0, duration] with
    at least one beat before 0 and one after `duration`; a, b, theta (records, beats, 5): each
    beat's wave parameters. resp_* (scalars or (records,)) set the baseline wander z0.
    """
    r_times = np.asarray(r_times, dtype=np.float64)
    if r_times.ndim != 2 or r_times.shape[1] < 2:
        raise ValueError(f"synthesize: r_times must be (records, beats >= 2), got {r_times.shape}")
    if np.any(np.diff(r_times, axis=1) <= 0):
        raise ValueError("synthesize: r_times must increase along each record")
    if np.any(r_times[:, 0] > 0) or np.any(r_times[:, -1] < duration):
        raise ValueError("synthesize: the beats must start before 0 and end after `duration`")
    if fs_internal % fs:
        raise ValueError(f"synthesize: fs_internal ({fs_internal}) must be a multiple of fs ({fs})")
    records = r_times.shape[0]
    step = fs_internal // fs
    n = int(duration * fs) * step  # t < duration: every sample has a beat after it
    t = np.arange(n) / fs_internal
    rows = np.arange(records)[:, None]
    # theta: 0 at every R peak, +2 pi per RR interval
    k = np.stack([np.searchsorted(r, t, side="right") - 1 for r in r_times])  # beat just before t
    t0, t1 = r_times[rows, k], r_times[rows, k + 1]
    phase = 2 * np.pi * (t - t0) / (t1 - t0)                                  # in [0, 2 pi)
    omega = 2 * np.pi / (t1 - t0)
    # the first half of an interval belongs to beat k (S, T), the second to beat k+1 (P, Q, R)
    owner = np.where(phase < np.pi, k, k + 1)
    theta_t = _wrap(phase)
    d = _wrap(theta_t[..., None] - theta[rows, owner])                        # (records, n, 5)
    bt = b[rows, owner]
    force = -(a[rows, owner] * d * np.exp(-d * d / (2 * bt * bt))).sum(-1) * omega
    resp_amplitude, resp_hz, resp_phase = (np.broadcast_to(np.asarray(v, np.float64), (records,))
                                           for v in (resp_amplitude, resp_hz, resp_phase))
    z0 = resp_amplitude[:, None] * np.sin(2 * np.pi * resp_hz[:, None] * t + resp_phase[:, None])
    # forward Euler, vectorised over records: z[i+1] = z[i] + dt (force - (z - z0))
    dt = 1.0 / fs_internal
    z = np.empty((records, n))
    # start on the quasi-steady value (the integral of the bumps, relaxation ignored), not on
    # the baseline: a flat start would put the first R peak at zero and shift the whole record
    z[:, 0] = z0[:, 0] + (a[rows, owner] * bt * bt * np.exp(-d * d / (2 * bt * bt))).sum(-1)[:, 0]
    for i in range(n - 1):
        z[:, i + 1] = z[:, i] + dt * (force[:, i] - (z[:, i] - z0[:, i]))
    return z.reshape(records, n // step, step).mean(-1)  # average each block of fs_internal/fs


def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"Heartbeats: {name} must be a positive int, got {value!r}")
    return int(value)


def beat_sequence(rng, beats, class_probs, heart_rate):
    """Beat classes (beats,) and R-peak times (beats,) for one record, starting at t = 0.

    The first beat is normal; premature beats shorten the interval before them and lengthen
    the one after (PREMATURITY, PAUSE_AFTER); RR varies by 3% (heart-rate variability).
    """
    kinds = rng.choice(3, size=beats, p=class_probs)
    kinds[0] = 0
    rr0 = 60.0 / heart_rate
    rr = rr0 * np.ones(beats)
    for i in range(1, beats):
        rr[i] = rr0 * PREMATURITY[kinds[i]] * PAUSE_AFTER[kinds[i - 1]]
    rr *= 1 + 0.03 * rng.standard_normal(beats)
    times = np.cumsum(rr) - rr[0]
    return kinds, times


def make_heartbeats(n_records, seed, beats_per_record=24, fs=125, window=256,
                    class_probs=(0.6, 0.2, 0.2), noise=0.03):
    """(windows float32 (M, 1, window), labels int64 (M,), record ids (M,)) from synthetic records.

    Each record has its own heart rate (55-95 bpm), wave amplitudes and widths (+-10%), phase
    jitter, baseline wander and white noise (`noise` times the R amplitude). One window per
    beat, centred on its R peak, standardised to zero mean and unit variance; windows reaching
    past the record are dropped.
    """
    rng = np.random.default_rng(seed)
    all_r, all_a, all_b, all_theta, all_kind = [], [], [], [], []
    heart_rates = rng.uniform(55, 95, n_records)
    for h in heart_rates:
        kinds, times = beat_sequence(rng, beats_per_record, np.asarray(class_probs), h)
        scale_a = rng.uniform(0.9, 1.1, 5)  # per record: this person's waves
        scale_b = rng.uniform(0.9, 1.1, 5)
        a = np.stack([A * MORPHOLOGY[c][0] * scale_a for c in kinds])
        b = np.stack([B * MORPHOLOGY[c][1] * scale_b for c in kinds])
        a *= rng.uniform(0.93, 1.07, a.shape)  # per beat
        theta = THETA + 0.03 * rng.standard_normal((beats_per_record, 5))
        theta[:, 2] = 0.0  # the R peak defines the beat time
        all_r.append(times), all_a.append(a), all_b.append(b), all_theta.append(theta)
        all_kind.append(kinds)
    r_times = np.stack(all_r)
    duration = float(r_times[:, -1].min())  # every record is defined up to its last beat
    z = synthesize(r_times, np.stack(all_a), np.stack(all_b), np.stack(all_theta), duration, fs=fs,
                   resp_amplitude=rng.uniform(0.05, 0.3, n_records) * A[2] * B[2] ** 2,
                   resp_hz=rng.uniform(0.15, 0.4, n_records),
                   resp_phase=rng.uniform(0, 2 * np.pi, n_records))
    r_amplitude = A[2] * B[2] ** 2  # the R wave's height in model units (a b^2, see the notebook)
    z = z + noise * r_amplitude * rng.standard_normal(z.shape)
    half = window // 2
    xs, ys, ids = [], [], []
    for r in range(n_records):
        centres = np.round(r_times[r] * fs).astype(int)
        ok = (centres - half >= 0) & (centres + window - half <= z.shape[1])
        for c, kind in zip(centres[ok], np.asarray(all_kind[r])[ok]):
            xs.append(z[r, c - half:c - half + window])
            ys.append(kind)
            ids.append(r)
    x = np.stack(xs)
    x = (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True)
    return x[:, None, :].astype(np.float32), np.asarray(ys, np.int64), np.asarray(ids, np.int64)


class Heartbeats(TensorDataset):
    """Heartbeat windows (1, 256) at 125 Hz (2.05 s, the beat's R peak at sample 128) with
    labels 0 N, 1 S (PAC), 2 V (PVC), from McSharry et al.'s synthetic ECG model.

    train and test splits come from different simulated people (records), so a test beat's
    person was never seen in training. The same seed gives the same data on every machine.
    """

    fs = 125
    window = 256
    classes = CLASSES

    def __init__(self, train=True, records=None, seed=0, class_probs=(0.6, 0.2, 0.2), transform=None):
        if records is None:
            records = 120 if train else 40
        records = _check_positive_int(records, "records")
        probs = np.asarray(class_probs, dtype=np.float64)
        if probs.shape != (3,) or np.any(probs < 0) or not np.isclose(probs.sum(), 1):
            raise ValueError(f"Heartbeats: class_probs must be 3 non-negative numbers summing to 1, "
                             f"got {class_probs!r}")
        # distinct child seeds for the two splits: no simulated person appears in both
        split_seed = np.random.SeedSequence([int(seed), 1 if train else 2])
        x, y, ids = make_heartbeats(records, split_seed, fs=self.fs, window=self.window,
                                    class_probs=probs)
        super().__init__(x, y, transform=transform)
        self.data, self.targets, self.record = x, y, ids
        self.train = bool(train)

    def __repr__(self):
        counts = np.bincount(self.targets, minlength=3)
        split = "train" if self.train else "test"
        return (f"Heartbeats({split}: {len(self)} windows, " +
                ", ".join(f"{c} {n}" for c, n in zip(self.classes, counts)) + ")")
