"""The suite's report cannot flatter: a run with errors or below 98 % of its
offered rate is a failed measurement, shown as such in the Markdown, the JSON and the
charts, never a denominator and never a goal met; a hit rate comes from counts that
cannot go negative; each chart says what was measured and its labels do not overlap.

The report is a pure function of the results, so each failure seen on a busy machine
is rebuilt here from made-up results of that shape (no server, no timing).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from bizra_bench import charts, report
from bizra_bench.results import strict
from bizra_bench.scenarios.suite import _parser

SETTINGS = vars(_parser().parse_args([]))


def _run(key: str, tool: str, rps: float, *, rate: float = 0.0, errors: int = 0,
         mean: float = 1.0, p50: float = 1.0, p99: float = 2.0, cpu_us: float = 50.0,
         requests: int = 10_000, **extra: Any) -> dict[str, Any]:
    return {"key": key, "label": key.replace(".", " "), "tool": tool, "rps": rps,
            "mean_ms": mean, "p50_ms": p50, "p95_ms": p50 * 1.5, "p99_ms": p99, "max_ms": p99 * 2,
            "requests": requests, "errors": errors, "rate": rate, "duration_s": 5.0,
            "cpu_pct": 90.0, "cpu_us": cpu_us, "rss_mb": 300.0, "extra": dict(extra)}


def _wrk(key: str, rounds: list[float], cpus: list[float],
         errors: list[int] | None = None) -> dict[str, Any]:
    errs = errors or [0] * len(rounds)
    best = rounds.index(max(rounds))
    return _run(key, "wrk", rounds[best], cpu_us=cpus[best], errors=errs[best], repeats=rounds,
                cpu_repeats=cpus, errors_repeats=errs, threads=1, connections=64)


def _paced(key: str, rps: float, rate: float, **kw: Any) -> dict[str, Any]:
    return _run(key, "paced", rps, rate=rate, **kw)


def healthy() -> dict[str, Any]:
    """A suite run in which every run is a measurement and every goal is met."""
    runs = [
        _wrk("nginx.post", [70_000, 68_000, 72_000], [16.0, 16.5, 15.8]),
        _wrk("bare.get", [45_000, 44_000, 46_000], [27.0, 27.5, 26.9]),
        _wrk("bare.post", [40_000, 39_000, 41_000], [30.0, 30.5, 29.9]),
        _wrk("hit.post", [30_000, 29_000, 31_000], [45.0, 46.0, 44.0]),
        _wrk("hit.get", [45_000, 44_000, 46_000], [30.0, 31.0, 29.0]),
        _wrk("rpc.post", [29_500, 28_800, 30_500], [46.0, 46.5, 45.0]),
        _paced("bare.get.paced", 999, 1000, p50=0.8, p99=2.0),
        _paced("nginx.post.paced", 1000, 1000, p50=0.5, p99=1.5),
        _paced("hit.post.paced", 999, 1000, p50=1.0, p99=3.0),
        _paced("hit.get.paced", 1000, 1000, p50=0.9, p99=2.5),
        _paced("miss.node", 19.9, 20, p50=55, p99=70, requests=300),
        _paced("miss.direct", 19.9, 20, p50=53, p99=60, requests=300),
        _paced("miss.before", 19.8, 20, p50=160, p99=220, requests=300),
        _paced("val.transaction.cold", 19.9, 20, p50=110, p99=160, requests=300),
        _paced("val.transaction.warm", 999, 1000, p50=1.0, p99=3.0),
        _run("mixed.before.cold", "wrk", 300, requests=4500),
        _paced("mixed.before.paced", 990, 1000, mean=40, p50=20, p99=75, requests=30_000),
        _run("mixed.before.wrk", "wrk", 2_000, requests=10_000),
        _run("mixed.node.cold", "wrk", 1_200, requests=18_000),
        _paced("mixed.node.paced", 999, 1000, mean=12, p50=2, p99=60, requests=30_000),
        _run("mixed.node.wrk", "wrk", 9_000, requests=45_000),
    ]
    hit_rates = {f"{profile}.{phase}": {"requests": n, "lookups": n, "upstream_validations": c,
                                        "hit_rate": round(1 - c / n, 4), "failure": None}
                 for profile, phase, n, c in (("before", "cold", 4500, 2000),
                                              ("before", "paced", 30_000, 11_000),
                                              ("before", "wrk", 10_000, 3_500),
                                              ("node", "cold", 18_000, 5_000),
                                              ("node", "paced", 30_000, 1_500),
                                              ("node", "wrk", 45_000, 2_000))}
    subs = {"db": {"history": {"all shapes": {"p50_ms": 0.9, "p99_ms": 4.6, "n": 600}}}}
    return {"runs": {r["key"]: r for r in runs}, "hit_rates": hit_rates, "subs": subs}


def build(results: dict[str, Any]) -> dict[str, Any]:
    data = report.build(SETTINGS, {"keys": {}}, copy.deepcopy(results["runs"]),
                        copy.deepcopy(results["hit_rates"]), results["subs"], [], 600)
    # what the suite writes is strict JSON (results.write_results): all must survive it
    return dict(json.loads(json.dumps(strict(data), allow_nan=False)))


def goal(data: dict[str, Any], start: str) -> dict[str, Any]:
    return next(g for g in data["goals"] if g["goal"].startswith(start))


def row(data: dict[str, Any], metric: str) -> dict[str, Any]:
    return next(r for r in data["plan"] if r["metric"] == metric)


def test_a_healthy_run_meets_its_goals_with_no_failed_measurement() -> None:
    data = build(healthy())
    assert data["failed"] == {}
    assert data["goal_count"] == {"met": 7, "not met": 0, "not measured": 0}
    assert all(r["status"] == "met" for r in data["plan"])
    md = report.markdown(data)
    assert "Goals: 7 met, 0 not met, 0 not measured (of 7)" in md
    assert "Failed measurements" not in md


def test_a_zipf_run_that_fell_behind_the_offered_rate_meets_no_target() -> None:
    # seen: "4 of 7 goals met" while the node's Zipf run achieved 378 of 1 000 req/s
    # offered, at a mean of 6 s
    results = healthy()
    results["runs"]["mixed.node.paced"] |= {"rps": 378.0, "mean_ms": 6000.0, "p99_ms": 14000.0}
    data = build(results)
    why = data["runs"]["mixed.node.paced"]["failure"]
    assert why is not None and "achieved 378 of the 1000 req/s offered" in why
    assert data["failed"] == {"mixed.node.paced": why}
    for metric in ("API response (avg)", "API response (p99)", "Memory usage", "Cache hit rate"):
        r = row(data, metric)
        assert r["status"] == "not measured" and r["ok"] is None, r
        assert "mixed.node.paced" in r["reason"] or "its run failed" in r["reason"]
    # the steady hit rate was counted in that run: not a goal met either
    hit = goal(data, "cache hit rate")
    assert hit["status"] == "not measured" and hit["measured"] is None
    assert data["hit_rates"]["node.paced"]["hit_rate"] is None
    assert data["goal_count"] == {"met": 6, "not met": 0, "not measured": 1}
    md = report.markdown(data)
    assert "## Failed measurements" in md and "achieved 378 of the 1000 req/s offered" in md
    assert "Goals: 6 met, 0 not met, 1 not measured (of 7)" in md
    assert "The plan's targets: 2 met, 0 not met, 4 not measured (of 6)" in md
    assert "6000.0" not in md.split("## Every run")[0]  # only in the runs table, marked
    every_run = md.split("## Every run")[1]
    line = next(x for x in every_run.splitlines() if x.startswith("| mixed node paced |"))
    assert "**FAILED**" in line and "| 378 |" in line and "37.8%" in line


def test_a_before_run_with_errors_is_never_a_denominator() -> None:
    # seen: a goal counted "41.2x faster than before" against a before run that
    # answered with 3 480 errors
    results = healthy()
    results["runs"]["mixed.before.wrk"] |= {"rps": 218.0, "errors": 3480}
    results["runs"]["miss.before"] |= {"errors": 41, "p50_ms": 2266.0}
    data = build(results)
    thr = row(data, "Throughput")
    assert thr["status"] == "not measured" and thr["ok"] is None
    assert "mixed.before.wrk failed: 3480 errors" in thr["reason"]
    miss = goal(data, "before vs node on a miss")
    assert miss["status"] == "not measured" and miss["measured"] is None
    assert "miss.before failed: 41 errors" in miss["reason"]
    ratio = next(r for r in data["ratios"] if r["ratio"].startswith("mixed throughput"))
    assert ratio["value"] is None and "3480 errors" in ratio["failure"]
    md = report.markdown(data)
    assert "41.2x" not in md and "x before" not in md
    assert "not measured (mixed.before.wrk failed: 3480 errors)" in md


def test_a_reference_with_errors_in_one_round_fails_every_ratio_to_it() -> None:
    results = healthy()
    results["runs"]["nginx.post"] = _wrk("nginx.post", [70_000, 68_000, 72_000],
                                         [16.0, 16.5, 15.8], errors=[0, 12, 0])
    data = build(results)
    assert data["runs"]["nginx.post"]["failure"] == "12 errors (in 1 of 3 rounds)"
    for g in data["goals"][:3]:
        assert g["status"] == "not measured" and "nginx.post failed" in g["reason"]
    nginx = next(h for h in data["hit_path"] if h["key"] == "nginx.post")
    assert nginx["failure"] and nginx["rps_vs_nginx"] is None
    hit = next(h for h in data["hit_path"] if h["key"] == "hit.post")
    assert hit["rps_vs_nginx"] is None and "nginx.post failed" in hit["vs_nginx_why"]
    # bench compare hands in runs as recorded (no "failure" yet): judged all the same
    raw = healthy()["runs"]
    assert report.round_ratio(raw, "hit.post", "nginx.post") == pytest.approx(30_000 / 70_000)
    raw["nginx.post"]["extra"]["errors_repeats"] = [0, 0, 3]
    ratio = report.round_ratio(raw, "hit.post", "nginx.post")
    assert ratio != ratio  # NaN: not measured


def test_a_negative_hit_rate_is_never_printed() -> None:
    # seen: a hit rate of -0.9756 (client requests as the denominator, validations the
    # node computed for requests the client had given up on as the numerator)
    results = healthy()
    results["hit_rates"]["before.cold"] = {"requests": 1_000, "upstream_validations": 1_976,
                                           "hit_rate": -0.9756}
    data = build(results)
    hr = data["hit_rates"]["before.cold"]
    assert hr["hit_rate"] is None and "hit rate outside 0-1" in hr["failure"]
    md = report.markdown(data)
    assert "-0.9756" not in md and "-0.97" not in md
    line = next(x for x in md.splitlines() if x.startswith("| before | cold |"))
    assert "not measured: impossible count" in line


def test_a_run_whose_hit_rate_count_is_impossible_is_a_failed_measurement() -> None:
    results = healthy()
    failure = "impossible count: 31000 validations computed for 30000 lookups"
    results["runs"]["mixed.node.paced"]["extra"]["hit_rate_failure"] = failure
    results["hit_rates"]["node.paced"] = {"requests": 30_000, "lookups": 30_000,
                                          "upstream_validations": 31_000, "hit_rate": None,
                                          "failure": failure}
    data = build(results)
    assert data["runs"]["mixed.node.paced"]["failure"] == f"hit rate not measured: {failure}"
    assert goal(data, "cache hit rate")["status"] == "not measured"
    assert row(data, "API response (avg)")["status"] == "not measured"


def _draw(data: dict[str, Any], tmp_path: Path, name: str) -> dict[str, Any]:
    (meta,) = charts.draw(data, tmp_path, "t", (name,))
    assert meta["file"] == f"t-{name}.png"
    return meta


def test_the_latency_chart_states_the_achieved_rates_and_marks_failures(tmp_path: Path) -> None:
    # seen: titled "at a constant 1000 req/s" over runs at 378 and 59 req/s
    results = healthy()
    results["runs"]["mixed.node.paced"] |= {"rps": 378.0, "mean_ms": 6000.0}
    results["runs"]["mixed.before.paced"] |= {"rps": 59.0, "errors": 3480}
    meta = _draw(build(results), tmp_path, "latency")
    assert "constant" not in meta["title"]
    assert "1000 req/s offered" in meta["title"] and "achieved rate under each" in meta["title"]
    assert "FAILED" in meta["title"]
    by = {s["label"]: s for s in meta["series"]}
    assert by["Zipf mix: node"]["achieved"] == 378.0 and by["Zipf mix: node"]["failure"]
    assert by["Zipf mix: before"]["errors"] == 3480 and by["Zipf mix: before"]["failure"]
    assert by["L1 hit POST"]["failure"] is None
    assert meta["ticks"][4] == "Zipf mix: node\n378 of 1000/s\nFAILED"
    assert meta["ticks"][5] == "Zipf mix: before\n59.0 of 1000/s\n3480 errors\nFAILED"
    assert meta["overlaps"] == []
    assert (tmp_path / meta["file"]).stat().st_size > 0


def test_the_hit_rate_chart_has_no_overlapping_labels(tmp_path: Path) -> None:
    results = healthy()
    results["hit_rates"]["before.cold"] = {"requests": 1_000, "upstream_validations": 1_976,
                                           "hit_rate": -0.9756}
    results["hit_rates"]["node.paced"]["hit_rate"] = 0.8997  # just under the target line
    meta = _draw(build(results), tmp_path, "hitrate")
    assert meta["overlaps"] == []
    assert meta["ylim"] == [0, 100]
    by = {s["label"]: s for s in meta["series"]}
    assert by["before.cold"]["hit_rate"] is None and by["before.cold"]["failure"]
    assert by["node.paced"]["hit_rate"] == 0.8997


def test_the_overlap_check_sees_overlaps() -> None:
    plt = charts._plt()
    fig, ax = plt.subplots(figsize=(4, 2))
    ax.bar([0, 1], [90, 85])
    ax.text(0, 88, "88.0")
    ax.text(0.02, 88.5, "88.5")
    ax.text(0.5, -300, "far below")
    ax.axhline(90, label="target")
    ax.legend(loc="lower right")
    found = charts.overlaps(fig)
    plt.close(fig)
    assert "'88.0' overlaps '88.5'" in found
    assert "'far below' leaves the figure" in found
    assert "the legend covers a bar" in found


def test_the_miss_chart_goes_log_when_one_bar_is_100x_another(tmp_path: Path) -> None:
    results = healthy()
    assert _draw(build(results), tmp_path, "miss")["scale"] == "linear"
    results["runs"]["miss.before"] |= {"p50_ms": 5_300.0, "p95_ms": 9_000.0, "p99_ms": 10_000.0}
    meta = _draw(build(results), tmp_path, "miss")
    assert meta["scale"] == "log" and meta["ylabel"] == "ms (log scale)"
    assert meta["overlaps"] == []


def test_the_throughput_chart_marks_a_target_with_errors(tmp_path: Path) -> None:
    results = healthy()
    results["runs"]["hit.post"] = _wrk("hit.post", [90_000, 91_000, 89_000], [5.0, 5.0, 5.0],
                                       errors=[90_000, 91_000, 89_000])
    meta = _draw(build(results), tmp_path, "throughput")
    assert "wrk -t1 -c64" in meta["title"] and "FAILED" in meta["title"]
    by = {s["label"]: s for s in meta["series"]}
    assert by["L1 hit POST validate"]["failure"]
    assert by["nginx proxy_cache POST"]["failure"] is None
    assert meta["overlaps"] == []


def test_every_chart_of_a_bad_run_is_readable(tmp_path: Path) -> None:
    results = healthy()
    results["runs"]["mixed.node.paced"] |= {"rps": 378.0, "mean_ms": 6000.0}
    results["runs"]["mixed.before.paced"] |= {"rps": 59.0, "errors": 3480}
    results["runs"]["miss.before"] |= {"errors": 41, "p99_ms": 10_000.0}
    results["runs"]["val.transaction.cold"] |= {"errors": 2}
    data = build(results)
    metas = charts.draw(data, tmp_path, "bad")
    assert {m["file"] for m in metas} == {f"bad-{n}.png" for n in
                                          ("throughput", "latency", "miss", "validation",
                                           "hitrate")}
    for meta in metas:
        assert meta["overlaps"] == [], meta
    data["charts"] = metas
    md = report.markdown(json.loads(json.dumps(strict(data), allow_nan=False)))
    assert "![Latency, open loop" in md and "overlapping labels" not in md


@pytest.mark.parametrize(("field", "value"), [("errors", 1), ("rps", 0.0), ("requests", 0)])
def test_a_wrk_run_with_errors_or_no_answers_is_no_measurement(field: str, value: Any) -> None:
    results = healthy()
    results["runs"]["hit.get"] = _run("hit.get", "wrk", 45_000) | {field: value}
    data = build(results)
    assert data["runs"]["hit.get"]["failure"]
    assert goal(data, "L1-hit GET")["status"] == "not measured"


def test_the_hit_path_at_another_wrk_thread_count_is_reported_beside() -> None:
    # on 2 cores the wrk thread count moves the node's CPU per request: both are shown,
    # the goals use the first (the side-by-side check's -t1)
    results = healthy()
    runs = results["runs"]
    runs["nginx.post@t2"] = _wrk("nginx.post@t2", [60_000, 61_000, 59_000], [17.0, 17.0, 17.0],
                                 errors=[0, 4, 0])
    runs["hit.post@t2"] = _wrk("hit.post@t2", [36_000, 35_000, 37_000], [40.0, 41.0, 39.0])
    data = build(results)
    rows = {h["key"]: h for h in data["hit_path"]}
    assert rows["hit.post@t2"]["label"] == "POST validate/transaction, L1 hit (wrk -t2)"
    # its nginx failed (errors): no ratio to it, and the -t1 goals stand
    assert rows["hit.post@t2"]["rps_vs_nginx"] is None
    assert "nginx.post@t2 failed: 4 errors" in rows["hit.post@t2"]["vs_nginx_why"]
    assert rows["hit.post"]["rps_vs_nginx"] == pytest.approx(30_000 / 70_000, abs=1e-3)
    assert data["goal_count"]["met"] == 7
    md = report.markdown(data)
    assert "and again with wrk -t2, reported beside" in md
    assert "| POST validate/transaction, L1 hit (wrk -t2) | 3 |" in md
