"""Retry parts: full-jitter backoff, Retry-After, stop rules, the budget, retrying()."""

from __future__ import annotations

import asyncio

import pytest

from bizra_node.errors import UpstreamError
from bizra_node.resilience import (
    Attempt,
    Deadline,
    RetryBudget,
    RetryPolicy,
    full_jitter,
    honour_retry_after,
    retrying,
    stop_after_attempt,
)


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


def test_retry_after_is_a_floor() -> None:
    wait = honour_retry_after(full_jitter(0.1, 2.0, 2.0, rng=lambda: 0.5))
    assert wait(Attempt(1)) == pytest.approx(0.05)
    assert wait(Attempt(1, retry_after=1.5)) == 1.5


def test_policy_stops_on_attempts_non_retryable_and_deadline() -> None:
    policy = RetryPolicy.exponential(attempts=3, initial=0.1, rng=lambda: 0.5)
    transient = UpstreamError("x", kind="timeout")
    bad = UpstreamError("x", kind="http", retryable=False)
    assert policy.delay(Attempt(1, transient)) == pytest.approx(0.05)
    assert policy.delay(Attempt(3, transient)) is None
    assert policy.delay(Attempt(1, bad)) is None
    assert policy.delay(Attempt(1, ValueError("caller's input"))) is None
    assert policy.delay(Attempt(1, transient, retry_after=5.0), Deadline.after(1.0)) is None
    assert stop_after_attempt(2)(Attempt(2))


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


async def test_retrying_retries_transient_errors_then_succeeds() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise UpstreamError("reset", kind="disconnect")
        return "ok"

    policy = RetryPolicy.exponential(attempts=3, initial=0.001, cap=0.002)
    assert await retrying(flaky, policy, deadline=Deadline.after(5), budget=RetryBudget()) == "ok"
    assert calls == 3


async def test_retrying_never_retries_the_callers_bad_input() -> None:
    calls = 0

    async def bad() -> None:
        nonlocal calls
        calls += 1
        raise UpstreamError("bad params", kind="http", retryable=False)

    with pytest.raises(UpstreamError):
        await retrying(bad, RetryPolicy.exponential(initial=0.001))
    assert calls == 1


async def test_retrying_stops_when_the_budget_is_empty() -> None:
    calls = 0

    async def down() -> None:
        nonlocal calls
        calls += 1
        raise UpstreamError("down", kind="connect")

    budget = RetryBudget(ratio=0.0, min_per_second=0.0)
    with pytest.raises(UpstreamError):
        await retrying(down, RetryPolicy.exponential(initial=0.001), budget=budget)
    assert calls == 1 and budget.exhausted == 1


async def test_retrying_gives_up_at_the_deadline_without_leftover_tasks() -> None:
    before = asyncio.all_tasks()
    calls = 0

    async def hangs() -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(3600)

    with pytest.raises(TimeoutError):
        await retrying(hangs, RetryPolicy.exponential(initial=0.001), deadline=Deadline.after(0.05))
    assert calls == 1  # the deadline is the request's: no second attempt after it
    assert asyncio.all_tasks() - before == set()
