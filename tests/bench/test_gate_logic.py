"""The gate's throughput part as logic (bizra_bench.gate.judge on made-up rounds) and
its setup: the side-by-side check's unless told otherwise."""

from __future__ import annotations

import pytest

from bizra_bench.gate import LIMITS, GateResult, compare_outside, judge
from bizra_bench.loadgen import OUTSIDE, PREVIOUS_GATE, WrkSetup
from bizra_bench.scenarios.gate import parser, setup_of


def _result(errors: dict[str, list[int]] | None = None) -> GateResult:
    r = GateResult("wrk", OUTSIDE.describe())
    r.rounds = {"nginx": [(70_000, 16.0), (60_000, 17.0), (72_000, 15.0)],
                "bare GET": [(45_000, 27.0), (40_000, 28.0), (46_000, 26.0)],
                "POST hit": [(21_000, 56.0), (18_000, 60.0), (24_000, 50.0)],
                "GET hit": [(36_000, 36.0), (30_000, 38.0), (37_000, 35.0)]}
    r.errors = {name: [0, 0, 0] for name in r.rounds} | (errors or {})
    return r


def test_the_setup_is_the_outside_checks_unless_told() -> None:
    assert (OUTSIDE.threads, OUTSIDE.connections, OUTSIDE.duration, OUTSIDE.rounds) == \
        (1, 64, 5.0, 3)
    assert setup_of(parser().parse_args([])) == OUTSIDE
    assert setup_of(parser().parse_args(["--threads", "2", "--connections", "32", "--duration",
                                         "2", "--warmup", "0"])) == PREVIOUS_GATE
    assert OUTSIDE.describe() == "wrk -t1 -c64, 3 rounds of 5 s, 1 s warm-up"


def test_other_setups_are_given_on_the_command_line() -> None:
    args = parser().parse_args(["--also", "2:64:5:1", "--also", "1:32:5:0.5"])
    assert args.also == [WrkSetup(threads=2), WrkSetup(connections=32, warmup=0.5)]
    with pytest.raises(SystemExit):
        parser().parse_args(["--also", "2:64"])


def test_judge_checks_every_ratio_on_the_median_of_the_rounds() -> None:
    r = _result()
    judge(r)
    assert r.ok, r.failures
    assert set(r.ratios) == set(LIMITS)
    # median of 21/70, 18/60, 24/72 (0.300, 0.300, 0.333)
    assert r.ratios["POST hit / nginx (req/s)"] == pytest.approx(0.3)
    # the ratio of the medians, as a check that reports each target's median does
    assert r.ratio_of_medians["POST hit / nginx (req/s)"] == pytest.approx(21_000 / 70_000)
    assert r.ratios["POST hit / nginx (CPU per request)"] == pytest.approx(3.5)
    assert r.rps["POST hit"] == 21_000 and r.cpu_us["nginx"] == 16.0


def test_a_ratio_past_its_limit_fails() -> None:
    r = _result()
    r.rounds["POST hit"] = [(5_000, 300.0)] * 3
    judge(r)
    assert "POST hit / nginx (req/s) = 0.071, not >= 0.1" in r.failures  # median of 5/70, 5/60, 5/72
    assert any(f.startswith("POST hit / nginx (CPU per request) = ") for f in r.failures)


def test_a_target_that_answered_errors_is_no_measurement_and_fails_the_gate() -> None:
    # a hit path answering 500s fast would pass every throughput ratio
    r = _result({"POST hit": [0, 250, 0]})
    r.rounds["POST hit"] = [(90_000, 10.0)] * 3
    judge(r)
    assert not r.ok
    assert "POST hit answered 250 errors (rounds: [0, 250, 0]): not a measurement" in r.failures
    assert "POST hit / nginx (req/s)" not in r.ratios
    assert "POST hit / nginx (req/s): not measured (POST hit or nginx failed)" in r.failures
    assert "GET hit / nginx (req/s)" in r.ratios  # the others still measured


