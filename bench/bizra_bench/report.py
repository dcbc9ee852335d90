"""The suite's results as ratios: the goals, the plan's table, the runs.

Every goal compares two figures measured in the same run on the same machine, so a
busy or a fast machine moves both. Beside every throughput figure stands the server's
CPU time per request (``cpu_us``), which moves far less with how the load generator
and the servers share the cores; the CPU goal is a ratio of those. Absolute figures
are reported beside them, for the plan's table (whose targets are absolute) and for
the curious.
"""

from __future__ import annotations

import argparse
import math
import statistics
from dataclasses import dataclass
from typing import Any

from bizra_bench.measure import Recorder
from bizra_bench.validity import MIN_PACE, fmt_rate, run_failure

__all__ = ["Fig", "assemble", "build", "hit_path", "markdown", "round_cpu_ratio", "round_ratio",
           "spread", "summary"]

NAN = float("nan")


@dataclass(frozen=True)
class Fig:
    """A figure of the report, or why there is none (``why``: a run not run, a failed
    measurement, a missing field). Only a figure with no ``why`` may meet a goal or
    divide another."""

    value: float = NAN
    why: str = ""

    @property
    def ok(self) -> bool:
        return not self.why and not math.isnan(self.value)


def _failure(run: dict[str, Any]) -> str | None:
    """The run's failure as recorded by :func:`build`, else judged now (runs straight
    from a Recorder, as ``bench compare`` passes them)."""
    return run["failure"] if "failure" in run else run_failure(run)


def figure(runs: dict[str, Any], key: str, field: str) -> Fig:
    """``field`` of run ``key``, unless the run is missing or a failed measurement."""
    run = runs.get(key)
    if not run:
        return Fig(why=f"{key} not run")
    failure = _failure(run)
    if failure:
        return Fig(why=f"{key} failed: {failure}")
    value = run.get(field)
    if value is None or math.isnan(float(value)):
        return Fig(why=f"{key} has no {field}")
    return Fig(float(value))


def _why(*figs: Fig) -> str:
    return "; ".join(dict.fromkeys(f.why for f in figs if f.why))


def divide(a: Fig, b: Fig) -> Fig:
    """a / b, not measured when either is not (a failed run is never a denominator)."""
    if why := _why(a, b):
        return Fig(why=why)
    if not b.value:
        return Fig(why="denominator 0")
    return Fig(a.value / b.value)


def _repeats(runs: dict[str, Any], key: str, field: str) -> list[float]:
    """Every round's figure of a wrk run (``repeats``: req/s, ``cpu_repeats``: CPU µs
    per request), else the one figure recorded."""
    run = runs.get(key) or {}
    values = (run.get("extra") or {}).get(field)
    if not values:
        one = run.get("rps" if field == "repeats" else "cpu_us")
        values = [] if one is None else [one]
    return [float(v) for v in values if v is not None and not math.isnan(float(v))]


def _round_fig(runs: dict[str, Any], a: str, b: str, rounds: str, field: str) -> Fig:
    """``a`` over ``b``: the median of the per-round ratios when both ran in the same
    rounds (each round takes every target in turn, so a round's two figures are the
    closest in time), else the ratio of the recorded figures; not measured when either
    run failed."""
    fa, fb = figure(runs, a, field), figure(runs, b, field)
    if why := _why(fa, fb):
        return Fig(why=why)
    ra, rb = _repeats(runs, a, rounds), _repeats(runs, b, rounds)
    if ra and rb and len(ra) == len(rb) and all(rb):
        return Fig(float(statistics.median(x / y for x, y in zip(ra, rb, strict=True))))
    return divide(fa, fb)


def round_ratio(runs: dict[str, Any], a: str, b: str) -> float:
    """req/s of ``a`` over ``b`` (:func:`_round_fig`); NaN when not measured."""
    return _round_fig(runs, a, b, "repeats", "rps").value


def round_cpu_ratio(runs: dict[str, Any], a: str, b: str) -> float:
    """CPU µs per request of ``a`` over ``b`` (:func:`_round_fig`); NaN when not measured."""
    return _round_fig(runs, a, b, "cpu_repeats", "cpu_us").value


