"""What the pool knows of one upstream: latency (moving average, p95 of the last round
trips) and a score that ranks a failing or busy upstream lower."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bizra_node.chain.health import UpstreamHealth
from bizra_node.chain.upstream import Upstream
from bizra_node.resilience import BreakerConfig, CircuitBreaker, Outcome


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def health(session: aiohttp.ClientSession, name: str = "a") -> UpstreamHealth:
    upstream = Upstream("http://127.0.0.1:9", session, timeout=1.0, connect_timeout=1.0,
                        name=name)
    return UpstreamHealth(upstream, CircuitBreaker(name, BreakerConfig(failure_threshold=100)))


async def test_latency_is_a_moving_average_and_a_p95_of_recent_round_trips(
        session: aiohttp.ClientSession) -> None:
    h = health(session)
    h.observe(0.010)
    assert h.ewma == 0.010  # the first sample is the average
    h.observe(0.020)
    assert h.ewma == pytest.approx(0.012)  # weighted 0.2 towards the new one
    assert h.p95() is None  # too few samples to say
    for _ in range(98):
        h.observe(0.001)
    h.observe(0.5)
    assert h.p95() == 0.001  # only the last 64 count, and one slow call is not the p95


async def test_a_failing_or_busy_upstream_scores_worse(session: aiohttp.ClientSession) -> None:
    fast, failing, busy = health(session, "fast"), health(session, "failing"), \
        health(session, "busy")
    for h in (fast, failing, busy):
        h.observe(0.01)
    for _ in range(4):
        failing.breaker.record(Outcome.FAILURE)
    failing.breaker.record(Outcome.SUCCESS)
    busy.inflight = 3
    assert fast.score() < failing.score() and fast.score() < busy.score()
    assert busy.score() == pytest.approx(4 * fast.score())
