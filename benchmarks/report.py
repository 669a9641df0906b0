"""Tables, JSON and a chart from one benchmark run."""
from __future__ import annotations

import json
import os
from pathlib import Path


def ratios(results):
    """Per case: each runner's median time divided by the peer's (torch, and numpy)."""
    by_case = {}
    for r in results:
        by_case.setdefault(r["case"], {})[r["runner"]] = r["median_ms"]
    out = []
    for r in results:
        times = by_case[r["case"]]
        peer = times.get("torch-cuda") if r["runner"] == "cupy" else times.get("torch")
        row = dict(r)
        row["vs_torch"] = r["median_ms"] / peer if peer else None
        row["vs_numpy"] = r["median_ms"] / times["numpy"] if times.get("numpy") else None
        out.append(row)
    return out


def table(rows) -> str:
    head = f"{'case':<36}{'runner':<11}{'median ms':>11}{'min ms':>10}{'runs':>6}{'GFLOP/s':>9}{'x torch':>9}{'x numpy':>9}"
    lines = [head, "-" * len(head)]
    last = None
    for r in rows:
        case = r["case"] if r["case"] != last else ""
        last = r["case"]
        fmt = lambda v: f"{v:9.2f}" if v is not None else f"{'-':>9}"  # noqa: E731
        lines.append(f"{case:<36}{r['runner']:<11}{r['median_ms']:>11.2f}{r['min_ms']:>10.2f}"
                     f"{r['runs']:>6}{r['gflops']:>9.1f}{fmt(r['vs_torch'])}{fmt(r['vs_numpy'])}")
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