def spread(values: list[float]) -> tuple[float, float, float]:
    """Median, lowest and highest of ``values`` (NaN when there are none)."""
    if not values:
        return NAN, NAN, NAN
    return float(statistics.median(values)), min(values), max(values)


HIT_TARGETS = [("nginx.post", "nginx proxy_cache, POST JSON-RPC (cached)"),
               ("bare.get", "bare GET /_bench/constant"),
               ("bare.post", "bare POST /_bench/constant"),
               ("hit.post", "POST validate/transaction, L1 hit"),
               ("hit.get", "GET transactions/{hash}, L1 hit"),
               ("rpc.post", "POST /rpc eth_getTransactionByHash, L1 hit")]


def hit_path(runs: dict[str, Any]) -> list[dict[str, Any]]:
    """Each hit-path target: req/s and CPU µs per request over the rounds (median and
    range), its ratios to nginx measured in the same rounds, and its failure; then the
    same for each other wrk setup measured beside (run keys ``<key>@t<N>``: N wrk
    threads), against nginx in that setup."""
    out = []
    setups = sorted({k.split("@", 1)[1] for k in runs if "@" in k})
    for tag in ["", *(f"@{s}" for s in setups)]:
        for target, label in HIT_TARGETS:
            key, ref = target + tag, "nginx.post" + tag
            if key not in runs:
                continue
            rps = spread(_repeats(runs, key, "repeats"))
            cpu = spread(_repeats(runs, key, "cpu_repeats"))
            to_rps = _round_fig(runs, key, ref, "repeats", "rps")
            to_cpu = _round_fig(runs, key, ref, "cpu_repeats", "cpu_us")
            out.append({"key": key, "label": label + (f" (wrk -{tag[1:]})" if tag else ""),
                        "rps": rps, "cpu_us": cpu, "rounds": len(_repeats(runs, key, "repeats")),
                        "failure": _failure(runs[key]),
                        "rps_vs_nginx": to_rps.value, "cpu_vs_nginx": to_cpu.value,
                        "vs_nginx_why": to_rps.why or to_cpu.why or None})
    return out


def _goal(name: str, fig: Fig, target: float, higher: bool, how: str,
          unit: str = "x") -> dict[str, Any]:
    """A goal met or not met on a measured figure; "not measured" (``ok`` None, with
    the reason) when its figure is not one."""
    row = {"goal": name, "target": f"{'>=' if higher else '<='} {target:g}{unit}", "how": how}
    if not fig.ok:
        return {**row, "measured": None, "ok": None, "status": "not measured",
                "reason": fig.why or "no figure"}
    ok = fig.value >= target if higher else fig.value <= target
    return {**row, "measured": round(fig.value, 3), "ok": ok,
            "status": "met" if ok else "not met", "reason": None}


def hit_rate_fig(hit_rates: dict[str, Any], key: str) -> Fig:
    """A phase's hit rate (0-1), unless its count or its run failed."""
    hr = hit_rates.get(key)
    if hr is None:
        return Fig(why=f"hit rate {key} not counted")
    if hr.get("failure"):
        return Fig(why=f"hit rate {key}: {hr['failure']}")
    if hr.get("hit_rate") is None:
        return Fig(why=f"hit rate {key}: no count")
    return Fig(float(hr["hit_rate"]))


