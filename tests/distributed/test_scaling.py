"""benchmarks/scaling_model.py on synthetic inputs (the communication model, its bucketing against
DistributedDataParallel's) and benchmarks/scaling.py in one tiny real run (all-reduce under
mpiexec -n 2, one AlexNet step).
Timings are never asserted; only what the model derives from them and what the run records."""
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import scaling as sc  # noqa: E402
from benchmarks import scaling_model as sm  # noqa: E402

MB = 2 ** 20
# an AlexNet-like model: conv gradients small and ready last, FC gradients large and ready first
SYNTH = {"batch": 16, "step_s": 0.5, "backward_s": 0.3,
         "ready_s": {"fc8": 0.01, "fc7": 0.03, "fc6": 0.06, "conv5": 0.1, "conv4": 0.14,
                     "conv3": 0.19, "conv2": 0.27, "conv1": 0.3},
         "params": [("conv1", 140_000), ("conv2", 1_200_000), ("conv3", 3_500_000),
                    ("conv4", 2_600_000), ("conv5", 1_800_000), ("fc6", 151_000_000),
                    ("fc7", 67_000_000), ("fc8", 16_400_000)]}
LINKS = [sm.gbps(g) for g in (1, 10, 25, 100, 400)]


def test_ring_formulas_match_hand_computation():
    # 4 ranks, 1 MB, 1 GB/s, 10 us a step, 1 ms a collective: 1e-3 + 6/4 * 1e-3 + 6 * 1e-5
    assert sm.ring_allreduce_time(1e6, 4, 1e9, 1e-5, 1e-3) == pytest.approx(2.56e-3, rel=1e-12)
    assert sm.ring_allreduce_time(1e6, 2, 1e9, 0.0) == pytest.approx(1e-3, rel=1e-12)
    assert sm.ring_allgather_time(1e6, 4, 1e9, 1e-5) == pytest.approx(3 * (1e-3 + 1e-5), rel=1e-12)
    assert sm.ring_allreduce_time(1e6, 1, 1e9, 1e-5, 1e-3) == 0.0
    assert sm.gbps(10) == 1.25e9
    with pytest.raises(ValueError, match="bandwidth"):
        sm.ring_allreduce_time(1e6, 2, 0, 0)
    with pytest.raises(ValueError, match="ranks"):
        sm.ring_allreduce_time(1e6, 0, 1e9, 0)


def test_fit_recovers_alpha_and_beta():
    sizes = sc.sizes_up_to(256 * MB)
    assert sizes[0] == 4096 and sizes[-1] == 256 * MB and len(sizes) == 9
    alpha, beta = 3e-4, 2.5e9
    times = [alpha + n / beta for n in sizes]
    a, b = sm.fit_alpha_beta(sizes, times)
    assert a == pytest.approx(alpha, rel=0.1) and b == pytest.approx(beta, rel=1e-3)
    with pytest.raises(ValueError, match="need messages"):
        sm.fit_alpha_beta([4096, 16384], [1e-3, 2e-3])


def test_buckets_match_distributed_data_parallel():
    import tinyconv
    from tinyconv.distributed import DistributedDataParallel, LocalGroup
    model = tinyconv.models.lenet5()
    params = [(n, p.numel() * p.dtype.itemsize) for n, p in model.named_parameters()]
    for cap in (0.01, 0.05, 25.0):
        ddp = DistributedDataParallel(model, group=LocalGroup(), bucket_cap_mb=cap)
        ours = sm.make_buckets(params, cap)
        assert [size for _, size in ours] == [b.flat.nbytes for b in ddp._buckets]
        assert [len(names) for names, _ in ours] == ddp.bucket_sizes  # one tensor a name here


def test_overlap_by_hand():
    # two buckets: "a" (ready at 0.1 s, 0.2 s on the link) then "b" (ready at 0.3 s, 0.1 s)
    model = {"step_s": 1.0, "backward_s": 0.3, "ready_s": {"a": 0.1, "b": 0.3},
             "params": [("b", 10), ("a", 20)]}
    bw = 1.0 / 0.01  # bytes/s: 2 ranks -> n / bw seconds
    assert sm.data_parallel_step(model, 2, bw, 0.0, overlap=False, cap_mb=1e-6) == pytest.approx(1.3)
    # a: 0.1 -> 0.3; b: max(0.3, 0.3) -> 0.4; the step ends 0.1 s after backward
    assert sm.data_parallel_step(model, 2, bw, 0.0, overlap=True, cap_mb=1e-6) == pytest.approx(1.1)


