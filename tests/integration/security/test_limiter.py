"""The rate limiter against a real redis-server: shared allowances, leases spent
locally, refusals remembered, and what happens when Redis goes away and comes back."""

from __future__ import annotations

import asyncio
import time

import pytest

from bizra_node.cache import RedisConfig, connect_redis
from bizra_node.observability import NodeMetrics
from bizra_node.security import (
    DEFER,
    LimiterConfig,
    Mode,
    Policy,
    RateLimiter,
    Refusal,
)
from tests.support.redis_server import RedisServer


def limiter(url: str, prefix: str, **kw: object) -> RateLimiter:
    config = LimiterConfig(key_prefix=prefix, timeout=0.2, **kw)  # type: ignore[arg-type]
    return RateLimiter(config, NodeMetrics(), connect_redis(RedisConfig(url), socket_timeout=0.2))


async def spend(lim: RateLimiter, caller: str, policy: Policy, n: int, cost: int = 1) -> int:
    """Requests of ``cost`` allowed out of ``n`` sent as fast as possible, each through
    the synchronous check first, as the guard does."""
    allowed = 0
    for _ in range(n):
        verdict = lim.check_now(caller, policy, cost)
        if verdict is DEFER:
            verdict = await lim.check(caller, policy, cost)
        if verdict is None:
            allowed += 1
    return allowed


async def test_two_limiters_share_one_allowance(redis_server: RedisServer, prefix: str) -> None:
    """Two nodes (two limiters, two Redis clients): what the first spent the second
    must not grant."""
    policy = Policy("anonymous", rate=1.0, burst=40)  # slow refill: the burst is the budget
    a, b = limiter(redis_server.url, prefix), limiter(redis_server.url, prefix)
    try:
        first = await spend(a, "a:10.0.0.1", policy, 40)
        second = await spend(b, "a:10.0.0.1", policy, 40)
        assert first + second <= 40 + 2  # + what refilled in the run (1/s)
        assert first >= 35  # a holds at most one lease it has not spent
        assert second <= 5
        other = await spend(b, "a:10.0.0.2", policy, 10)  # another caller is untouched
        assert other == 10
    finally:
        await a.stop()
        await b.stop()


async def test_the_hit_path_spends_leases_without_waiting(redis_server: RedisServer,
                                                          prefix: str) -> None:
    policy = Policy("key", rate=10_000.0, burst=20_000)
    lim = limiter(redis_server.url, prefix)
    try:
        assert lim.check_now("k:1", policy, 1) is DEFER  # first request: no lease yet
        assert await lim.check("k:1", policy, 1) is None
        now_lane = 0
        for _ in range(200):
            verdict = lim.check_now("k:1", policy, 1)
            if verdict is None:
                now_lane += 1
            else:
                assert verdict is DEFER
                assert await lim.check("k:1", policy, 1) is None
            await asyncio.sleep(0)  # let background refills run, as the server loop does
        assert now_lane >= 190  # refills ran ahead: almost every request answered at once
    finally:
        await lim.stop()


async def test_a_refusal_is_remembered_not_asked_again(redis_server: RedisServer,
                                                       prefix: str) -> None:
    policy = Policy("anonymous", rate=2.0, burst=3)
    lim = limiter(redis_server.url, prefix)
    try:
        assert await spend(lim, "a:1", policy, 3) == 3
        refused = await lim.check("a:1", policy, 1)
        assert isinstance(refused, Refusal) and refused.reason == "rate_limited"
        assert 0 < refused.retry_after <= 0.5 + 0.05
        calls = lim._metrics.rate_limit_redis.values.get(("take", "ok"), 0)
        for _ in range(50):  # refused locally until the wait is over
            assert isinstance(lim.check_now("a:1", policy, 1), Refusal)
        assert lim._metrics.rate_limit_redis.values.get(("take", "ok"), 0) == calls
        await asyncio.sleep(refused.retry_after + 0.05)
        assert await lim.check("a:1", policy, 1) is None
    finally:
        await lim.stop()


async def test_costs_and_a_cost_over_the_burst(redis_server: RedisServer, prefix: str) -> None:
    policy = Policy("anonymous", rate=0.5, burst=50)
    lim = limiter(redis_server.url, prefix)
    try:
        assert await lim.check("a:2", policy, 50) is None  # a batch of 50 costs 50
        refused = await lim.check("a:2", policy, 1)
        assert isinstance(refused, Refusal)
        too_big = await lim.check("a:3", policy, 51)
        assert isinstance(too_big, Refusal) and too_big.reason == "cost_exceeds_burst"
    finally:
        await lim.stop()


async def test_idle_leases_are_given_back(redis_server: RedisServer, prefix: str) -> None:
    policy = Policy("anonymous", rate=100.0, burst=400)  # lease of 10
    a, b = limiter(redis_server.url, prefix), limiter(redis_server.url, prefix)
    try:
        assert await a.check("a:4", policy, 1) is None  # a leases 10, spends 1
        assert a._leases["a:4"].tokens == 9
        a.start()
        deadline = time.monotonic() + 30  # two upkeep rounds: used, then idle -> given back
        while "a:4" in a._leases:
            assert time.monotonic() < deadline, "the idle lease was never given back"
            await asyncio.sleep(0.1)
        redis = connect_redis(RedisConfig(redis_server.url), socket_timeout=1)
        tat = int(await redis.get(f"{prefix}:rl:a:4") or 0)
        await redis.aclose()
        assert tat == 0 or tat / 1e6 - time.time() < 0.02  # no more than ~1 unit still out
        assert await spend(b, "a:4", policy, 400) >= 395
    finally:
        await a.stop()
        await b.stop()


@pytest.mark.parametrize("on_down", ["local", "open", "closed"])
async def test_redis_stopped_mid_run(redis_server: RedisServer, prefix: str, on_down: str) -> None:
    policy = Policy("anonymous", rate=1.0, burst=20)
    lim = limiter(redis_server.url, prefix, on_redis_down=on_down, workers=2,
                  breaker_failures=1, breaker_reset=0.3)
    lim.start()
    restarted: RedisServer | None = None
    try:
        assert await lim.check("a:5", policy, 1) is None
        assert lim.status() | {"callers": 0} == {"ok": True, "mode": "cluster", "redis": "up",
                                                 "onRedisDown": on_down, "callers": 0}
        redis_server.kill()
        allowed = await spend(lim, "a:6", policy, 30)  # a new caller: needs Redis
        assert lim.mode is Mode(on_down)
        status = lim.status()
        assert status["redis"] == "down" and status["mode"] == on_down
        assert status["ok"] is (on_down != "closed")
        if on_down == "local":
            assert allowed == 20 // 2  # per worker: the burst divided by the workers
        elif on_down == "open":
            assert allowed == 30
        else:
            assert allowed == 0
            refused = lim.check_now("a:6", policy, 1)
            assert isinstance(refused, Refusal) and refused.reason == "limiter_unavailable"
        # Redis comes back on the same port: shared limits resume
        restarted = RedisServer(redis_server.port).start()
        deadline = time.monotonic() + 10
        while lim.mode is not Mode.CLUSTER:
            assert time.monotonic() < deadline, lim.status()
            await asyncio.sleep(0.1)
        assert await spend(lim, "a:7", policy, 5) == 5
    finally:
        await lim.stop()
        if restarted is not None:
            restarted.cleanup()
