"""Tables, JSON and a chart from one benchmark run."""
from __future__ import annotations

import json
import os
from pathlib import Path


def ratios(rows):
    """Per case: each runner's median time divided by the peer's (torch, and numpy)."""
    by_case = {}
    for r in rows:
        by_case.setdefault(r["case"], {})[r["runner"]] = r["median_ms"]
    out = []
    for r in rows:
        times = by_case[r["case"]]
        peer = times.get("torch-cuda") if r["runner"] == "cupy" else times.get("torch")
        row = dict(r)
        ok = r["median_ms"] > 0
        row["vs_torch"] = r["median_ms"] / peer if ok and peer and peer > 0 else None
        numpy_ms = times.get("numpy")
        row["vs_numpy"] = r["median_ms"] / numpy_ms if ok and numpy_ms and numpy_ms > 0 else None
        out.append(row)
    return out


def table(rows, probe_gflops=None) -> str:
    head = (f"{'case':<44}{'runner':<8}{'median ms':>11}{'min ms':>10}{'rounds':>7}{'GFLOP/s':>9}"
            f"{'%sgemm':>8}{'x torch':>9}{'x numpy':>9}{'peak MiB':>10}")
    lines = [head, "-" * len(head)]
    last = None

    def num(v, width, digits):
        return f"{v:{width}.{digits}f}" if v is not None else f"{'-':>{width}}"
    for r in rows:
        case = r["case"] if r["case"] != last else ""
        last = r["case"]
        pct = 100 * r["of_sgemm"] if r.get("of_sgemm") is not None else None
        lines.append(f"{case:<44}{r['runner']:<8}{num(r['median_ms'], 11, 2)}{num(r['min_ms'], 10, 2)}"
                     f"{r['rounds']:>7}{num(r['gflops'], 9, 1)}{num(pct, 8, 0)}{num(r['vs_torch'], 9, 2)}"
                     f"{num(r['vs_numpy'], 9, 2)}{num(r['peak_rss_mib'], 10, 0)}")
    if probe_gflops:
        lines.append(f"%sgemm: GFLOP/s as a percentage of {probe_gflops:.0f} GFLOP/s, the median 2048^3 "
                     f"float32 sgemm probe of this run's worker processes")
    lines.append("bwd (derived): fwd+bwd median minus fwd median; its GFLOP/s counts the backward FLOPs only")
    return "\n".join(lines)


def write(path_stem: Path, payload: dict, text: str) -> list:
    """Write <stem>.json and <stem>.txt atomically; return the paths."""
    path_stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix, content in ((".json", json.dumps(payload, indent=2)), (".txt", text + "\n")):
        final = path_stem.with_suffix(suffix)
        tmp = final.with_name(final.name + ".tmp")
        tmp.write_text(content)
        os.replace(tmp, final)
        written.append(final)
    return written


def chart(rows, path: Path) -> Path:
    """Horizontal bars: milliseconds per case and runner (log scale)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [r for r in rows if not r.get("derived")]  # measured times only
    cases = list(dict.fromkeys(r["case"] for r in rows))
    runners = list(dict.fromkeys(r["runner"] for r in rows))
    lookup = {(r["case"], r["runner"]): r["median_ms"] for r in rows}
    height = 0.8 / len(runners)
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(cases) * len(runners) + 1.5))
    for i, runner in enumerate(runners):
        ys = [c for c in range(len(cases)) if (cases[c], runner) in lookup]
        ax.barh([y + i * height for y in ys], [lookup[(cases[y], runner)] for y in ys],
                height=height, label=runner)
    ax.set_yticks([c + 0.4 - height / 2 for c in range(len(cases))])
    ax.set_yticklabels(cases, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("median milliseconds (log scale, lower is better)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