def goals(runs: dict[str, Any], hit_rates: dict[str, Any]) -> list[dict[str, Any]]:
    def p50(key: str) -> Fig:
        return figure(runs, key, "p50_ms")

    steady = hit_rate_fig(hit_rates, "node.paced")
    return [
        _goal("L1-hit POST validate/transaction vs nginx proxy_cache (req/s)",
              _round_fig(runs, "hit.post", "nginx.post", "repeats", "rps"), 0.4, True,
              "wrk, same connections, median of the rounds' ratios; node with metrics on"),
        _goal("L1-hit POST validate/transaction vs nginx proxy_cache (CPU per request)",
              _round_fig(runs, "hit.post", "nginx.post", "cpu_repeats", "cpu_us"), 3.0, False,
              "server CPU time during the wrk run / requests answered, median of the "
              "rounds' ratios"),
        _goal("L1-hit GET transactions/{hash} vs nginx proxy_cache (req/s)",
              _round_fig(runs, "hit.get", "nginx.post", "repeats", "rps"), 0.6, True,
              "wrk, same connections, median of the rounds' ratios"),
        _goal("POST /rpc L1 hit (fast lane) vs POST validate/transaction L1 hit (req/s)",
              _round_fig(runs, "rpc.post", "hit.post", "repeats", "rps"), 0.9, True,
              "wrk, same server, median of the rounds' ratios (within 10 %)"),
        _goal("miss vs one upstream round trip (p50)",
              divide(p50("miss.node"), p50("miss.direct")), 1.1, False,
              "paced, a new key per request; (b) = the same batch sent to the upstream"),
        _goal("before vs node on a miss (p50, x faster)",
              divide(p50("miss.before"), p50("miss.node")), 2.5, True,
              "same keys, same proxy, same rate"),
        _goal("cache hit rate, Zipf mix, steady, default sizes",
              Fig(steady.value * 100) if steady.ok else steady, 90, True,
              "1 - validations the node computed / its lookups (both counted by the node)",
              unit=" %"),
    ]


def extra_ratios(runs: dict[str, Any]) -> list[tuple[str, Fig]]:
    def r(a: str, b: str) -> Fig:
        return _round_fig(runs, a, b, "repeats", "rps")

    def cpu(a: str, b: str) -> Fig:
        return _round_fig(runs, a, b, "cpu_repeats", "cpu_us")

    def best(a: str, b: str, field: str = "rps") -> Fig:
        return divide(figure(runs, a, field), figure(runs, b, field))

    return [
        ("L1-hit POST / bare GET (same server)", r("hit.post", "bare.get")),
        ("L1-hit POST / bare POST (same server)", r("hit.post", "bare.post")),
        ("L1-hit GET / bare GET (same server)", r("hit.get", "bare.get")),
        ("POST /rpc / nginx proxy_cache", r("rpc.post", "nginx.post")),
        ("CPU per request: L1-hit GET / nginx", cpu("hit.get", "nginx.post")),
        ("CPU per request: POST /rpc / nginx", cpu("rpc.post", "nginx.post")),
        ("CPU per request: bare GET / nginx", cpu("bare.get", "nginx.post")),
        ("CPU per request: L1-hit POST / bare POST", cpu("hit.post", "bare.post")),
        ("bare GET / nginx proxy_cache", r("bare.get", "nginx.post")),
        ("best L1-hit POST / best nginx proxy_cache", best("hit.post", "nginx.post")),
        ("best L1-hit GET / best nginx proxy_cache", best("hit.get", "nginx.post")),
        ("miss p99 / upstream p99", best("miss.node", "miss.direct", "p99_ms")),
        ("mixed throughput node / before (wrk, steady)",
         best("mixed.node.wrk", "mixed.before.wrk")),
    ]


def _db_query(subs: dict[str, Any]) -> tuple[Fig, Fig]:
    """p50 and p99 of the history queries of ``bench db`` (all query shapes), ms."""
    shapes = (subs.get("db") or {}).get("history", {}).get("all shapes") or {}
    if not shapes:
        return Fig(why="bench db not run"), Fig(why="bench db not run")
    return Fig(float(shapes.get("p50_ms", NAN))), Fig(float(shapes.get("p99_ms", NAN)))


def _cell(fig: Fig, fmt: str) -> str:
    """A figure for a table cell, or what stood in its way."""
    if fig.ok:
        return fmt.format(fig.value)
    return "-" if fig.why.endswith("not run") else f"not measured ({fig.why})"


