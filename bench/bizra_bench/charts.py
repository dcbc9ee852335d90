"""PNG charts of a suite run (matplotlib, Agg backend: no display needed).

Small on purpose (a few tens of KB each), so that docs/img/ can hold a copy.

Every chart says what was measured: the load (wrk's threads and connections, the
offered and the achieved rate), and which runs failed as measurements (errors, or the
server fell behind the offered rate; see ``validity``): those are drawn hatched in
grey and labelled FAILED, never as if they were figures. Each chart comes with its
metadata (:func:`draw` returns it: title, axes, scale, the series and their failures,
and any text that overlaps another or leaves the figure), which the report keeps in
its JSON and the tests read.
"""

from __future__ import annotations

import math
from itertools import combinations
from pathlib import Path
from typing import Any

from bizra_bench.validity import MIN_PACE, fmt_rate

__all__ = ["CHARTS", "LOG_ABOVE", "draw", "overlaps"]

THROUGHPUT = [("nginx.post", "nginx proxy_cache POST"), ("bare.get", "bare GET (node)"),
              ("bare.post", "bare POST (node)"), ("hit.post", "L1 hit POST validate"),
              ("hit.get", "L1 hit GET resource"), ("rpc.post", "POST /rpc")]
LATENCY = [("bare.get.paced", "bare GET"), ("nginx.post.paced", "nginx cached"),
           ("hit.post.paced", "L1 hit POST"), ("hit.get.paced", "L1 hit GET"),
           ("mixed.node.paced", "Zipf mix: node"), ("mixed.before.paced", "Zipf mix: before")]
MISS = [("miss.direct", "upstream direct"), ("miss.node", "node"), ("miss.before", "before")]
KINDS = ("transaction", "block", "address")
PERCENTILES = (("p50_ms", "#55a868"), ("p95_ms", "#dd8452"), ("p99_ms", "#c44e52"))
FAILED_COLOR, FAILED_HATCH = "#d0d0d0", "///"
LOG_ABOVE = 20.0
"""A latency chart is drawn on a log axis when its largest bar is this many times its
smallest: one bar 100x another leaves the others unreadable on a linear one."""


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)


