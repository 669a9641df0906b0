"""benchmarks/: the user-realistic protocol (fresh worker per runner, numpy first, no pinning).

Timings are never asserted; these tests check what the run records and how it aggregates.
The smoke run is small (two LeNet conv1 cases, two workers, 2 calls each) so it fits CI.
"""
import json
import os
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or not Path("/proc/self/status").exists(),
                                reason="the benchmark's RSS and affinity readings need Linux /proc")


def test_quick_smoke_run_records_protocol_rss_probe_and_untouched_affinity(tmp_path):
    cmd = [sys.executable, "-m", "benchmarks", "--quick", "--only", "lenet conv1", "--backends", "numpy",
           "numba", "--rounds", "1", "--repeat", "2", "--name", "smoke", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads((tmp_path / "smoke.json").read_text())
    assert (tmp_path / "smoke.txt").read_text().startswith("case")
    assert (tmp_path / "smoke.png").stat().st_size > 0

    proto = data["protocol"]
    for words in ("fresh process per runner per round", "numpy imported first", "default threads",
                  "no pinning"):
        assert words in proto["description"]
    assert (proto["rounds"], proto["repeat"], proto["thread_pinning"]) == (1, 2, "none")

    mine = sorted(os.sched_getaffinity(0))
    assert sorted(w["runner"] for w in data["workers"]) == ["numba", "numpy"]
    for w in data["workers"]:
        assert w["pid"] != os.getpid() and w["numpy_imported_first"]
        assert w["affinity"] == w["affinity_at_end"] == mine  # nobody pinned anything
    assert len({w["pid"] for w in data["workers"]}) == 2  # one fresh process each

    probe = data["sgemm_probe"]
    assert probe["median_gflops"] > 0
    assert len(probe["readings"]) == 4 and all(p["n"] == 2048 and p["gflops"] > 0 for p in probe["readings"])

    measured = data["results"]
    assert sorted((r["case"], r["runner"]) for r in measured) == [
        (f"lenet conv1 b16 {part}", runner) for part in ("fwd", "fwd+bwd") for runner in ("numba", "numpy")]
    for r in measured:
        assert r["median_ms"] > 0 and r["min_ms"] <= r["median_ms"]
        assert r["runs_per_round"] == [2] and r["rounds"] == 1
        assert r["peak_rss_mib"] > 10 and r["peak_rss_method"] in (["VmHWM"], ["ru_maxrss"])
        assert r["of_sgemm"] == pytest.approx(r["gflops"] / probe["median_gflops"])
        assert r["vs_torch"] is None  # torch not in this run
    derived = {r["runner"]: r for r in data["derived_backward"]}
    assert set(derived) == {"numpy", "numba"} and all(r["case"] == "lenet conv1 b16 bwd (derived)"
                                                      for r in derived.values())
    by = {(r["case"], r["runner"]): r["median_ms"] for r in measured}
    for runner, r in derived.items():
        assert r["median_ms"] == pytest.approx(by[("lenet conv1 b16 fwd+bwd", runner)]
                                               - by[("lenet conv1 b16 fwd", runner)])
    assert data["failures"] == []


def _worker(runner, rows):
    return {"runner": runner, "results": [{"case": c, "median_ms": ms, "min_ms": ms / 2, "runs": 3,
                                           "peak_rss_mib": rss, "peak_rss_method": "VmHWM"}
                                          for c, ms, rss in rows]}


def test_aggregate_medians_over_rounds_and_derives_backward():
    from benchmarks.__main__ import aggregate
    from benchmarks.cases import select
    cases = select("layers", quick=True, only="lenet conv2")
    fwd, both = (c.name for c in cases)
    workers = [_worker("numba", [(fwd, 1.0, 100), (both, 4.0, 120)]),
               _worker("numba", [(fwd, 3.0, 150), (both, 6.0, 110)]),
               _worker("numba", [(fwd, 2.0, 90), (both, 5.0, 100)]),
               _worker("torch", [(fwd, 1.0, 300), (both, 2.5, 310)])]
    rows = {(r["case"], r["runner"]): r for r in aggregate(cases, ["numba", "torch"], workers, 50.0)}
    r = rows[(fwd, "numba")]
    assert (r["median_ms"], r["min_ms"], r["rounds"], r["peak_rss_mib"]) == (2.0, 0.5, 3, 150)
    assert r["vs_torch"] == 2.0
    assert r["gflops"] == pytest.approx(cases[0].total_flops() / 2e-3 / 1e9)
    assert r["of_sgemm"] == pytest.approx(r["gflops"] / 50.0)
    bwd = rows[("lenet conv2 b16 bwd (derived)", "numba")]
    assert bwd["median_ms"] == 3.0  # 5.0 - 2.0
    assert bwd["gflops"] == pytest.approx((cases[1].total_flops() - cases[0].total_flops()) / 3e-3 / 1e9)
    assert rows[("lenet conv2 b16 bwd (derived)", "torch")]["median_ms"] == 1.5


def test_failed_worker_is_reported_with_its_stderr():
    from benchmarks.__main__ import run_worker
    args = Namespace(suite="layers", repeat=1, quick=True, budget=None, worker_timeout=120)
    out, fail = run_worker("numpy", ["no such case"], args)
    assert out is None and fail["runner"] == "numpy"
    assert fail["error"] == "exit status 1" and "no case matches" in fail["stderr_tail"]


def test_no_thread_pinning_left_in_the_harness():
    import benchmarks.harness as harness
    assert not hasattr(harness, "pin_threads") and not hasattr(harness, "unpin_threads")
    source = "".join(p.read_text() for p in (ROOT / "benchmarks").glob("*.py"))
    assert "sched_setaffinity(" not in source and "set_num_threads(" not in source


def test_tinyconv_bench_forwards_its_options(monkeypatch):
    from tinyconv import cli
    seen = []
    monkeypatch.setattr(cli, "cmd_bench", lambda args: seen.append(list(args.args)))
    assert cli.main(["bench", "--quick", "--only", "lenet conv1", "--rounds", "1"]) == 0
    assert cli.main(["bench", "--", "--quick"]) == 0
    assert seen[0] == ["--quick", "--only", "lenet conv1", "--rounds", "1"]
    assert [a for a in seen[1] if a != "--"] == ["--quick"]
    with pytest.raises(SystemExit):  # other commands still refuse options they do not know
        cli.main(["summary", "lenet5", "--no-such-option"])
