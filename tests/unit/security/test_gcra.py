"""GCRA in one process (the per-worker fallback) and policies."""

from __future__ import annotations

import pytest

from bizra_node.security import LocalGcra, Policy


def test_policy_derives_interval_and_window() -> None:
    p = Policy("anonymous", rate=10.0, burst=50)
    assert p.interval_us == 100_000 and p.window == 5
    assert p.scaled(2) == Policy("anonymous", 5.0, 25)
    assert p.scaled(1) is p
    assert Policy("x", 1.0, 1).scaled(4).burst == 1  # never below one unit
    with pytest.raises(ValueError):
        Policy("bad", 0.0, 1)
    with pytest.raises(ValueError):
        Policy("bad", 1.0, 0)


def test_burst_then_rate() -> None:
    g, p = LocalGcra(), Policy("t", rate=10.0, burst=5)
    now = 100.0
    assert [g.take("c", p, 1, now) for _ in range(5)] == [0.0] * 5
    wait = g.take("c", p, 1, now)
    assert wait == pytest.approx(0.1)
    assert g.take("c", p, 1, now + 0.1) == 0.0  # one unit refilled after 1/rate
    assert g.take("c", p, 1, now + 0.1) > 0
    assert g.take("other", p, 5, now) == 0.0  # callers are apart


def test_costs_and_remaining() -> None:
    g, p = LocalGcra(), Policy("t", rate=1.0, burst=10)
    assert g.take("c", p, 7, 0.0) == 0.0
    assert g.remaining("c", p, 0.0) == 3
    assert g.take("c", p, 4, 0.0) == pytest.approx(1.0)  # one more unit in 1 s
    assert g.take("c", p, 11, 50.0) > 0  # more than the burst never fits


def test_long_run_matches_the_rate() -> None:
    """Over 100 s of a caller asking every 10 ms, GCRA lets through rate*t + burst,
    as a sliding-window limiter of the same rate would (within one unit)."""
    g, p = LocalGcra(), Policy("t", rate=5.0, burst=20)
    allowed = sum(g.take("c", p, 1, i * 0.01) == 0.0 for i in range(10_000))
    assert abs(allowed - (5 * 100 + 20)) <= 1


def test_the_table_is_bounded() -> None:
    g, p = LocalGcra(capacity=100), Policy("t", rate=1.0, burst=10)
    for i in range(1000):
        g.take(f"c{i}", p, 1, 0.0)
    assert len(g) <= 100
    g.sweep(1000.0)  # everyone's allowance is full again: forgotten
    assert len(g) == 0