def _short(text: str, limit: int = 34) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _texts(fig: Any) -> list[tuple[str, Any]]:
    """Every visible, non-empty text of ``fig`` with its extent (the legend as one box)."""
    renderer = fig.canvas.get_renderer()
    out: list[tuple[str, Any]] = []
    candidates = list(fig.texts)  # the suptitle among them
    for ax in fig.axes:
        candidates += [ax.title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks():
                if lo * (1 - 1e-9) - 1e-9 <= tick.get_loc() <= hi * (1 + 1e-9) + 1e-9:
                    candidates.append(tick.label1)
        legend = ax.get_legend()
        if legend is not None:
            out.append(("legend", legend.get_window_extent(renderer)))
    seen: set[int] = set()
    for text in candidates:
        if text is None or id(text) in seen or not text.get_visible() \
                or not text.get_text().strip():
            continue
        seen.add(id(text))
        out.append((text.get_text().replace("\n", " "), text.get_window_extent(renderer)))
    return out


def overlaps(fig: Any) -> list[str]:
    """Texts of ``fig`` that overlap one another, a legend that covers a bar, and texts
    that leave the figure: each as a line saying which. Empty for a readable chart."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    found: list[str] = []
    texts = _texts(fig)
    whole = fig.bbox
    for name, box in texts:
        if box.x0 < whole.x0 - 1 or box.x1 > whole.x1 + 1 or box.y0 < whole.y0 - 1 \
                or box.y1 > whole.y1 + 1:
            found.append(f"{name!r} leaves the figure")
    for (a, box_a), (b, box_b) in combinations(texts, 2):
        if box_a.width and box_b.width and box_a.overlaps(box_b):
            found.append(f"{a!r} overlaps {b!r}")
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is None:
            continue
        box = legend.get_window_extent(renderer)
        for patch in ax.patches:
            extent = patch.get_window_extent(renderer)
            if extent.width > 0 and extent.height > 0 and box.overlaps(extent):
                found.append("the legend covers a bar")
                break
    return found


def _save(fig: Any, folder: Path, name: str, meta: dict[str, Any]) -> dict[str, Any]:
    fig.tight_layout()
    meta["overlaps"] = overlaps(fig)
    fig.savefig(folder / name, dpi=80)
    _plt().close(fig)
    return {"file": name, **meta}


def _legend(ax: Any, entries: list[tuple[str, str]]) -> None:
    """A legend beside the plot (never over a bar) of each series' own colour, and of
    the failed style when any bar is drawn in it."""
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=color, label=label) for label, color in entries]
    if any(p.get_hatch() == FAILED_HATCH for p in ax.patches):
        handles.append(Patch(facecolor=FAILED_COLOR, hatch=FAILED_HATCH, label="FAILED"))
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))


def _failed(run: dict[str, Any] | None) -> str | None:
    return None if run is None else run.get("failure")


def _errors_line(rows: list[tuple[str, dict[str, Any]]]) -> str:
    bad = [f"{label} ({run['failure']})" for label, run in rows if run.get("failure")]
    return "every run a measurement: no errors" if not bad else \
        _short("FAILED measurements (hatched): " + "; ".join(bad), 110)


def _throughput(plt: Any, runs: dict[str, Any], settings: dict[str, Any], folder: Path,
                stem: str) -> dict[str, Any] | None:
    """req/s (left) and server CPU µs per request (right) of each hit-path target, each
    with its ratio to nginx proxy_cache of the same run (when nginx's run and its own
    are measurements)."""
    rows = [(label, runs[k]) for k, label in THROUGHPUT if k in runs]
    if not rows:
        return None
    nginx = runs.get("nginx.post")
    ref = None if nginx is None or _failed(nginx) else _num(nginx["rps"])
    ref_cpu = None if nginx is None or _failed(nginx) else _num(nginx.get("cpu_us"))
    fig, (ax, ax_cpu) = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    rows = rows[::-1]
    labels = [label for label, _ in rows]
    values = [_num(r["rps"]) if not math.isnan(_num(r["rps"])) else 0.0 for _, r in rows]
    cpus = [0.0 if math.isnan(_num(r.get("cpu_us"))) else _num(r.get("cpu_us")) for _, r in rows]
    colors = [FAILED_COLOR if _failed(r) else "#4c72b0" for _, r in rows]
    hatches = [FAILED_HATCH if _failed(r) else "" for _, r in rows]
    bars = ax.barh(labels, values, color=colors, hatch=hatches)
    for bar, v, (_, run) in zip(bars, values, rows, strict=True):
        note = "FAILED" if _failed(run) else (f"{v / ref:.2f}x" if ref else "")
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2,
                f" {v / 1000:.1f}k" + (f" ({note})" if note else ""), va="center", fontsize=8)
    ax.set_xlabel("requests/s, best round (ratio to nginx)", fontsize=8)
    ax.set_xlim(0, (max(values) or 1.0) * 1.6)
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v / 1000:.0f}k"))
    ax.tick_params(labelsize=8)
    bars = ax_cpu.barh(labels, cpus, color=[FAILED_COLOR if c == FAILED_COLOR else "#dd8452"
                                            for c in colors], hatch=hatches)
    for bar, v, (_, run) in zip(bars, cpus, rows, strict=True):
        note = "FAILED" if _failed(run) else (f"{v / ref_cpu:.1f}x" if ref_cpu else "")
        ax_cpu.text(bar.get_width(), bar.get_y() + bar.get_height() / 2,
                    f" {v:.1f}" + (f" ({note})" if note else ""), va="center", fontsize=8)
    ax_cpu.set_xlabel("server CPU µs per request, same round (ratio to nginx)", fontsize=8)
    ax_cpu.set_xlim(0, (max(cpus) or 1.0) * 1.6)
    ax_cpu.tick_params(labelsize=8)
    threads = settings.get("wrk_threads", 2)
    title = (f"Hit path: requests/s and server CPU per request, wrk -t{threads} "
             f"-c{settings.get('connections')}, {settings.get('duration', 0):g} s rounds, best of "
             f"{settings.get('repeat', 1)}\n{_errors_line(rows)}")
    fig.suptitle(title, fontsize=9)
    return _save(fig, folder, f"{stem}-throughput.png", {
        "title": title, "xlabel": "requests/s; server CPU µs per request", "scale": "linear",
        "series": [{"label": label, "rps": run.get("rps"), "cpu_us": run.get("cpu_us"),
                    "failure": _failed(run)} for label, run in rows[::-1]]})


def _rate_line(run: dict[str, Any]) -> str:
    """Under a paced run's name: achieved of offered req/s, errors, FAILED."""
    rate, rps = _num(run.get("rate")), _num(run.get("rps"))
    text = f"{fmt_rate(rps)} of {fmt_rate(rate)}/s" if rate > 0 else f"{fmt_rate(rps)}/s"
    if run.get("errors"):
        text += f"\n{run['errors']} errors"
    if run.get("failure"):
        text += "\nFAILED"
    return text


def _scale(rows: list[tuple[str, dict[str, Any]]]) -> str:
    values = [v for _, r in rows for f, _ in PERCENTILES
              if not math.isnan(v := _num(r.get(f))) and v > 0]
    return "log" if values and max(values) / min(values) >= LOG_ABOVE else "linear"


def _grouped(plt: Any, rows: list[tuple[str, dict[str, Any]]], title: str, folder: Path,
             name: str) -> dict[str, Any] | None:
    """p50, p95 and p99 of each run side by side; a failed run's bars hatched grey."""
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(max(7.5, 1.5 * len(rows)), 3.6))
    width = 0.26
    scale = _scale(rows)
    for i, (field, color) in enumerate(PERCENTILES):
        xs = [j + (i - 1) * width for j in range(len(rows))]
        values = [0.0 if math.isnan(_num(r.get(field))) else _num(r.get(field)) for _, r in rows]
        ax.bar(xs, values, width, label=field[:3], color=[FAILED_COLOR if r.get("failure")
                                                           else color for _, r in rows],
               hatch=[FAILED_HATCH if r.get("failure") else "" for _, r in rows],
               edgecolor=[color for _ in rows], linewidth=0.6)
    ticks = [f"{label}\n{_rate_line(r)}" for label, r in rows]
    ax.set_xticks(range(len(rows)), ticks, fontsize=7.5)
    ax.set_yscale(scale)
    ax.set_ylabel("ms (log scale)" if scale == "log" else "ms", fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    _legend(ax, [(field[:3], color) for field, color in PERCENTILES])
    ax.set_title(title, fontsize=9)
    return _save(fig, folder, name, {
        "title": title, "ylabel": ax.get_ylabel(), "scale": scale, "ticks": ticks,
        "series": [{"label": label, "offered": r.get("rate"), "achieved": r.get("rps"),
                    "errors": r.get("errors"), "p50_ms": r.get("p50_ms"),
                    "p99_ms": r.get("p99_ms"), "failure": r.get("failure")}
                   for label, r in rows]})


def _latency(plt: Any, runs: dict[str, Any], settings: dict[str, Any], folder: Path,
             stem: str) -> dict[str, Any] | None:
    rows = [(label, runs[k]) for k, label in LATENCY if k in runs]
    if not rows:
        return None
    kept = all(not r.get("failure") for _, r in rows)
    title = (f"Latency, open loop, {settings.get('rate', 0):g} req/s offered for "
             f"{settings.get('paced_duration', 0):g} s: achieved rate under each run\n"
             + ("every run kept pace, no errors" if kept else
                f"hatched grey: FAILED (errors, or below {MIN_PACE:.0%} of the offered rate)"))
    return _grouped(plt, rows, title, folder, f"{stem}-latency.png")


def _miss(plt: Any, runs: dict[str, Any], settings: dict[str, Any], folder: Path,
          stem: str) -> dict[str, Any] | None:
    rows = [(label, runs[k]) for k, label in MISS if k in runs]
    if not rows:
        return None
    title = (f"Miss path: a new key per request, {settings.get('miss_rate', 0):g} req/s offered, "
             f"upstream +{settings.get('latency', 0) * 1000:g} ms\n"
             + ("every run kept pace, no errors" if all(not r.get("failure") for _, r in rows)
                else "hatched grey: FAILED (errors, or the server fell behind)"))
    return _grouped(plt, rows, title, folder, f"{stem}-miss.png")


def _validation(plt: Any, runs: dict[str, Any], folder: Path, stem: str) -> dict[str, Any] | None:
    kinds = [k for k in KINDS if f"val.{k}.cold" in runs and f"val.{k}.warm" in runs]
    if not kinds:
        return None
    fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.2
    series = [("cold", "p50_ms", "#c44e52"), ("cold", "p99_ms", "#e8a0a2"),
              ("warm", "p50_ms", "#4c72b0"), ("warm", "p99_ms", "#a6bddb")]
    top = 1.0
    for i, (phase, field, color) in enumerate(series):
        xs = [j + (i - 1.5) * width for j in range(len(kinds))]
        picked = [runs[f"val.{k}.{phase}"] for k in kinds]
        values = [0.0 if math.isnan(_num(r.get(field))) else _num(r.get(field)) for r in picked]
        top = max(top, *values)
        ax.bar(xs, values, width, label=f"{phase} {field[:3]}",
               color=[FAILED_COLOR if r.get("failure") else color for r in picked],
               hatch=[FAILED_HATCH if r.get("failure") else "" for r in picked],
               edgecolor=color, linewidth=0.6)

    def tick(kind: str) -> str:
        bad = [phase for phase in ("cold", "warm") if runs[f"val.{kind}.{phase}"].get("failure")]
        return kind + (f"\nFAILED: {', '.join(bad)}" if bad else "")

    ax.set_xticks(range(len(kinds)), [tick(k) for k in kinds], fontsize=8)
    ax.set_yscale("log")
    ax.set_ylim(0.1, top * 3)
    ax.set_ylabel("ms (log scale)", fontsize=8)
    _legend(ax, [(f"{phase} {field[:3]}", color) for phase, field, color in series])
    failed = [k for k in kinds for p in ("cold", "warm") if runs[f"val.{k}.{p}"].get("failure")]
    title = ("Validation latency: cold (a miss, upstream +latency) and warm (L1 hit), paced\n"
             + ("every run kept pace, no errors" if not failed else
                "hatched grey: FAILED measurements"))
    ax.set_title(title, fontsize=9)
    return _save(fig, folder, f"{stem}-validation.png", {
        "title": title, "ylabel": "ms (log scale)", "scale": "log",
        "series": [{"label": f"{k} {p}", "offered": runs[f"val.{k}.{p}"].get("rate"),
                    "achieved": runs[f"val.{k}.{p}"].get("rps"),
                    "failure": runs[f"val.{k}.{p}"].get("failure")}
                   for k in kinds for p in ("cold", "warm")]})


def _hit_rates(plt: Any, hit_rates: dict[str, Any], folder: Path, stem: str) -> dict[str, Any] | None:
    """Each phase's hit rate, 0-100 %; a phase whose count or run failed says "not
    measured" in its place (never a bar drawn from an impossible count)."""
    if not hit_rates:
        return None
    labels = list(hit_rates)
    fig, ax = plt.subplots(figsize=(max(7.5, 1.3 * len(labels) + 2), 3.4))
    xs = list(range(len(labels)))
    measured = [hit_rates[k].get("hit_rate") is not None and not hit_rates[k].get("failure")
                for k in labels]
    values = [min(max(float(hit_rates[k]["hit_rate"]) * 100, 0.0), 100.0) if ok else 0.0
              for k, ok in zip(labels, measured, strict=True)]
    colors = ["#4c72b0" if k.startswith("node") else "#8c8c8c" for k in labels]
    ax.bar(xs, values, 0.6, color=colors)
    for x, v, ok in zip(xs, values, measured, strict=True):
        if not ok:
            ax.bar([x], [100], 0.6, color="none", edgecolor=FAILED_COLOR, hatch=FAILED_HATCH)
            ax.text(x, 50, "not\nmeasured", ha="center", va="center", fontsize=8)
        elif v >= 12:
            ax.text(x, v - 2, f"{v:.1f}", ha="center", va="top", fontsize=8, color="white")
        else:
            ax.text(x, v + 2, f"{v:.1f}", ha="center", va="bottom", fontsize=8)
    ax.axhline(90, color="#c44e52", linestyle="--", linewidth=1, label="target 90 %")
    ax.set_xticks(xs, [k.replace(".", "\n") for k in labels], fontsize=8)
    ax.set_xlim(-0.6, len(labels) - 0.4)
    ax.set_ylim(0, 100)
    ax.set_ylabel("hit rate %", fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    title = ("Zipf mix: cache hit rate per phase, counted by the node\n"
             "(1 - validations computed / lookups; not measured: impossible count or failed run)")
    ax.set_title(title, fontsize=9)
    return _save(fig, folder, f"{stem}-hitrate.png", {
        "title": title, "ylabel": "hit rate %", "scale": "linear", "ylim": [0, 100],
        "series": [{"label": k, "hit_rate": hit_rates[k].get("hit_rate") if ok else None,
                    "failure": None if ok else (hit_rates[k].get("failure") or "no count")}
                   for k, ok in zip(labels, measured, strict=True)]})


CHARTS = ("throughput", "latency", "miss", "validation", "hitrate")


def draw(data: dict[str, Any], folder: Path, stem: str,
         names: tuple[str, ...] = CHARTS) -> list[dict[str, Any]]:
    """Every chart of ``names`` the data allows (``data`` as ``report.build`` makes it:
    runs carry their ``failure``); returns each chart's metadata, ``file`` its name in
    ``folder`` (``<stem>-<name>.png``)."""
    plt = _plt()
    folder.mkdir(parents=True, exist_ok=True)
    runs, settings = data["runs"], data["settings"]
    makers = {
        "throughput": lambda: _throughput(plt, runs, settings, folder, stem),
        "latency": lambda: _latency(plt, runs, settings, folder, stem),
        "miss": lambda: _miss(plt, runs, settings, folder, stem),
        "validation": lambda: _validation(plt, runs, folder, stem),
        "hitrate": lambda: _hit_rates(plt, data["hit_rates"], folder, stem),
    }
    out = [makers[name]() for name in names]
    return [m for m in out if m is not None]
