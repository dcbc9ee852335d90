"""The suite's results as ratios: the issue's goals, the roadmap's table, the runs.

Every goal compares two figures measured in the same run on the same machine, so a
busy or a fast machine moves both. Beside every throughput figure stands the server's
CPU time per request (``cpu_us``), which moves far less with how the load generator
and the servers share the cores; the CPU goal is a ratio of those. Absolute figures
are reported beside them, for the roadmap's table (whose targets are absolute) and for
the curious.
"""

from __future__ import annotations

import argparse
import math
import statistics
from typing import Any

from bizra_bench.measure import Recorder

__all__ = ["assemble", "hit_path", "markdown", "round_cpu_ratio", "round_ratio", "spread",
           "summary"]

NAN = float("nan")


def _get(runs: dict[str, Any], key: str, field: str) -> float:
    run = runs.get(key)
    value = run.get(field) if run else None
    return float(value) if value is not None else NAN


def _ratio(a: float, b: float) -> float:
    return a / b if b and not math.isnan(a) and not math.isnan(b) else NAN


def round_ratio(runs: dict[str, Any], a: str, b: str) -> float:
    """req/s of ``a`` over ``b``: the median of the per-round ratios when both ran in
    the same rounds (each round takes every target in turn, so a round's two figures
    are the closest in time), else the ratio of the best figures."""
    ra = ((runs.get(a) or {}).get("extra") or {}).get("repeats")
    rb = ((runs.get(b) or {}).get("extra") or {}).get("repeats")
    if ra and rb and len(ra) == len(rb):
        return float(statistics.median(float(x) / float(y) for x, y in zip(ra, rb, strict=True)))
    return _ratio(_get(runs, a, "rps"), _get(runs, b, "rps"))


def _repeats(runs: dict[str, Any], key: str, field: str) -> list[float]:
    """Every round's figure of a wrk run (``repeats``: req/s, ``cpu_repeats``: CPU µs
    per request), else the one figure recorded."""
    run = runs.get(key) or {}
    values = (run.get("extra") or {}).get(field)
    if not values:
        one = run.get("rps" if field == "repeats" else "cpu_us")
        values = [] if one is None else [one]
    return [float(v) for v in values if v is not None and not math.isnan(float(v))]