def plan(runs: dict[str, Any], hit_rates: dict[str, Any],
         subs: dict[str, Any]) -> list[dict[str, Any]]:
    """The plan's table (the performance plan written for the system this node replaces,
    docs/performance.md): its starting figure and Week-3 target beside ours and
    beside the 'before' configuration measured in the same run. A row whose figure
    comes from a failed run is "not measured", never met."""
    node, before = "mixed.node.paced", "mixed.before.paced"
    db50, db99 = _db_query(subs)
    hr_node, hr_before = hit_rate_fig(hit_rates, "node.paced"), hit_rate_fig(hit_rates,
                                                                            "before.paced")

    def row(metric: str, current: str, target: str, fig: Fig, node_text: str, before_text: str,
            met: bool, how: str) -> dict[str, Any]:
        ok = met if fig.ok else None
        return {"metric": metric, "plan_start": current, "target": target,
                "node": node_text, "before": before_text, "ok": ok,
                "status": "not measured" if ok is None else ("met" if ok else "not met"),
                "reason": None if fig.ok else fig.why, "how": how}

    mean, p99 = figure(runs, node, "mean_ms"), figure(runs, node, "p99_ms")
    rss = figure(runs, node, "rss_mb")
    thr = divide(figure(runs, "mixed.node.wrk", "rps"), figure(runs, "mixed.before.wrk", "rps"))
    db = Fig(db99.value, _why(db50, db99))
    hr_pct = Fig(hr_node.value * 100) if hr_node.ok else hr_node
    return [
        row("API response (avg)", "150 ms", "< 50 ms", mean, _cell(mean, "{:.1f} ms"),
            _cell(figure(runs, before, "mean_ms"), "{:.1f} ms"), mean.value < 50,
            "Zipf mix, paced, 50 ms upstream"),
        row("API response (p99)", "250 ms", "< 80 ms", p99, _cell(p99, "{:.1f} ms"),
            _cell(figure(runs, before, "p99_ms"), "{:.1f} ms"), p99.value < 80, "same run"),
        row("DB query time", "50 ms", "< 15 ms", db,
            f"p50 {db50.value:.2f} ms, p99 {db99.value:.2f} ms" if db.ok else _cell(db, ""), "-",
            db99.value < 15, "bench db: history queries"),
        row("Cache hit rate", "60 %", "90 %+", hr_pct, _cell(hr_pct, "{:.1f} %"),
            _cell(Fig(hr_before.value * 100) if hr_before.ok else hr_before, "{:.1f} %"),
            hr_pct.value >= 90, "Zipf mix, steady, computed validations counted by the node"),
        row("Memory usage", "61 GB", "< 40 GB", rss, _cell(rss, "{:.0f} MB"),
            _cell(figure(runs, before, "rss_mb"), "{:.0f} MB"), rss.value < 40 * 1024,
            "peak RSS, all node processes"),
        row("Throughput", "low-med", "3-5x baseline", thr, _cell(thr, "{:.1f}x before"), "1x",
            thr.value >= 3, "Zipf mix, wrk, steady"),
    ]


def _judge_hit_rates(runs: dict[str, Any], hit_rates: dict[str, Any]) -> dict[str, Any]:
    """Each phase's hit rate with its ``failure``: its own (an impossible count), else
    its run's (a phase whose run failed did not measure a steady hit rate); a rate is
    kept only when neither failed."""
    out = {}
    for key, hr in hit_rates.items():
        hr = {"failure": None, **hr}
        run = runs.get(f"mixed.{key}")
        if not hr["failure"] and run is not None and run.get("failure"):
            hr["failure"] = f"its run failed: {run['failure']}"
        if hr["failure"]:
            hr["hit_rate"] = None
        elif hr.get("hit_rate") is not None and not 0 <= float(hr["hit_rate"]) <= 1:
            hr["failure"] = "impossible count: the counts give a hit rate outside 0-1"
            hr["hit_rate"] = None
        out[key] = hr
    return out


def count(rows: list[dict[str, Any]]) -> dict[str, int]:
    """How many rows are met, not met, not measured."""
    out = {"met": 0, "not met": 0, "not measured": 0}
    for r in rows:
        out[r["status"]] += 1
    return out