def test_efficiency_falls_with_ranks_rises_with_bandwidth_and_overlap_never_hurts():
    links = {f"{bw:g}": (bw, 5e-6, 1e-3) for bw in LINKS}
    pred = sm.predict(SYNTH, links, two_ranks_only=())
    rows = pred["data_parallel"]
    for key in ("efficiency_no_overlap", "efficiency_overlap"):
        for label in links:
            eff = [r[key] for r in rows if r["link"] == label]
            assert len(eff) == len(sm.RANKS)
            assert all(a >= b for a, b in zip(eff, eff[1:])), (label, key, eff)
            assert all(0 < e <= 1 for e in eff)
        for p in sm.RANKS:
            eff = [r[key] for r in rows if r["ranks"] == p]  # in increasing bandwidth
            assert all(a <= b for a, b in zip(eff, eff[1:])), (p, key, eff)
    for r in rows:
        assert r["efficiency_overlap"] >= r["efficiency_no_overlap"]
    no = [r["efficiency_no_overlap"] for r in rows if r["link"] == f"{LINKS[0]:g}"]
    assert no[0] > no[-1]  # strictly: the ring's 2(p-1)/p grows
    # overlap hides everything the backward can cover: at 400 Gb/s 2 ranks lose only the overheads
    fast = next(r for r in rows if r["link"] == f"{LINKS[-1]:g}" and r["ranks"] == 2)
    assert fast["efficiency_overlap"] > fast["efficiency_no_overlap"]


def test_model_split_exchanges_and_where_it_wins():
    ex = {e["what"].split(" (")[0]: e for e in sm.split_exchanges(32)}
    assert ex["conv3 input"]["bytes"] == 128 * 13 * 13 * 4 * 32
    assert ex["fc6 input"]["bytes"] == 4608 * 4 * 32
    assert ex["fc7 input"]["bytes"] == ex["fc8 input"]["bytes"] == 2048 * 4 * 32
    assert ex["scores"]["bytes"] == 500 * 4 * 32 and not ex["scores"]["backward_too"]
    pred = sm.predict(SYNTH, {"10": (sm.gbps(10), 5e-6, 1e-3)}, two_ranks_only=())
    split = pred["model_split"][0]
    dp2 = next(r for r in pred["data_parallel"] if r["ranks"] == 2)
    comm = sum(sm.ring_allgather_time(e["bytes"], 2, sm.gbps(10), 5e-6, 1e-3) * (2 if e["backward_too"] else 1)
               for e in ex.values())
    assert split["step_ms"] == pytest.approx(1e3 * (SYNTH["step_s"] + comm))
    # 58M FC parameters against a few MB of activations: the split wins when nothing overlaps
    assert split["efficiency"] > dp2["efficiency_no_overlap"]


def test_tiny_real_run_writes_json_and_chart(mpirun, tmp_path):
    """mpirun: skips without mpi4py/mpiexec. Small all-reduces up to 1 MB (the fit needs one
    bandwidth-bound size) under mpiexec's deadline, one timed AlexNet step at batch 2."""
    out = tmp_path / "scaling"
    result = sc.main(["--max-mb", "1", "--reps", "2", "--steps", "1", "--measure-batch", "2",
                      "--timeout", "60", "--out", str(out)])
    saved = json.loads(out.with_suffix(".json").read_text())
    ar = saved["allreduce"]
    assert [r["bytes"] for r in ar["rows"]] == [4096, 16384, 65536, 262144, 2 ** 20]
    assert all(r["median_s"] > 0 and r["reps"] == 2 for r in ar["rows"]) and "MPICH" in ar["library"]
    assert ar["fit"]["alpha_s"] > 0 and ar["fit"]["beta_bytes_per_s"] > 0
    with pytest.raises(ValueError, match="multiples of 4"):
        sc.measure_allreduce([4097])
    assert out.with_suffix(".png").stat().st_size > 10_000
    assert saved["table"] == result["table"]
    ready = saved["compute"]["ready_ms"]
    order = [ready[n] for n in reversed(sc.LAYERS)]  # fc8 first ... conv1 last
    assert all(a <= b for a, b in zip(order, order[1:])) and order[0] > 0
    assert math.isclose(order[-1], saved["compute"]["backward_ms"])
    assert saved["compute"]["fc_param_bytes"] / saved["compute"]["param_bytes"] > 0.9
    labels = {r["link"] for r in saved["predictions"]["data_parallel"]}
    assert labels == {"shm"} | {f"{g} Gb/s" for g in sm.BANDWIDTHS_GBPS}
    assert np.isfinite([r["efficiency_overlap"] for r in saved["predictions"]["data_parallel"]]).all()