def round_cpu_ratio(runs: dict[str, Any], a: str, b: str) -> float:
    """CPU µs per request of ``a`` over ``b``: the median of the per-round ratios (as
    :func:`round_ratio`), else the ratio of the recorded figures."""
    ra, rb = _repeats(runs, a, "cpu_repeats"), _repeats(runs, b, "cpu_repeats")
    if ra and rb and len(ra) == len(rb):
        return float(statistics.median(x / y for x, y in zip(ra, rb, strict=True) if y))
    return _ratio(_get(runs, a, "cpu_us"), _get(runs, b, "cpu_us"))


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
    range), and its ratios to nginx measured in the same rounds."""
    out = []
    for key, label in HIT_TARGETS:
        if key not in runs:
            continue
        rps, cpu = spread(_repeats(runs, key, "repeats")), spread(_repeats(runs, key, "cpu_repeats"))
        out.append({"key": key, "label": label, "rps": rps, "cpu_us": cpu,
                    "rounds": len(_repeats(runs, key, "repeats")),
                    "rps_vs_nginx": round_ratio(runs, key, "nginx.post"),
                    "cpu_vs_nginx": round_cpu_ratio(runs, key, "nginx.post")})
    return out


def _goal(name: str, value: float, target: float, higher: bool, how: str,
          unit: str = "x") -> dict[str, Any]:
    ok = None if math.isnan(value) else (value >= target if higher else value <= target)
    return {"goal": name, "measured": None if math.isnan(value) else round(value, 3),
            "target": f"{'>=' if higher else '<='} {target:g}{unit}", "ok": ok, "how": how}


def goals(runs: dict[str, Any], hit_rates: dict[str, Any]) -> list[dict[str, Any]]:
    def p50(key: str) -> float:
        return _get(runs, key, "p50_ms")

    steady = hit_rates.get("node.paced", {}).get("hit_rate")
    return [
        _goal("L1-hit POST validate/transaction vs nginx proxy_cache (req/s)",
              round_ratio(runs, "hit.post", "nginx.post"), 0.4, True,
              "wrk, same connections, median of the rounds' ratios; node with metrics on"),
        _goal("L1-hit POST validate/transaction vs nginx proxy_cache (CPU per request)",
              round_cpu_ratio(runs, "hit.post", "nginx.post"), 3.0, False,
              "server CPU time during the wrk run / requests answered, median of the "
              "rounds' ratios"),
        _goal("L1-hit GET transactions/{hash} vs nginx proxy_cache (req/s)",
              round_ratio(runs, "hit.get", "nginx.post"), 0.6, True,
              "wrk, same connections, median of the rounds' ratios"),
        _goal("POST /rpc L1 hit (fast lane) vs POST validate/transaction L1 hit (req/s)",
              round_ratio(runs, "rpc.post", "hit.post"), 0.9, True,
              "wrk, same server, median of the rounds' ratios (within 10 %)"),
        _goal("miss vs one upstream round trip (p50)",
              _ratio(p50("miss.node"), p50("miss.direct")), 1.1, False,
              "paced, a new key per request; (b) = the same batch sent to the upstream"),
        _goal("roadmap before vs node on a miss (p50, x faster)",
              _ratio(p50("miss.before"), p50("miss.node")), 2.5, True,
              "same keys, same proxy, same rate"),
        _goal("cache hit rate, Zipf mix, steady, default sizes",
              NAN if steady is None else steady * 100, 90, True,
              "1 - validations the node computed / client requests", unit=" %"),
    ]


def extra_ratios(runs: dict[str, Any]) -> list[tuple[str, float]]:
    def rps(key: str) -> float:
        return _get(runs, key, "rps")

    def r(a: str, b: str) -> float:
        return round_ratio(runs, a, b)

    return [
        ("L1-hit POST / bare GET (same server)", r("hit.post", "bare.get")),
        ("L1-hit POST / bare POST (same server)", r("hit.post", "bare.post")),
        ("L1-hit GET / bare GET (same server)", r("hit.get", "bare.get")),
        ("POST /rpc / nginx proxy_cache", r("rpc.post", "nginx.post")),
        ("CPU per request: L1-hit GET / nginx", round_cpu_ratio(runs, "hit.get", "nginx.post")),
        ("CPU per request: POST /rpc / nginx", round_cpu_ratio(runs, "rpc.post", "nginx.post")),
        ("CPU per request: bare GET / nginx", round_cpu_ratio(runs, "bare.get", "nginx.post")),
        ("CPU per request: L1-hit POST / bare POST",
         round_cpu_ratio(runs, "hit.post", "bare.post")),
        ("bare GET / nginx proxy_cache", r("bare.get", "nginx.post")),
        ("best L1-hit POST / best nginx proxy_cache", _ratio(rps("hit.post"), rps("nginx.post"))),
        ("best L1-hit GET / best nginx proxy_cache", _ratio(rps("hit.get"), rps("nginx.post"))),
        ("miss p99 / upstream p99", _ratio(_get(runs, "miss.node", "p99_ms"),
                                           _get(runs, "miss.direct", "p99_ms"))),
        ("mixed throughput node / before (wrk, steady)",
         _ratio(rps("mixed.node.wrk"), rps("mixed.before.wrk"))),
    ]


def _db_query(subs: dict[str, Any]) -> tuple[float, float]:
    """p50 and p99 of the history queries of ``bench db`` (all query shapes), ms."""
    shapes = (subs.get("db") or {}).get("history", {}).get("all shapes") or {}
    return float(shapes.get("p50_ms", NAN)), float(shapes.get("p99_ms", NAN))


def roadmap(runs: dict[str, Any], hit_rates: dict[str, Any],
            subs: dict[str, Any]) -> list[dict[str, Any]]:
    """The roadmap's table: its starting figure and Week-3 target beside ours and
    beside the 'before' configuration measured in the same run."""
    mean, p99 = _get(runs, "mixed.node.paced", "mean_ms"), _get(runs, "mixed.node.paced", "p99_ms")
    hr_node = hit_rates.get("node.paced", {}).get("hit_rate")
    hr_before = hit_rates.get("before.paced", {}).get("hit_rate")
    db50, db99 = _db_query(subs)
    thr = _ratio(_get(runs, "mixed.node.wrk", "rps"), _get(runs, "mixed.before.wrk", "rps"))
    rss = _get(runs, "mixed.node.paced", "rss_mb")

    def row(metric: str, current: str, target: str, node: str, before: str,
            ok: bool | None, how: str) -> dict[str, Any]:
        return {"metric": metric, "roadmap_current": current, "target": target, "node": node,
                "before": before, "ok": ok, "how": how}

    def ms(v: float) -> str:
        return "-" if math.isnan(v) else f"{v:.1f} ms"

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v * 100:.1f} %"

    return [
        row("API response (avg)", "150 ms", "< 50 ms", ms(mean),
            ms(_get(runs, "mixed.before.paced", "mean_ms")),
            None if math.isnan(mean) else mean < 50, "Zipf mix, paced, 50 ms upstream"),
        row("API response (p99)", "250 ms", "< 80 ms", ms(p99),
            ms(_get(runs, "mixed.before.paced", "p99_ms")),
            None if math.isnan(p99) else p99 < 80, "same run"),
        row("DB query time", "50 ms", "< 15 ms",
            "-" if math.isnan(db50) else f"p50 {db50:.2f} ms, p99 {db99:.2f} ms", "-",
            None if math.isnan(db99) else db99 < 15, "bench db: history queries"),
        row("Cache hit rate", "60 %", "90 %+", pct(hr_node), pct(hr_before),
            None if hr_node is None else hr_node >= 0.9,
            "Zipf mix, steady, computed validations counted by the node"),
        row("Memory usage", "61 GB", "< 40 GB", "-" if math.isnan(rss) else f"{rss:.0f} MB",
            "-" if math.isnan(_get(runs, "mixed.before.paced", "rss_mb"))
            else f"{_get(runs, 'mixed.before.paced', 'rss_mb'):.0f} MB",
            None if math.isnan(rss) else rss < 40 * 1024, "peak RSS, all node processes"),
        row("Throughput", "low-med", "3-5x baseline", "-" if math.isnan(thr) else f"{thr:.1f}x before",
            "1x", None if math.isnan(thr) else thr >= 3, "Zipf mix, wrk, steady"),
    ]


def assemble(args: argparse.Namespace, rec: Recorder, hit_rates: dict[str, Any],
             subs: dict[str, Any], info: dict[str, Any], elapsed: float) -> dict[str, Any]:
    runs = {k: r.as_dict() for k, r in rec.runs.items()}
    return {"settings": vars(args), "info": info, "elapsed_s": round(elapsed),
            "runs": runs, "hit_rates": hit_rates,
            "goals": goals(runs, hit_rates),
            "hit_path": [{**h, "rps": list(h["rps"]), "cpu_us": list(h["cpu_us"]),
                          "rps_vs_nginx": _round(h["rps_vs_nginx"]),
                          "cpu_vs_nginx": _round(h["cpu_vs_nginx"])} for h in hit_path(runs)],
            "ratios": [{"ratio": n, "value": None if math.isnan(v) else round(v, 3)}
                       for n, v in extra_ratios(runs)],
            "roadmap": roadmap(runs, hit_rates, subs),
            "subscenarios": {k: _sub_highlights(k, v) for k, v in subs.items()},
            "notes": rec.notes}


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
def _mark(ok: bool | None) -> str:
    return "n/a" if ok is None else ("yes" if ok else "**no**")


def _num(v: Any, fmt: str = "{:.2f}") -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)


def goals_table(data: dict[str, Any]) -> list[str]:
    lines = ["| goal | measured | target | met | how |", "| --- | ---: | --- | --- | --- |"]
    for g in data["goals"]:
        lines.append(f"| {g['goal']} | {_num(g['measured'], '{:.3g}')} | {g['target']} | "
                     f"{_mark(g['ok'])} | {g['how']} |")
    return lines


def roadmap_table(data: dict[str, Any]) -> list[str]:
    lines = ["| metric | roadmap start | roadmap target (week 3) | node | roadmap before (same run) "
             "| target met | how |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in data["roadmap"]:
        lines.append(f"| {r['metric']} | {r['roadmap_current']} | {r['target']} | {r['node']} | "
                     f"{r['before']} | {_mark(r['ok'])} | {r['how']} |")
    return lines


def _med_range(v: list[Any], fmt: str) -> str:
    med, lo, hi = (None if x is None or (isinstance(x, float) and math.isnan(x)) else x for x in v)
    if med is None:
        return "-"
    return fmt.format(med) if lo == hi else f"{fmt.format(med)} ({fmt.format(lo)}-{fmt.format(hi)})"


def hit_table(data: dict[str, Any]) -> list[str]:
    lines = ["| target | rounds | req/s median (range) | CPU µs/request median (range) | "
             "req/s vs nginx | CPU/request vs nginx |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for h in data.get("hit_path") or []:
        lines.append(f"| {h['label']} | {h['rounds']} | {_med_range(h['rps'], '{:.0f}')} | "
                     f"{_med_range(h['cpu_us'], '{:.1f}')} | {_num(h['rps_vs_nginx'], '{:.3f}')} | "
                     f"{_num(h['cpu_vs_nginx'], '{:.2f}')} |")
    return lines


def runs_table(data: dict[str, Any]) -> list[str]:
    lines = ["| run | tool | req/s | mean ms | p50 ms | p95 ms | p99 ms | errors | CPU % | "
             "CPU µs/req | RSS MB |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in data["runs"].values():
        tool = r["tool"] if r["tool"] == "wrk" else f"paced {r['rate']:g}/s"
        lines.append(f"| {r['label']} | {tool} | {_num(r['rps'], '{:.0f}')} | {_num(r['mean_ms'])} | "
                     f"{_num(r['p50_ms'])} | {_num(r['p95_ms'])} | {_num(r['p99_ms'])} | "
                     f"{r['errors']} | {_num(r['cpu_pct'], '{:.0f}')} | "
                     f"{_num(r.get('cpu_us'), '{:.1f}')} | {_num(r['rss_mb'], '{:.0f}')} |")
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
             f"{s['connections']} connections x {s['duration']:g} s; paced {s['rate']:g} req/s x "
             f"{s['paced_duration']:g} s; Zipf s={s['zipf_s']}; {data['elapsed_s']} s in all.", "",
             "## Goals (ratios measured in this run)", "", *goals_table(data), "",
             "## Hit path: throughput and CPU per request (wrk, each target in turn each "
             "round)", "", *hit_table(data), "",
             "## The roadmap's table", "", *roadmap_table(data), "",
             "## Other ratios", "", "| ratio | value |", "| --- | ---: |"]
    lines += [f"| {r['ratio']} | {_num(r['value'], '{:.3g}')} |" for r in data["ratios"]]
    lines += ["", "## Hit rates (counted at the upstream proxy)", "",
              "| node | phase | requests | validations computed | hit rate |",
              "| --- | --- | ---: | ---: | ---: |"]
    for key, hr in data["hit_rates"].items():
        profile, phase = key.split(".")
        lines.append(f"| {profile} | {phase} | {hr['requests']} | {hr['upstream_validations']} | "
                     f"{_num(hr['hit_rate'], '{:.4f}')} |")
    lines += ["", "## Every run", "", *runs_table(data), ""]
    if data.get("subscenarios"):
        lines += ["## Other scenarios (each in its own process; full reports: "
                  "bench/results/<name>-latest.md)", "", *sub_lines(data["subscenarios"]), ""]
    if data.get("notes"):
        lines += ["## Notes", "", *[f"- {n}" for n in data["notes"]], ""]
    if data.get("charts"):
        lines += ["## Charts", "", *[f"![{c}]({c})" for c in data["charts"]], ""]
    return "\n".join(lines)


def summary(data: dict[str, Any]) -> str:
    """What the terminal shows at the end."""
    return "\n".join(["", "== goals ==", *goals_table(data), "", "== hit path ==",
                      *hit_table(data), "", "== roadmap ==",
                      *roadmap_table(data), ""])