def build(settings: dict[str, Any], info: dict[str, Any], runs: dict[str, Any],
          hit_rates: dict[str, Any], subs: dict[str, Any], notes: list[str],
          elapsed: float) -> dict[str, Any]:
    """The report's data, a pure function of the results: every run judged
    (``failure``: why it is not a measurement, or None), then the goals, ratios and
    tables from the runs that are measurements."""
    runs = {k: {**r, "failure": run_failure(r)} for k, r in runs.items()}
    hit_rates = _judge_hit_rates(runs, hit_rates)
    goal_rows = goals(runs, hit_rates)
    road = plan(runs, hit_rates, subs)
    return {"settings": settings, "info": info, "elapsed_s": round(elapsed),
            "runs": runs, "hit_rates": hit_rates,
            "failed": {k: r["failure"] for k, r in runs.items() if r["failure"]},
            "goals": goal_rows, "goal_count": count(goal_rows),
            "hit_path": [{**h, "rps": list(h["rps"]), "cpu_us": list(h["cpu_us"]),
                          "rps_vs_nginx": _round(h["rps_vs_nginx"]),
                          "cpu_vs_nginx": _round(h["cpu_vs_nginx"])} for h in hit_path(runs)],
            "ratios": [{"ratio": n, "value": _round(f.value) if f.ok else None,
                        "failure": f.why or None} for n, f in extra_ratios(runs)],
            "plan": road, "plan_count": count(road),
            "subscenarios": {k: _sub_highlights(k, v) for k, v in subs.items()},
            "notes": notes}


def assemble(args: argparse.Namespace, rec: Recorder, hit_rates: dict[str, Any],
             subs: dict[str, Any], info: dict[str, Any], elapsed: float) -> dict[str, Any]:
    return build(vars(args), info, {k: r.as_dict() for k, r in rec.runs.items()}, hit_rates,
                 subs, rec.notes, elapsed)


def _round(v: float) -> float | None:
    return None if math.isnan(v) else round(v, 3)


def _sub_highlights(name: str, doc: dict[str, Any]) -> dict[str, Any]:
    if name == "cache":
        return {"l1": doc.get("l1"), "hit_path": doc.get("hit_path"),
                "default_codec": doc.get("default_codec")}
    if name == "circuit-breaker":
        return {"rows": doc.get("rows")}
    if name == "db":
        return {k: doc.get(k) for k in ("server", "write_behind", "acquire")} | {
            "history_all": (doc.get("history") or {}).get("all shapes")}
    return {}


def sub_lines(subs: dict[str, Any]) -> list[str]:
    """One line per figure that matters from the cache, circuit-breaker and db runs."""
    out: list[str] = []
    cache = subs.get("cache") or {}
    if cache.get("l1"):
        l1, hit = cache["l1"], cache.get("hit_path") or {}
        out.append(f"- cache: L1 get (hit) {l1.get('l1_get_hit_ns')} ns, TieredCache.fetch L1 "
                   f"hit {l1.get('tiered_fetch_l1_hit_ns')} ns; in-process hit path "
                   f"{hit.get('validate_tx_hit_us')} µs (POST) / {hit.get('get_tx_hit_us')} µs "
                   f"(GET) vs {hit.get('constant_us')} µs for the bare endpoint; L2 codec "
                   f"{cache.get('default_codec')}")
    for row in (subs.get("circuit-breaker") or {}).get("rows") or []:
        out.append(f"- circuit breaker {row['name']} ({row['mode']}): "
                   f"{row['overhead_us']:.2f} µs per call, {row['growth_bytes']} B growth")
    db = subs.get("db") or {}
    if db.get("history_all"):
        h, w, a = db["history_all"], db.get("write_behind") or {}, db.get("acquire") or {}
        out.append(f"- db ({db.get('server')}): history queries p50 {h['p50_ms']} ms, p99 "
                   f"{h['p99_ms']} ms (n={h['n']}); write-behind {w.get('records_per_s')} "
                   f"records/s, {w.get('enqueue_ns_per_record')} ns on the request path; pool "
                   f"acquire p99 {(a.get('acquire') or {}).get('p99_ms')} ms at "
                   f"{a.get('concurrency')} concurrent")
    return out


# --- rendering ------------------------------------------------------------------------------
def _mark(row: dict[str, Any]) -> str:
    """A goal's or a plan row's status cell: yes, **no**, or not measured (why)."""
    if row["status"] == "not measured":
        return f"not measured: {row['reason']}"
    return "yes" if row["ok"] else "**no**"


