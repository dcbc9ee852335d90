"""PNG charts of a suite run (matplotlib, Agg backend: no display needed).

Small on purpose (a few tens of KB each), so that docs/img/ can hold a copy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["draw"]

THROUGHPUT = [("nginx.post", "nginx proxy_cache POST"), ("bare.get", "bare GET (node)"),
              ("bare.post", "bare POST (node)"), ("hit.post", "L1 hit POST validate"),
              ("hit.get", "L1 hit GET resource"), ("rpc.post", "POST /rpc")]
LATENCY = [("bare.get.paced", "bare GET"), ("nginx.post.paced", "nginx cached"),
           ("hit.post.paced", "L1 hit POST"), ("hit.get.paced", "L1 hit GET"),
           ("mixed.node.paced", "Zipf mix: node"), ("mixed.before.paced", "Zipf mix: before")]
MISS = [("miss.direct", "upstream direct"), ("miss.node", "node"), ("miss.before", "roadmap before")]
KINDS = ("transaction", "block", "address")


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, folder: Path, name: str) -> Path:
    path = folder / name
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    _plt().close(fig)
    return path


def _throughput(plt: Any, runs: dict[str, Any], folder: Path, stem: str) -> Path | None:
    """req/s (left) and server CPU µs per request (right) of each hit-path target, each
    with its ratio to nginx proxy_cache of the same run."""
    rows = [(label, runs[k]["rps"], runs[k].get("cpu_us")) for k, label in THROUGHPUT if k in runs]
    if not rows:
        return None
    ref = runs.get("nginx.post", {}).get("rps") or max(r[1] for r in rows)
    ref_cpu = runs.get("nginx.post", {}).get("cpu_us")
    fig, (ax, ax_cpu) = plt.subplots(1, 2, figsize=(9.5, 3.4), sharey=True)
    labels = [r[0] for r in rows][::-1]
    values = [r[1] for r in rows][::-1]
    cpus = [r[2] or 0.0 for r in rows][::-1]
    bars = ax.barh(labels, values, color="#4c72b0")
    for bar, v in zip(bars, values, strict=True):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2,
                f" {v / 1000:.1f}k ({v / ref:.2f}x)", va="center", fontsize=8)
    ax.set_xlabel("requests/s (wrk; ratio to nginx)", fontsize=8)
    ax.set_xlim(0, max(values) * 1.45)
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v / 1000:.0f}k"))
    bars = ax_cpu.barh(labels, cpus, color="#dd8452")
    for bar, v in zip(bars, cpus, strict=True):
        ratio = f" ({v / ref_cpu:.1f}x)" if ref_cpu else ""
        ax_cpu.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {v:.1f}{ratio}",
                    va="center", fontsize=8)
    ax_cpu.set_xlabel("server CPU µs per request (ratio to nginx)", fontsize=8)
    ax_cpu.set_xlim(0, (max(cpus) or 1.0) * 1.45)
    fig.suptitle("Hit path: throughput and CPU per request, same machine, same run "
                 "(best round)", fontsize=10)
    return _save(fig, folder, f"{stem}-throughput.png")


def _grouped(plt: Any, rows: list[tuple[str, dict[str, Any]]], title: str, folder: Path,
             name: str, log: bool) -> Path | None:
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    width = 0.26
    for i, (field, color) in enumerate((("p50_ms", "#55a868"), ("p95_ms", "#dd8452"),
                                        ("p99_ms", "#c44e52"))):
        xs = [j + (i - 1) * width for j in range(len(rows))]
        ax.bar(xs, [r[field] or 0 for _, r in rows], width, label=field[:3], color=color)
    ax.set_xticks(range(len(rows)), [label for label, _ in rows], fontsize=8)
    if log:
        ax.set_yscale("log")
    ax.set_ylabel("ms")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    return _save(fig, folder, name)


def _validation(plt: Any, runs: dict[str, Any], folder: Path, stem: str) -> Path | None:
    kinds = [k for k in KINDS if f"val.{k}.cold" in runs]
    if not kinds:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    width = 0.2
    series = [("cold", "p50_ms", "#c44e52"), ("cold", "p99_ms", "#e8a0a2"),
              ("warm", "p50_ms", "#4c72b0"), ("warm", "p99_ms", "#a6bddb")]
    for i, (phase, field, color) in enumerate(series):
        xs = [j + (i - 1.5) * width for j in range(len(kinds))]
        ax.bar(xs, [runs[f"val.{k}.{phase}"][field] or 0 for k in kinds], width,
               label=f"{phase} {field[:3]}", color=color)
    ax.set_xticks(range(len(kinds)), kinds)
    ax.set_yscale("log")
    ax.set_ylim(0.5, 2000)  # room above the bars for the legend
    ax.set_ylabel("ms (log)")
    ax.legend(fontsize=8, ncol=4, loc="upper center")
    ax.set_title("Validation latency: cold (miss, upstream +latency) and warm (L1 hit)", fontsize=10)
    return _save(fig, folder, f"{stem}-validation.png")


def _hit_rates(plt: Any, hit_rates: dict[str, Any], folder: Path, stem: str) -> Path | None:
    if not hit_rates:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 3.0))
    labels = list(hit_rates)
    values = [(hit_rates[k]["hit_rate"] or 0) * 100 for k in labels]
    colors = ["#4c72b0" if k.startswith("node") else "#8c8c8c" for k in labels]
    bars = ax.bar([k.replace("before", "before").replace(".", "\n") for k in labels], values,
                  color=colors)
    for bar, v in zip(bars, values, strict=True):
        ax.text(bar.get_x() + bar.get_width() / 2, v, f"{v:.1f}", ha="center", va="bottom",
                fontsize=8)
    ax.axhline(90, color="#c44e52", linestyle="--", linewidth=1, label="roadmap target 90 %")
    ax.set_ylim(0, 105)
    ax.set_ylabel("hit rate %")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("Zipf mix: cache hit rate (1 - validations computed / requests)", fontsize=10)
    return _save(fig, folder, f"{stem}-hitrate.png")


def draw(data: dict[str, Any], folder: Path, stem: str) -> list[Path]:
    """Every chart the data allows; returns the files written."""
    plt = _plt()
    folder.mkdir(parents=True, exist_ok=True)
    runs = data["runs"]
    out = [
        _throughput(plt, runs, folder, stem),
        _grouped(plt, [(label, runs[k]) for k, label in LATENCY if k in runs],
                 f"Latency at a constant {data['settings']['rate']:g} req/s (open loop)",
                 folder, f"{stem}-latency.png", log=True),
        _grouped(plt, [(label, runs[k]) for k, label in MISS if k in runs],
                 f"Miss path, upstream +{data['settings']['latency'] * 1000:g} ms",
                 folder, f"{stem}-miss.png", log=False),
        _validation(plt, runs, folder, stem),
        _hit_rates(plt, data["hit_rates"], folder, stem),
    ]
    return [p for p in out if p is not None]
