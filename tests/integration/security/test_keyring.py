"""The key ring over the real api_keys table (scratch database) and real Redis
pub/sub: loading, incremental refresh, revocation, a ring smaller than the table,
last-used batches, and key events surviving a Redis restart."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from bizra_node.apikeys import KeyRecord
from bizra_node.cache import ChannelListener, RedisConfig, connect_redis, open_pubsub
from bizra_node.observability import NodeMetrics
from bizra_node.security import (
    CHANGED,
    NOT_HELD,
    KeyHasher,
    KeyRing,
    generate_key,
    key_channel,
    publish_key_event,
)
from bizra_node.store import KeyRepository
from bizra_node.store.migrate import migrate
from tests.integration.security.conftest import SECRET
from tests.support.redis_server import RedisServer

HASHER = KeyHasher(SECRET)


class Counting(KeyRepository):
    """The real repository, counting the lookups by hash the ring makes."""

    by_hash_calls = 0

    async def by_hash(self, key_hash: bytes) -> KeyRecord | None:
        self.by_hash_calls += 1
        return await super().by_hash(key_hash)


@pytest.fixture
async def repo(pg_dsn: str) -> AsyncIterator[Counting]:
    conn = await asyncpg.connect(pg_dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    yield Counting(connect=lambda: asyncpg.connect(pg_dsn))


async def make(repo: KeyRepository, name: str, scopes: tuple[str, ...] = ("validate",)) -> str:
    key = generate_key()
    await repo.create(name, HASHER.hash(key), scopes)
    return key


async def test_load_refresh_and_revoke(repo: Counting) -> None:
    a = await make(repo, "a")
    ring = KeyRing(repo, HASHER, NodeMetrics(), refresh=60)
    await ring.start()
    try:
        record = ring.find_now(a)
        assert isinstance(record, KeyRecord) and record.name == "a"
        assert ring.find_now(a) is record  # remembered as presented
        assert ring.find_now("bzk_unknown") is None  # complete ring: certainly unknown
        b = await make(repo, "b", ("rpc",))
        assert ring.find_now(b) is None  # not seen until a refresh (or an event)
        await ring.refresh()
        assert ring.find_now(b).scopes == frozenset({"rpc"})
        await repo.revoke("a")
        await ring.refresh()  # incremental: the revoked row comes back changed
        assert ring.find_now(a) is None
        assert ring.status() == {"ok": True, "held": 1, "complete": True}
    finally:
        await ring.stop()


async def test_a_ring_smaller_than_the_table(repo: Counting) -> None:
    keys = [await make(repo, f"k{i}") for i in range(5)]
    ring = KeyRing(repo, HASHER, NodeMetrics(), capacity=3, refresh=60)
    await ring.refresh()
    assert ring.status()["complete"] is False and len(ring) == 3
    missing = [k for k in keys if ring.find_now(k) is NOT_HELD]
    assert len(missing) == 2
    found = await ring.find(missing[0])  # from the database, then held
    assert found is not None and ring.find_now(missing[0]) is found
    assert len(ring) == 3  # bounded: another one made room
    calls = repo.by_hash_calls
    for _ in range(5):  # an unknown key costs one query per refresh interval
        assert await ring.find("bzk_nope") is None
    assert repo.by_hash_calls == calls + 1


async def test_last_used_in_batches(repo: Counting) -> None:
    key = await make(repo, "a")
    ring = KeyRing(repo, HASHER, NodeMetrics(), refresh=60, touch_interval=0.2)
    await ring.start()
    try:
        record = ring.find_now(key)
        for _ in range(100):
            ring.used(record)
        assert (await repo.list_keys())[0].last_used_at is None  # not per request
        deadline = time.monotonic() + 10  # a batch every 0.2 s; a loaded machine is late
        while (await repo.list_keys())[0].last_used_at is None:
            assert time.monotonic() < deadline, "last_used_at was never written"
            await asyncio.sleep(0.05)
    finally:
        await ring.stop()


async def test_events_drop_at_once_and_survive_a_redis_restart(
        repo: Counting, redis_server: RedisServer, prefix: str) -> None:
    key = await make(repo, "a")
    ring = KeyRing(repo, HASHER, NodeMetrics(), refresh=60)
    await ring.start()
    listener = connect_redis(RedisConfig(redis_server.url), socket_timeout=None,
                             connect_timeout=1)
    events = ChannelListener(lambda: open_pubsub(listener), key_channel(prefix), ring.on_event,
                             what="API key events", retry=0.2,
                             on_back=lambda: ring.on_event(CHANGED))
    events.start()
    publisher = connect_redis(RedisConfig(redis_server.url), socket_timeout=1)
    restarted: RedisServer | None = None
    try:
        await asyncio.wait_for(events.subscribed.wait(), 5)
        record = await repo.revoke("a")
        assert record is not None and ring.find_now(key) is not None  # refresh is 60 s away
        assert await publish_key_event(publisher, prefix, "revoke " + record.key_hash.hex()) == 1
        deadline = time.monotonic() + 2
        while ring.find_now(key) is not None:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        redis_server.kill()
        await asyncio.sleep(0.5)
        restarted = RedisServer(redis_server.port).start()
        await asyncio.wait_for(events.subscribed.wait(), 10)  # subscribed again
        second = await make(repo, "b")
        publisher = connect_redis(RedisConfig(redis_server.url), socket_timeout=1)
        await publish_key_event(publisher, prefix, "changed")
        deadline = time.monotonic() + 2
        while ring.find_now(second) is None:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
    finally:
        await events.stop()
        await ring.stop()
        if restarted is not None:
            restarted.cleanup()


async def test_random_keys_do_not_become_a_query_flood(repo: Counting) -> None:
    """Past the ring's capacity, unknown keys are looked up in the database: each
    lookup is paid from the caller's anonymous allowance first."""
    from bizra_node.api import Guard, GuardConfig, Request, Route
    from bizra_node.errors import AuthenticationError, RateLimitError
    from bizra_node.security import LimiterConfig, Policy, RateLimiter

    for i in range(3):
        await make(repo, f"k{i}")
    metrics = NodeMetrics()
    ring = KeyRing(repo, HASHER, metrics, capacity=2, refresh=60)
    await ring.refresh()
    guard = Guard(GuardConfig(keys_mode="optional", anonymous=Policy("anonymous", 0.001, 3)),
                  metrics, ring=ring, limiter=RateLimiter(LimiterConfig(), metrics))

    async def handler(req: Request) -> None:
        raise AssertionError("not reached")

    route = Route("/r", ("GET",), handler, scope="validate")  # type: ignore[arg-type]
    outcomes = []
    for i in range(6):
        headers = {"x-api-key": f"bzk_random{i}"}
        req = Request("GET", "/r", "", headers.get, b"", "rid", client="192.0.2.5:1000")
        try:
            await guard.admit(req, route)
        except (AuthenticationError, RateLimitError) as exc:
            outcomes.append(exc.code)
    assert outcomes == ["AUTHENTICATION_ERROR"] * 3 + ["RATE_LIMIT_EXCEEDED"] * 3
    assert repo.by_hash_calls == 3