def test_nginx_with_errors_is_never_a_denominator() -> None:
    r = _result({"nginx": [3, 0, 0]})
    judge(r)
    assert not any("/ nginx" in name for name in r.ratios)
    assert sum("not measured" in f for f in r.failures) == 4


def test_without_nginx_its_ratios_are_left_out_not_failed() -> None:
    r = _result()
    del r.rounds["nginx"], r.errors["nginx"]
    judge(r)
    assert r.ok and set(r.ratios) == {"POST hit / bare GET (req/s)", "GET hit / bare GET (req/s)"}


def test_the_report_says_the_setup_and_the_other_setups_ratios() -> None:
    r = _result()
    judge(r)
    r.others[PREVIOUS_GATE.describe()] = {"ratios": {"POST hit / nginx (req/s)": 0.38},
                                          "rps": {"nginx": 60_000.0}, "cpu_us": {"nginx": 17.0}}
    r.answer_bytes = {"nginx": 900, "POST hit": 1500}
    r.idle_cpu_pct = {"node": 1.5, "nginx": 0.0}
    text = r.report()
    assert "wrk -t1 -c64, 3 rounds of 5 s, 1 s warm-up" in text
    assert "also measured, not checked: wrk -t2 -c32, 3 rounds of 2 s, 0 s warm-up" in text
    assert "POST hit: 21000 req/s, 56.0 µs CPU/request, 1500 B answers" in text
    assert "(ratio of medians 0.300)" in text
    assert "    nginx: 60000 req/s, 17.0 µs CPU/request" in text
    assert "    POST hit / nginx (req/s): 0.380" in text
    assert "node 1.5 % of a core" in text


def test_a_setup_is_a_value() -> None:
    assert WrkSetup() == OUTSIDE and WrkSetup(threads=2) != OUTSIDE


def test_the_side_by_side_check_is_its_medians_ratio_beside_the_gates() -> None:
    r = _result()
    r.outside_rounds = {"nginx (plain)": [(60_000, 18.0), (70_000, 16.0), (65_000, 17.0)],
                        "POST hit (node defaults)": [(20_000, 60.0), (19_000, 64.0),
                                                     (22_000, 58.0)],
                        "GET hit (node defaults)": [(33_000, 40.0), (30_000, 38.0),
                                                    (31_000, 39.0)]}
    r.outside_errors = {name: [0, 0, 0] for name in r.outside_rounds}
    judge(r)
    compare_outside(r)
    post = r.outside["POST hit / nginx (req/s)"]
    assert post["outside"] == pytest.approx(20_000 / 65_000)
    assert post["gate"] == r.ratios["POST hit / nginx (req/s)"]
    assert post["apart"] == pytest.approx(post["gate"] / post["outside"] - 1)
    assert r.outside["GET hit / nginx (CPU per request)"]["outside"] == pytest.approx(39 / 17)
    assert set(r.outside) == {n for n in LIMITS if "nginx" in n}
    assert r.ok  # compared, never checked
    text = r.report()
    assert "side-by-side" in text and "POST hit (node defaults): 20000 req/s" in text
    assert "apart" in text


def test_a_side_by_side_target_with_errors_is_left_out_of_the_comparison() -> None:
    r = _result()
    r.outside_rounds = {"nginx (plain)": [(60_000, 18.0)] * 3,
                        "POST hit (node defaults)": [(20_000, 60.0)] * 3,
                        "GET hit (node defaults)": [(30_000, 40.0)] * 3}
    r.outside_errors = {"nginx (plain)": [0, 0, 0], "POST hit (node defaults)": [0, 3, 0],
                        "GET hit (node defaults)": [0, 0, 0]}
    judge(r)
    compare_outside(r)
    assert set(r.outside) == {"GET hit / nginx (req/s)", "GET hit / nginx (CPU per request)"}
    assert r.ok and "errors [0, 3, 0]" in r.report()


def test_the_side_by_side_check_runs_unless_told() -> None:
    assert parser().parse_args([]).outside
    assert not parser().parse_args(["--no-outside"]).outside
