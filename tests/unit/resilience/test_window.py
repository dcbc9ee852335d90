"""RollingCounts: a fixed ring of time buckets."""

from __future__ import annotations

import tracemalloc

import pytest

from bizra_node.resilience import RollingCounts


def test_counts_within_the_window() -> None:
    w = RollingCounts(10.0, 10, 2)
    w.add(0, 100.0)
    w.add(1, 100.5, 3)
    w.add(0, 105.0)
    assert w.total(0, 105.0) == 2
    assert w.total(1, 105.0) == 3


def test_old_buckets_fall_out() -> None:
    w = RollingCounts(10.0, 10, 1)
    w.add(0, 100.0)
    w.add(0, 104.0)
    assert w.total(0, 109.9) == 2
    assert w.total(0, 110.5) == 1  # the bucket of t=100 has left the window
    assert w.total(0, 114.5) == 0


def test_a_long_gap_clears_everything() -> None:
    w = RollingCounts(1.0, 4, 2)
    for i in range(100):
        w.add(i % 2, 10.0 + i * 0.001)
    assert w.total(0, 10.2) + w.total(1, 10.2) == 100
    assert w.total(0, 1000.0) == 0 and w.total(1, 1000.0) == 0


def test_a_clock_going_back_counts_into_the_newest_bucket() -> None:
    w = RollingCounts(10.0, 10, 1)
    w.add(0, 50.0)
    w.add(0, 49.0)
    assert w.total(0, 50.0) == 2


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError):
        RollingCounts(0, 10, 1)
    with pytest.raises(ValueError):
        RollingCounts(1.0, 0, 1)


def test_no_memory_growth_over_many_adds() -> None:
    w = RollingCounts(60.0, 100, 2)
    for i in range(1000):  # warm up: every bucket touched
        w.add(i % 2, i * 0.6)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for i in range(100_000):
        w.add(i % 2, 600.0 + i * 0.001)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename")
                if "window.py" in str(s.traceback))
    assert grown < 1024  # a few retained ints at most; per-call growth would be >= 100 KB
