"""Retry parts: full-jitter backoff and the budget."""

from __future__ import annotations

import pytest

from bizra_node.resilience import Attempt, RetryBudget, full_jitter


def test_full_jitter_stays_under_the_exponential_cap() -> None:
    top = full_jitter(0.1, 2.0, 2.0, rng=lambda: 0.999999)
    bottom = full_jitter(0.1, 2.0, 2.0, rng=lambda: 0.0)
    assert top(Attempt(1)) == pytest.approx(0.1, rel=1e-3)
    assert top(Attempt(2)) == pytest.approx(0.2, rel=1e-3)
    assert top(Attempt(3)) == pytest.approx(0.4, rel=1e-3)
    assert top(Attempt(10)) == pytest.approx(2.0, rel=1e-3)  # capped
    assert bottom(Attempt(5)) == 0.0  # full jitter reaches zero


def test_full_jitter_spreads_retries() -> None:
    wait = full_jitter(0.1, 2.0, 2.0)
    draws = {round(wait(Attempt(3)), 6) for _ in range(50)}
    assert len(draws) > 40
    assert all(0 <= d <= 0.4 for d in draws)


def test_budget_caps_retries_at_a_share_of_traffic() -> None:
    now = [100.0]
    budget = RetryBudget(ratio=0.1, min_per_second=0.0, window=10.0, clock=lambda: now[0])
    for _ in range(200):
        budget.on_request()
    granted = sum(budget.try_spend() for _ in range(100))
    assert granted == 20
    assert budget.exhausted == 80
    budget.refund()
    assert budget.try_spend()
    now[0] += 11  # the window has moved on: no deposits, no retries
    assert not budget.try_spend()


def test_budget_reserve_lets_a_quiet_service_retry() -> None:
    budget = RetryBudget(ratio=0.1, min_per_second=1.0, window=5.0, clock=lambda: 1.0)
    assert sum(budget.try_spend() for _ in range(10)) == 5
    assert budget.snapshot() == {"requests": 0, "retries": 5, "exhausted": 5}

