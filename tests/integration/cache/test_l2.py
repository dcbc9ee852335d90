"""RedisL2 against a real redis-server: round trips, and failures that are never errors."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

import pytest
import redis.asyncio as aioredis

from bizra_node.cache import RedisL2, l2_breaker_config, redact_url
from bizra_node.observability import NodeMetrics
from bizra_node.resilience import CircuitBreaker, State
from tests.support.redis_server import RedisServer


def make_l2(url: str, *, timeout: float = 0.5, failures: int = 2,
            reset: float = 0.05) -> tuple[RedisL2, NodeMetrics]:
    metrics = NodeMetrics()
    return RedisL2(url, timeout=timeout, metrics=metrics,
                   breaker=CircuitBreaker("redis", l2_breaker_config(failures, reset))), metrics


async def test_set_get_with_expiry(redis_server: RedisServer) -> None:
    l2, metrics = make_l2(redis_server.url)
    try:
        assert await l2.get("k") is None
        assert await l2.set("k", b"\x00value", 30)
        assert await l2.get("k") == b"\x00value"
        raw = aioredis.Redis.from_url(redis_server.url)
        ttl_ms = await raw.pttl("k")
        await raw.aclose()
        assert 0 < ttl_ms <= 30_000
        assert await l2.delete("k") == 1 and await l2.delete() == 0
        state = await l2.ping()
        assert state["up"] and state["breaker"] == "closed"
        assert metrics.cache_entries.get(("l2",)) == 0
        assert metrics.cache_l2_errors.total() == 0
    finally:
        await l2.close()


async def test_killed_redis_is_a_miss_then_breaker_then_reconnect(
        redis_server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    l2, metrics = make_l2(redis_server.url)
    try:
        assert await l2.set("k", b"v", 30)
        redis_server.kill()
        with caplog.at_level(logging.WARNING, logger="bizra_node.cache"):
            assert await l2.get("k") is None  # no exception, just no value
            assert "unavailable" not in caplog.text  # one failure: still closed
            assert not await l2.set("k", b"v", 30)
        assert l2.breaker.state is State.OPEN
        assert caplog.text.count("redis L2 unavailable") == 1
        down = await l2.ping()
        assert not down["up"] and down["breaker"] == "open"
        assert metrics.cache_l2_errors.get(("get",)) == 1
        assert metrics.cache_l2_errors.get(("set",)) == 1
        assert await l2.get("k") is None  # skipped outright while open
        assert metrics.cache_l2_errors.get(("skipped",)) == 1
        # Redis comes back on the same port: the next probe reconnects by itself
        redis_server.start()
        await asyncio.sleep(0.06)  # past the breaker's reset timeout
        assert await l2.set("k2", b"back", 30)
        assert l2.breaker.state is State.CLOSED
        assert await l2.get("k2") == b"back"
    finally:
        await l2.close()


async def test_hung_redis_times_out_quickly(redis_server: RedisServer) -> None:
    """A Redis that stops answering (SIGSTOP) costs one short timeout, not a failure."""
    l2, metrics = make_l2(redis_server.url, timeout=0.05, failures=1, reset=30)
    try:
        assert await l2.set("k", b"v", 30)
        assert redis_server.proc is not None
        os.kill(redis_server.proc.pid, signal.SIGSTOP)
        try:
            assert await l2.get("k") is None
            assert l2.breaker.state is State.OPEN
            assert await l2.get("k") is None
            assert metrics.cache_l2_errors.get(("skipped",)) == 1
        finally:
            os.kill(redis_server.proc.pid, signal.SIGCONT)
        assert (await l2.ping())["up"]  # readiness probe success closes the breaker
        assert l2.breaker.state is State.CLOSED
        assert await l2.get("k") == b"v"
    finally:
        await l2.close()


async def test_unreachable_redis_never_raises() -> None:
    from bizra_node.devnet import free_port

    l2, metrics = make_l2(f"redis://127.0.0.1:{free_port()}/0")
    try:
        assert await l2.get("k") is None
        assert not await l2.set("k", b"v", 1)
        assert await l2.delete("k") == 0
        assert (await l2.ping())["up"] is False
        assert metrics.cache_l2_errors.total() >= 3
    finally:
        await l2.close()


def test_redact_url() -> None:
    assert redact_url("redis://user:secret@host:6379/0") == "redis://***@host:6379/0"
    assert redact_url("redis://host:6379") == "redis://host:6379"


async def test_a_reorg_deletes_the_entries_noted_at_its_blocks_and_nothing_else(
        redis_server: RedisServer) -> None:
    l2, _ = make_l2(redis_server.url)
    raw = aioredis.Redis.from_url(redis_server.url)
    index = "p:v3:1:blocks"
    try:
        for block in (10, 11, 12):
            assert await l2.set_indexed(f"p:v3:1:block:{block}", b"x", 60, index, block)
        await raw.set("precious", b"not the cache's")
        await raw.zadd(index, {"precious": 99, index: 99})  # someone else wrote the index
        assert await l2.drop_from(index, 11, prefix="p:v3:1:") == 2
        assert await l2.get("p:v3:1:block:10") == b"x"
        assert await l2.get("p:v3:1:block:11") is None and await l2.get("p:v3:1:block:12") is None
        assert await raw.get("precious") == b"not the cache's"
        assert await raw.zrange(index, 0, -1) == [b"p:v3:1:block:10"]
        # notes far below the highest are forgotten (no reorg reaches them)
        await l2.set_indexed("p:v3:1:block:9000", b"x", 60, index, 9000)
        await l2.set_indexed("p:v3:1:block:20000", b"x", 60, index, 20000)
        await l2.drop_from(index, 30000, prefix="p:v3:1:")
        assert await raw.zrange(index, 0, -1) == [b"p:v3:1:block:20000"]
    finally:
        await raw.aclose()
        await l2.close()