def _num(v: Any, fmt: str = "{:.2f}") -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)


def _tally(c: dict[str, int], what: str) -> str:
    return (f"{what}: {c['met']} met, {c['not met']} not met, {c['not measured']} not "
            f"measured (of {sum(c.values())})")


def goals_table(data: dict[str, Any]) -> list[str]:
    lines = [_tally(data["goal_count"], "Goals"), "",
             "| goal | measured | target | met | how |", "| --- | ---: | --- | --- | --- |"]
    for g in data["goals"]:
        lines.append(f"| {g['goal']} | {_num(g['measured'], '{:.3g}')} | {g['target']} | "
                     f"{_mark(g)} | {g['how']} |")
    return lines


def failed_lines(data: dict[str, Any]) -> list[str]:
    """Every run that is not a measurement, and why (nothing when every run is one)."""
    if not data["failed"]:
        return []
    return ["## Failed measurements", "",
            f"A run with errors, or that achieved less than {MIN_PACE:.0%} of the rate it "
            "offered, measured a queue or a refusal, not the server: it is never a "
            "denominator, never a goal met (the goal is then \"not measured\").", "",
            *[f"- **{data['runs'][k]['label']}** (`{k}`): {why}" for k, why in
              data["failed"].items()], ""]


def plan_table(data: dict[str, Any]) -> list[str]:
    lines = [_tally(data["plan_count"], "The plan's targets"), "",
             "| metric | plan's start | plan's target (week 3) | node | before (same run) "
             "| target met | how |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in data["plan"]:
        lines.append(f"| {r['metric']} | {r['plan_start']} | {r['target']} | {r['node']} | "
                     f"{r['before']} | {_mark(r)} | {r['how']} |")
    return lines


def _med_range(v: list[Any], fmt: str) -> str:
    med, lo, hi = (None if x is None or (isinstance(x, float) and math.isnan(x)) else x for x in v)
    if med is None:
        return "-"
    return fmt.format(med) if lo == hi else f"{fmt.format(med)} ({fmt.format(lo)}-{fmt.format(hi)})"


def hit_table(data: dict[str, Any]) -> list[str]:
    lines = ["| target | rounds | req/s median (range) | CPU µs/request median (range) | "
             "req/s vs nginx | CPU/request vs nginx | measurement |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for h in data.get("hit_path") or []:
        lines.append(f"| {h['label']} | {h['rounds']} | {_med_range(h['rps'], '{:.0f}')} | "
                     f"{_med_range(h['cpu_us'], '{:.1f}')} | {_num(h['rps_vs_nginx'], '{:.3f}')} | "
                     f"{_num(h['cpu_vs_nginx'], '{:.2f}')} | "
                     f"{'**FAILED**: ' + h['failure'] if h['failure'] else 'ok'} |")
    return lines


def _pace(r: dict[str, Any]) -> str:
    """A paced run's achieved share of its offered rate."""
    if r["tool"] != "paced" or not r.get("rate"):
        return "-"
    return f"{(r['rps'] or 0) / r['rate']:.1%}"


def runs_table(data: dict[str, Any]) -> list[str]:
    lines = ["| run | tool | offered req/s | achieved req/s | of offered | mean ms | p50 ms | "
             "p95 ms | p99 ms | errors | CPU % | CPU µs/req | RSS MB | measurement |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
             "| ---: | --- |"]
    for r in data["runs"].values():
        extra = r.get("extra") or {}
        tool = (f"wrk -t{extra.get('threads', '?')} -c{extra.get('connections', '?')}"
                if r["tool"] == "wrk" else "paced")
        offered = fmt_rate(r["rate"]) if r["tool"] == "paced" and r.get("rate") else "-"
        achieved = "-" if r.get("rps") is None else fmt_rate(r["rps"])
        lines.append(f"| {r['label']} | {tool} | {offered} | {achieved} | "
                     f"{_pace(r)} | {_num(r['mean_ms'])} | "
                     f"{_num(r['p50_ms'])} | {_num(r['p95_ms'])} | {_num(r['p99_ms'])} | "
                     f"{r['errors']} | {_num(r['cpu_pct'], '{:.0f}')} | "
                     f"{_num(r.get('cpu_us'), '{:.1f}')} | {_num(r['rss_mb'], '{:.0f}')} | "
                     f"{'**FAILED**: ' + r['failure'] if r.get('failure') else 'ok'} |")
    return lines


def hit_rate_table(data: dict[str, Any]) -> list[str]:
    lines = ["| node | phase | answers to the client (at least) | lookups (node) | validations "
             "computed (node) | hit rate |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for key, hr in data["hit_rates"].items():
        profile, phase = key.split(".")
        rate = (f"not measured: {hr['failure']}" if hr.get("failure")
                else _num(hr.get("hit_rate"), "{:.4f}"))
        lines.append(f"| {profile} | {phase} | {hr.get('requests')} | "
                     f"{_num(hr.get('lookups'), '{}')} | "
                     f"{_num(hr.get('upstream_validations'), '{}')} | {rate} |")
    return lines


def markdown(data: dict[str, Any]) -> str:
    s = data["settings"]
    keys = data["info"].get("keys") or {}
    sets = "; ".join(f"{name}: {v['transaction']} tx, {v['block']} blocks, {v['address']} addresses"
                     for name, v in keys.items() if isinstance(v, dict))
    lines = ["# bench suite", "",
             f"Keys seeded ({sets}); upstream behind the latency proxy "
             f"(+{s['latency'] * 1000:g} ms); node: granian RSGI, {s['workers']} workers, "
             f"Redis L2 {'on' if data['info'].get('redis_l2') else 'off'}, PostgreSQL records "
             f"{'on' if data['info'].get('postgres_records') else 'off'}; wrk "
             f"-t{s.get('wrk_threads', 2)} -c{s['connections']}, {s['duration']:g} s runs, "
             f"{s.get('repeat', 1)} rounds on the hit path"
             + (f" (and again with wrk -t{s['also_wrk_threads']}, reported beside)"
                if s.get("also_wrk_threads") and s["also_wrk_threads"] != s.get("wrk_threads")
                else "") + f"; paced {s['rate']:g} req/s offered x "
             f"{s['paced_duration']:g} s; Zipf s={s['zipf_s']}; {data['elapsed_s']} s in all.", "",
             "## Goals (ratios measured in this run)", "", *goals_table(data), "",
             *failed_lines(data),
             "## Hit path: throughput and CPU per request (wrk, each target in turn each "
             "round)", "", *hit_table(data), "",
             "## The plan's table", "", *plan_table(data), "",
             "## Other ratios", "", "| ratio | value |", "| --- | ---: |"]
    lines += [f"| {r['ratio']} | "
              f"{_num(r['value'], '{:.3g}') if not r.get('failure') else 'not measured: ' + r['failure']} |"
              for r in data["ratios"]]
    lines += ["", "## Hit rates (counted by the node: its lookups and the validations it "
              "computed)", "", *hit_rate_table(data)]
    lines += ["", "## Every run", "", *runs_table(data), ""]
    if data.get("subscenarios"):
        lines += ["## Other scenarios (each in its own process; full reports: "
                  "bench/results/<name>-latest.md)", "", *sub_lines(data["subscenarios"]), ""]
    if data.get("notes"):
        lines += ["## Notes", "", *[f"- {n}" for n in data["notes"]], ""]
    if data.get("charts"):
        lines += ["## Charts", ""]
        for c in data["charts"]:
            lines.append(f"![{c['title'].splitlines()[0]}]({c['file']})")
            if c.get("overlaps"):
                lines.append(f"(overlapping labels: {'; '.join(c['overlaps'])})")
        lines.append("")
    return "\n".join(lines)


def summary(data: dict[str, Any]) -> str:
    """What the terminal shows at the end."""
    failed = [f"  {k}: {why}" for k, why in data["failed"].items()]
    return "\n".join(["", "== goals ==", *goals_table(data), "",
                      *(["== FAILED measurements ==", *failed, ""] if failed else []),
                      "== hit path ==", *hit_table(data), "", "== the plan's table ==",
                      *plan_table(data), ""])
