"""TieredCache with a real Redis: L1 -> L2 -> compute, promotion, singleflight,
moving entries, and bad L2 bytes as misses."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
import redis.asyncio as aioredis

from bizra_node.app import cache_config
from bizra_node.cache import FORMAT_VERSION, Entry, TieredCache, encode_entry
from bizra_node.observability import NodeMetrics
from tests.conftest import make_settings, split_tuning
from tests.support.redis_server import RedisServer


class Source:
    """A compute function that counts its calls and can be held open or made to fail."""

    def __init__(self, ttl: float = 60.0, *, moving: bool = False) -> None:
        self.calls = 0
        self.ttl = ttl
        self.moving = moving
        self.head = 10
        self.fail: Exception | None = None
        self.gate: asyncio.Event | None = None

    async def __call__(self, subject: str) -> Entry:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return Entry(body=f'{{"subject":"{subject}","n":{self.calls}}}'.encode(),
                     expires=time.time() + self.ttl, moving=self.moving, head=self.head)


def make_cache(redis_url: str = "", **overrides: Any) -> TieredCache:
    values, tuning = split_tuning(overrides)
    settings = make_settings("http://127.0.0.1:1", redis_url=redis_url, **values)
    return TieredCache(cache_config(settings, tuning), NodeMetrics())


@pytest.fixture
async def cache(redis_server: RedisServer) -> AsyncIterator[TieredCache]:
    c = make_cache(redis_server.url)
    await c.start()
    try:
        yield c
    finally:
        await c.close()


async def test_miss_then_l1_hit(cache: TieredCache) -> None:
    src = Source()
    first = await cache.fetch("transaction", "0xa", src)
    again = await cache.fetch("transaction", "0xa", src)
    assert first is again and src.calls == 1
    assert cache.get("transaction", "0xa") is first
    m = cache.metrics
    assert m.cache_misses.get(("l1", "transaction")) == 1
    assert m.cache_misses.get(("l2", "transaction")) == 1
    assert m.cache_hits.get(("l1", "transaction")) == 2


async def test_l2_hit_is_promoted_to_l1(cache: TieredCache) -> None:
    src = Source()
    computed = await cache.fetch("block", "5", src)
    await cache.flush()
    assert cache.clear() == 1  # a new worker, or the memory guard, emptied L1
    from_l2 = await cache.fetch("block", "5", src)
    assert from_l2 == computed and src.calls == 1
    assert cache.metrics.cache_hits.get(("l2", "block")) == 1
    assert cache.peek("block", "5") == computed
    await cache.fetch("block", "5", src)
    assert cache.metrics.cache_hits.get(("l1", "block")) == 1
    stats = cache.stats()
    assert stats["keys"]["block"]["hits"] == 2 and stats["keys"]["block"]["misses"] == 1
    assert stats["compression"]["raw_bytes"] > 0


async def test_keys_carry_version_network_and_kind(cache: TieredCache,
                                                   redis_server: RedisServer) -> None:
    await cache.fetch("address", "0xAbC", Source())
    await cache.flush()
    raw = aioredis.Redis.from_url(redis_server.url)
    try:
        keys = [k.decode() async for k in raw.scan_iter()]
    finally:
        await raw.aclose()
    assert keys == [f"bizra:v{FORMAT_VERSION}:31337:address:0xAbC"]
    other_network = make_cache(redis_server.url, bizra_network_id=1)
    assert other_network.key("address", "0xAbC") != cache.key("address", "0xAbC")


async def test_concurrent_misses_share_one_l2_lookup_and_one_compute(
        cache: TieredCache) -> None:
    src = Source()
    src.gate = asyncio.Event()
    callers = [asyncio.ensure_future(cache.fetch("transaction", "0xb", src)) for _ in range(50)]
    while src.calls == 0:
        await asyncio.sleep(0.001)
    src.gate.set()
    entries = await asyncio.gather(*callers)
    assert src.calls == 1 and all(e is entries[0] for e in entries)
    assert cache.metrics.dedup_requests.get(("transaction",)) == 49
    assert cache.metrics.cache_misses.get(("l2", "transaction")) == 1
    assert cache.stats()["deduplicated"] == 49


async def test_cancelled_caller_does_not_cancel_the_shared_load(cache: TieredCache) -> None:
    src = Source()
    src.gate = asyncio.Event()
    first = asyncio.ensure_future(cache.fetch("transaction", "0xc", src))
    second = asyncio.ensure_future(cache.fetch("transaction", "0xc", src))
    while src.calls == 0:
        await asyncio.sleep(0.001)
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    src.gate.set()
    assert (await second).body.startswith(b'{"subject":"0xc"')
    assert cache.peek("transaction", "0xc") is not None  # and it was cached


async def test_errors_are_never_cached(cache: TieredCache) -> None:
    src = Source()
    src.fail = RuntimeError("upstream down")
    with pytest.raises(RuntimeError):
        await cache.fetch("transaction", "0xd", src)
    src.fail = None
    await cache.fetch("transaction", "0xd", src)
    assert src.calls == 2


async def test_uncacheable_entries_are_served_but_not_kept(cache: TieredCache) -> None:
    src = Source(ttl=-1)
    await cache.fetch("transaction", "0xe", src)
    await cache.fetch("transaction", "0xe", src)
    await cache.flush()
    assert src.calls == 2 and cache.peek("transaction", "0xe") is None


async def test_moving_entries_are_dropped_when_the_head_moves(cache: TieredCache) -> None:
    src = Source(moving=True)
    head = 10

    async def current_head() -> int:
        return head

    await cache.fetch("address", "0xf", src, current_head)
    await cache.fetch("address", "0xf", src, current_head)
    assert src.calls == 1
    assert cache.get("address", "0xf") is None  # the sync path never serves moving entries
    head = 11
    src.head = 11
    await cache.fetch("address", "0xf", src, current_head)
    assert src.calls == 2
    # L2 holds the entry computed at head 11; a node at head 12 must not use it
    await cache.flush()
    cache.clear()
    head = 12
    src.head = 12
    await cache.fetch("address", "0xf", src, current_head)
    assert src.calls == 3
    assert cache.metrics.cache_hits.get(("l2", "address")) == 0


@pytest.mark.parametrize("stored", [
    b"zstdd1:\x00corrupt",  # a codec prefix with garbage behind it
    b"raw:\x93not an entry",  # decodes, but is not an Entry
    base64.b64encode(b'{"valid":true}'),  # the replaced system's bare base64 value
    b"",
])
@pytest.mark.parametrize("sealed", [False, True])
async def test_bad_l2_bytes_are_a_miss(cache: TieredCache, redis_server: RedisServer,
                                       stored: bytes, sealed: bool) -> None:
    """Unsealed: the MAC does not hold ("invalid"). Sealed with the node's own secret
    (as a node with a bug would write): unreadable ("decode"). Never served."""
    key = cache.key("transaction", "0x1")
    assert cache._auth is not None
    raw = aioredis.Redis.from_url(redis_server.url)
    try:
        await raw.set(key, cache._auth.seal(key, stored) if sealed else stored)
    finally:
        await raw.aclose()
    src = Source()
    entry = await cache.fetch("transaction", "0x1", src)
    assert src.calls == 1 and entry.body.startswith(b'{"subject"')
    fault = "decode" if sealed and stored else "invalid"
    assert cache.metrics.cache_l2_errors.get((fault,)) == 1


@pytest.mark.parametrize("entry", [
    Entry(body=b"{}", expires=time.time() + 60, etag='"x"\r\nset-cookie: a=b'),
    Entry(body=b"", expires=time.time() + 60),
    Entry(body=b"{}", expires=float("inf")),
    Entry(body=b"{}", expires=time.time() + 60, number=-1, tail=b"}"),
])
async def test_entries_of_a_shape_the_node_never_writes_are_a_miss(
        cache: TieredCache, redis_server: RedisServer, entry: Entry) -> None:
    key = cache.key("transaction", "0x1")
    assert cache._auth is not None
    raw = aioredis.Redis.from_url(redis_server.url)
    try:
        await raw.set(key, cache._auth.seal(key, b"raw:" + encode_entry(entry)))
    finally:
        await raw.aclose()
    src = Source()
    assert (await cache.fetch("transaction", "0x1", src)).body.startswith(b'{"subject"')
    assert cache.metrics.cache_l2_errors.get(("decode",)) == 1


async def test_expired_l2_entries_are_a_miss(cache: TieredCache) -> None:
    src = Source(ttl=60)
    entry = await cache.fetch("block", "9", src)
    await cache.flush()
    cache.clear()
    assert cache.l2 is not None
    from bizra_node.cache import encode_entry
    stale = Entry(body=entry.body, expires=time.time() - 1)
    await cache.l2.set(cache.key("block", "9"), cache.codec.encode(encode_entry(stale)), 60)
    await cache.fetch("block", "9", src)
    assert src.calls == 2


async def test_l1_only_without_redis(caplog: pytest.LogCaptureFixture) -> None:
    cache = make_cache("")
    with caplog.at_level(logging.INFO, logger="bizra_node.cache"):
        await cache.start()
    assert [r.getMessage() for r in caplog.records] == ["cache: L1 only (no REDIS_URL)"]
    src = Source()
    await cache.fetch("transaction", "0xa", src)
    await cache.fetch("transaction", "0xa", src)
    assert src.calls == 1
    assert await cache.ready() == {"ok": True, "configured": False, "mode": "l1-only"}
    assert cache.stats()["l2"] == {"configured": False}
    assert cache.stats()["hit_rate"] == 0.5
    assert cache.forget_recent() == 1  # not final: dropped
    await cache.fetch("transaction", "0xa", src)
    assert src.calls == 2
    assert cache.trim(1.0) == 1
    await cache.close()


async def test_redis_down_at_start_and_during_run(redis_server: RedisServer,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    redis_server.kill()
    cache = make_cache(redis_server.url, l2_timeout=0.05, l2_breaker_reset=0.05)
    with caplog.at_level(logging.WARNING, logger="bizra_node.cache"):
        await cache.start()
    assert "not answering at start" in caplog.text
    src = Source()
    for subject in ("0x1", "0x2", "0x3", "0x4"):
        await cache.fetch("transaction", subject, src)
    assert src.calls == 4
    ready = await cache.ready()
    assert ready["ok"] is True and ready["status"] == "degraded"
    assert cache.stats()["l2"]["breaker"] == "open"
    redis_server.start()
    await asyncio.sleep(0.06)
    with caplog.at_level(logging.INFO, logger="bizra_node.cache"):
        await cache.fetch("transaction", "0x5", src)  # the probe: Redis is back
        await cache.flush()
    assert cache.stats()["l2"]["breaker"] == "closed"
    assert "redis L2 answering again" in caplog.text
    cache.clear()
    await cache.fetch("transaction", "0x5", src)
    assert src.calls == 5 and cache.metrics.cache_hits.get(("l2", "transaction")) == 1
    await cache.close()


async def test_get_at_serves_a_moving_entry_only_at_its_head_or_later() -> None:
    cache = make_cache()
    src = Source(moving=True)
    src.head = 10
    await cache.fetch("address", "0xf", src)
    assert cache.get("address", "0xf") is None  # get never serves moving entries
    hit = cache.get_at("address", "0xf", 10)
    assert hit is not None and hit.head == 10
    assert cache.get_at("address", "0xf", 11) is None  # the chain moved on
    assert cache.get_at("address", "0xe", 10) is None
    assert cache.metrics.cache_hits.get(("l1", "address")) == 1
    assert cache.put("address", "0xg", Entry(body=b"{}", expires=time.time() + 5))
    assert not make_cache(l1_cache_size=0).put("address", "0xg",
                                                Entry(body=b"{}", expires=time.time() + 5))


# --- memory: keys counted, long keys digested, large answers not cached ----------------
async def test_long_subjects_are_keyed_by_their_digest(cache: TieredCache,
                                                       redis_server: RedisServer) -> None:
    subject = "eth_call:" + "ab" * 30_000
    src = Source()
    first = await cache.fetch("rpc", subject, src)
    await cache.flush()
    assert (await cache.fetch("rpc", subject, src)) is first and src.calls == 1
    assert cache.get("rpc", subject) is first and cache.peek("rpc", subject) is first
    (kind, stored), = [k for k in cache.l1._data]
    assert kind == "rpc" and stored.startswith("#") and len(stored) == 65
    redis_key = cache.key("rpc", subject)
    assert len(redis_key) < 120 and redis_key.endswith(stored)
    raw = aioredis.Redis.from_url(redis_server.url)
    try:
        assert await raw.exists(redis_key) == 1
    finally:
        await raw.aclose()
    other = await cache.fetch("rpc", subject + "x", src)  # another subject, another key
    assert other is not first and src.calls == 2


async def test_l1_bytes_count_the_keys() -> None:
    cache = make_cache(l1_max_bytes=100_000)
    src = Source()
    for i in range(1_000):
        await cache.fetch("rpc", f"{i:06d}" + "k" * 240, src)  # 246-char subjects, kept
    assert cache.l1.nbytes <= 100_000
    assert cache.l1.nbytes >= len(cache.l1) * 246
    assert cache.metrics.cache_evictions.get(("bytes",)) > 0


async def test_an_answer_over_the_size_cap_is_served_not_cached(
        redis_server: RedisServer) -> None:
    cache = make_cache(redis_server.url, cache_max_entry_bytes=4096)
    big = Entry(body=b"x" * 5000, expires=time.time() + 60)
    calls = 0

    async def compute(subject: str) -> Entry:
        nonlocal calls
        calls += 1
        return big

    try:
        assert await cache.fetch("block", "7", compute) is big
        assert await cache.fetch("block", "7", compute) is big
        await cache.flush()
        assert calls == 2 and len(cache.l1) == 0
        assert cache.metrics.cache_oversize.get(("block",)) == 2
        assert not cache.put("block", "7", big)
        raw = aioredis.Redis.from_url(redis_server.url)
        try:
            assert await raw.exists(cache.key("block", "7")) == 0
        finally:
            await raw.aclose()
    finally:
        await cache.close()


@pytest.mark.parametrize(("config", "warned"), [
    ({}, "has no maxmemory"),
    ({"maxmemory": "64mb", "maxmemory-policy": "noeviction"}, "every L2 write fails"),
    ({"maxmemory": "64mb", "maxmemory-policy": "volatile-ttl"}, "does not keep what is used"),
    ({"maxmemory": "64mb", "maxmemory-policy": "allkeys-lru"}, None),
])
async def test_a_redis_that_does_not_bound_its_memory_is_said_at_start(
        redis_server: RedisServer, caplog: pytest.LogCaptureFixture,
        config: dict[str, str], warned: str | None) -> None:
    raw = aioredis.Redis.from_url(redis_server.url)
    try:
        for name, value in config.items():
            await raw.config_set(name, value)
    finally:
        await raw.aclose()
    cache = make_cache(redis_server.url)
    with caplog.at_level(logging.WARNING, logger="bizra_node.cache"):
        await cache.start()
    await cache.close()
    if warned is None:
        assert "maxmemory" not in caplog.text
    else:
        assert warned in caplog.text


class ReorgedSource(Source):
    """Entries depending on block 100; a reorg from block ``fork`` lands during each of
    the first ``reorgs`` computations."""

    def __init__(self, cache: TieredCache, *, fork: int, reorgs: int) -> None:
        super().__init__()
        self.cache, self.fork, self.reorgs = cache, fork, reorgs

    async def __call__(self, subject: str) -> Entry:
        entry = await super().__call__(subject)
        if self.calls <= self.reorgs:
            self.cache.invalidate_from(self.fork)
        return msgspec.structs.replace(entry, block=100)


@pytest.mark.parametrize(("fork", "reorgs", "calls", "kept"), [
    (90, 1, 2, True),    # replaced under it once: computed again from the new chain, kept
    (90, 2, 2, False),   # replaced again: served, not kept
    (101, 1, 1, True),   # a reorg above its block does not touch it
])
async def test_an_answer_computed_while_a_reorg_lands_is_not_kept_from_the_old_chain(
        cache: TieredCache, redis_server: RedisServer, fork: int, reorgs: int, calls: int,
        kept: bool) -> None:
    src = ReorgedSource(cache, fork=fork, reorgs=reorgs)
    entry = await cache.fetch("transaction", "0xr", src)
    assert src.calls == calls and entry.body.endswith(f'"n":{calls}}}'.encode())
    await cache.flush()
    assert (cache.peek("transaction", "0xr") is not None) is kept
    client = aioredis.from_url(redis_server.url)
    try:
        assert (await client.exists(cache.key("transaction", "0xr")) == 1) is kept
    finally:
        await client.aclose()


async def test_a_computation_that_outlived_the_reorgs_remembered_is_computed_again(
        cache: TieredCache) -> None:
    src = ReorgedSource(cache, fork=0, reorgs=0)
    src.gate = asyncio.Event()
    task = asyncio.ensure_future(cache.fetch("block", "7", src))
    while src.calls == 0:  # the L2 lookup, then the computation starts
        await asyncio.sleep(0.001)
    for _ in range(70):  # more than the cache remembers, all above the entry's block
        cache.invalidate_from(10**6)
    src.gate.set()
    await task
    assert src.calls == 2 and cache.peek("block", "7") is not None


async def test_put_refuses_an_entry_a_reorg_overtook_since_its_mark(cache: TieredCache) -> None:
    """/rpc batches store their answers with put: the same rule as fetch."""
    def entry(block: int) -> Entry:
        return Entry(body=b"{}", expires=time.time() + 60, block=block)

    mark = cache.reorg_mark
    cache.invalidate_from(50)
    assert cache.put("rpc", "above", entry(100), since=mark) is False
    assert cache.peek("rpc", "above") is None
    assert cache.put("rpc", "below", entry(10), since=mark) is True
    assert cache.put("rpc", "unmarked", entry(100)) is True
    assert cache.put("rpc", "after", entry(100), since=cache.reorg_mark) is True
