"""`bench balancer-cache` as logic: its figures and the cache's gain from made-up
rounds (bizra_bench.scenarios.balancer_cache.gains)."""

from __future__ import annotations

import pytest

from bizra_bench.scenarios.balancer_cache import gains


def test_gain_is_the_median_of_the_rounds_ratios() -> None:
    rounds = {"haproxy, cache": [(80_000, 6.0, 0), (100_000, 5.0, 0), (90_000, 5.5, 0)],
              "haproxy, no cache": [(20_000, 48.0, 0), (20_000, 50.0, 0), (15_000, 44.0, 0)],
              "node direct": [(30_000, 30.0, 0)] * 3}
    out = gains(rounds)
    assert out["haproxy, cache"]["req/s"] == {"median": 90_000, "min": 80_000, "max": 100_000}
    assert out["haproxy, no cache"]["cpu_us_per_request"]["median"] == 48.0
    # req/s ratios per round: 4, 5, 6; CPU: 0.125, 0.1, 0.125
    assert out["gain"]["req/s"] == pytest.approx(5.0)
    assert out["gain"]["cpu per request"] == pytest.approx(0.125)
    assert out["node direct"]["errors"] == [0, 0, 0]


def test_no_gain_without_both_haproxies() -> None:
    assert "gain" not in gains({"haproxy, cache": [(80_000, 6.0, 0)]})


def test_a_round_with_errors_is_left_out_of_the_gain() -> None:
    rounds = {"haproxy, cache": [(15_000, 6.0, 33), (100_000, 5.0, 0), (90_000, 5.0, 0)],
              "haproxy, no cache": [(20_000, 50.0, 0), (20_000, 50.0, 0), (30_000, 50.0, 0)]}
    out = gains(rounds)
    assert out["gain"]["rounds"] == 2
    assert out["gain"]["req/s"] == pytest.approx((5.0 + 3.0) / 2)
    assert out["haproxy, cache"]["errors"] == [33, 0, 0]
    assert "gain" not in gains({"haproxy, cache": [(1.0, 1.0, 1)],
                                "haproxy, no cache": [(1.0, 1.0, 0)]})
