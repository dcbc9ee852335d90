"""What makes a run a measurement (bizra_bench.validity), the achieved rate of an
open-loop run (bizra_bench.paced) and the errors of every wrk round kept by the
Recorder: pure logic, tested on made-up figures."""

from __future__ import annotations

import io
from typing import Any

import pytest

from bizra_bench.measure import Recorder, Run
from bizra_bench.paced import achieved_rate
from bizra_bench.validity import hit_rate, run_failure


def _paced(rps: float, rate: float = 1000, errors: int = 0) -> dict[str, Any]:
    return Run("k", "label", "paced", rps, requests=30_000, errors=errors, rate=rate).as_dict()


def test_a_paced_run_fails_below_98_percent_of_its_offered_rate() -> None:
    assert run_failure(_paced(999)) is None
    assert run_failure(_paced(980)) is None
    why = run_failure(_paced(378))
    assert why is not None and "achieved 378 of the 1000 req/s offered (37.8%" in why
    assert run_failure(_paced(979.9)) is not None


def test_any_error_fails_a_run() -> None:
    assert run_failure(_paced(1000, errors=1)) == "1 error"
    wrk = Run("k", "label", "wrk", 30_000, requests=90_000,
              extra={"errors_repeats": [0, 3, 4]}).as_dict()
    assert run_failure(wrk) == "7 errors (in 2 of 3 rounds)"


def test_the_hit_rate_comes_from_counts_that_cannot_go_negative() -> None:
    ok = hit_rate(requests=1000, lookups=1000, computed=100)
    assert ok["hit_rate"] == 0.9 and ok["failure"] is None
    # the node counted more lookups than the client had answers (requests it timed out)
    assert hit_rate(requests=900, lookups=1000, computed=500)["hit_rate"] == 0.5


@pytest.mark.parametrize(("requests", "lookups", "computed", "why"), [
    (1000, 1000, 1976, "1976 validations computed for 1000 lookups"),
    (1000, 1000, -5, "-5 validations computed"),
    (1000, 900, 100, "900 lookups for 1000 answers"),
    (1000, 0, 0, "counted no lookups"),
    (1000, float("nan"), 0, "could not be read"),
])
def test_an_impossible_count_is_no_hit_rate(requests: int, lookups: float, computed: float,
                                            why: str) -> None:
    hr = hit_rate(requests, lookups, computed)
    assert hr["hit_rate"] is None
    assert why in hr["failure"]


def test_a_run_with_an_impossible_hit_rate_count_is_a_failed_measurement() -> None:
    run = _paced(1000)
    run["extra"]["hit_rate_failure"] = "impossible count: x"
    assert run_failure(run) == "hit rate not measured: impossible count: x"


def test_the_achieved_rate_of_a_server_that_keeps_pace_is_the_offered_rate() -> None:
    # 60 misses at 20/s (a quick miss run), answered in 100-160 ms, the last one in
    # 250 ms: seen on a busy machine, a count over the time to the last answer said 97 %
    due = [i / 20 for i in range(60)]
    latency = [0.1 + 0.06 * (i % 2) for i in range(59)] + [0.25]
    done = [d + lat for d, lat in zip(due, latency, strict=True)]
    assert achieved_rate(due, done, 20, 60) >= 0.98 * 20
    # whatever the latency, when it does not grow
    assert achieved_rate(due, [d + 2.0 for d in due], 20, 60) == pytest.approx(20)


def test_the_achieved_rate_of_a_server_that_falls_behind_is_its_own() -> None:
    # 30 s at 1 000/s offered, a server that answers 378 a second
    due = [i / 1000 for i in range(30_000)]
    done = [max(d + 0.002, (i + 1) / 378) for i, d in enumerate(due)]
    assert achieved_rate(due, done, 1000, 30_000) == pytest.approx(378, rel=0.01)


def test_the_achieved_rate_counts_only_answers() -> None:
    due = [i / 100 for i in range(100)]
    half = due[::2]
    assert achieved_rate(half, [d + 0.01 for d in half], 100, 100) == pytest.approx(50)
    assert achieved_rate([], [], 100, 100) == 0.0
    assert achieved_rate([0.0], [0.05], 100, 1) == 100  # too few to fit


def test_the_recorder_keeps_every_rounds_errors() -> None:
    rec = Recorder(3, stream=io.StringIO())
    for rps, errors in ((30_000, 0), (29_000, 12), (31_000, 0)):
        rec._done(Run("hit.post", "POST hit", "wrk", rps, requests=int(rps * 5), errors=errors,
                      cpu_us=45.0))
    run = rec.runs["hit.post"].as_dict()
    assert run["rps"] == 31_000 and run["errors"] == 0  # the best round
    assert run["extra"]["errors_repeats"] == [0, 12, 0]
    assert run_failure(run) == "12 errors (in 1 of 3 rounds)"
