"""L2 and pub/sub against a real Redis Cluster (three masters) and a real Sentinel
(master, replica, sentinel), chosen by REDIS_MODE; a Sentinel failover is followed."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis
from redis.asyncio.cluster import ClusterPubSub, RedisCluster

from bizra_node.app import cache_config
from bizra_node.cache import (
    Entry,
    RedisConfig,
    RedisL2,
    TieredCache,
    connect_redis,
    l2_breaker_config,
    open_pubsub,
)
from bizra_node.observability import NodeMetrics
from bizra_node.resilience import CircuitBreaker
from tests.conftest import make_settings
from tests.support.redis_topologies import LocalRedisCluster, LocalSentinel, missing_redis_tools

pytestmark = pytest.mark.skipif(missing_redis_tools() is not None,
                                reason=missing_redis_tools() or "")


@pytest.fixture(scope="module")
def redis_cluster() -> Iterator[LocalRedisCluster]:
    cluster = LocalRedisCluster().start()
    try:
        yield cluster
    finally:
        cluster.cleanup()


@pytest.fixture
def sentinel() -> Iterator[LocalSentinel]:
    setup = LocalSentinel().start()
    try:
        yield setup
    finally:
        setup.cleanup()


def make_l2(config: RedisConfig, *, timeout: float = 0.5) -> tuple[RedisL2, NodeMetrics]:
    metrics = NodeMetrics()
    breaker = CircuitBreaker("redis", l2_breaker_config(2, 0.05))
    return RedisL2(config, timeout=timeout, metrics=metrics, breaker=breaker), metrics


class Computed:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, subject: str) -> Entry:
        self.calls += 1
        return Entry(body=f'{{"subject":"{subject}"}}'.encode(), expires=time.time() + 60,
                     moving=False, head=1)


# --- Redis Cluster ---------------------------------------------------------------------
async def test_cluster_l2_set_get_spreads_keys_over_masters(
        redis_cluster: LocalRedisCluster) -> None:
    l2, metrics = make_l2(RedisConfig(redis_cluster.url, mode="cluster"))
    keys = [f"bizra-topo:{i}" for i in range(30)]
    try:
        for key in keys:
            assert await l2.set(key, key.encode(), 30)
        for key in keys:
            assert await l2.get(key) == key.encode()
        for node in redis_cluster.nodes:  # the keys live on every master, not on one
            client = redis.Redis(port=node.port)
            assert client.dbsize() > 0
            client.close()
        state = await l2.ping()
        assert state["up"] and metrics.cache_entries.get(("l2",)) >= len(keys)
        assert metrics.cache_bytes.get(("l2",)) > 0  # used_memory summed over the masters
        assert await l2.delete(keys[0]) == 1
        # keys in different slots: redis-py splits the DEL per slot (not atomic)
        assert await l2.delete(*keys[1:10]) == 9
        assert metrics.cache_l2_errors.total() == 0
    finally:
        await l2.close()


async def test_cluster_miss_on_one_node_is_l2_hit_on_another(
        redis_cluster: LocalRedisCluster) -> None:
    """Two TieredCaches (two nodes) configured by settings with REDIS_MODE=cluster."""
    settings = make_settings("http://127.0.0.1:1", redis_url=redis_cluster.url,
                             redis_mode="cluster", cache_key_prefix="bizra-topo-tiered")
    config = cache_config(settings)
    a, b = TieredCache(config, NodeMetrics()), TieredCache(config, NodeMetrics())
    await a.start()
    await b.start()
    source = Computed()
    try:
        await a.fetch("transaction", "0xabc", source)
        await a.flush()
        entry = await b.fetch("transaction", "0xabc", source)
        assert source.calls == 1 and entry.body == b'{"subject":"0xabc"}'
        assert b.metrics.cache_hits.get(("l2", "transaction")) == 1
    finally:
        await a.close()
        await b.close()


async def test_cluster_pubsub_classic_and_sharded(redis_cluster: LocalRedisCluster) -> None:
    """Classic PUBLISH on any node reaches a subscriber on another node (cluster bus);
    sharded SPUBLISH/SSUBSCRIBE goes through the channel's slot owner (redis-py reads
    sharded messages with ``get_sharded_message``)."""
    client = connect_redis(RedisConfig(redis_cluster.url, mode="cluster"), socket_timeout=None)
    assert isinstance(client, RedisCluster)
    classic = await open_pubsub(client)
    sharded = await open_pubsub(client)
    assert isinstance(sharded, ClusterPubSub)
    try:
        await classic.subscribe("bizra-topo-events")
        await sharded.ssubscribe("bizra-topo-shard")
        assert await _next(classic.get_message, "subscribe") is not None
        assert await _next(sharded.get_sharded_message, "ssubscribe") is not None
        # publish on every master directly: each message must reach the one subscription
        for node in redis_cluster.nodes:
            plain = redis.Redis(port=node.port)
            plain.publish("bizra-topo-events", f"from-{node.port}")
            plain.close()
        got = [await _next(classic.get_message, "message") for _ in redis_cluster.nodes]
        assert sorted(got) == sorted(f"from-{n.port}".encode() for n in redis_cluster.nodes)
        await client.spublish("bizra-topo-shard", "sharded")
        assert await _next(sharded.get_sharded_message, "smessage") == b"sharded"
    finally:
        await classic.aclose()
        await sharded.aclose()
        await client.aclose()


async def _next(get: Callable[..., Awaitable[Any]], kind: str, within: float = 5.0) -> Any:
    """The data of the next message of ``kind`` (None if none ``within`` s)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        msg = await get(timeout=0.5)
        if msg and msg["type"] == kind:
            return msg["data"]
    return None


# --- Sentinel -------------------------------------------------------------------------
async def test_sentinel_l2_follows_a_killed_master(sentinel: LocalSentinel) -> None:
    config = RedisConfig(sentinel.url, mode="sentinel", sentinel_master=sentinel.master_name)
    l2, _metrics = make_l2(config)
    assert sentinel.master is not None and sentinel.replica is not None
    try:
        assert await l2.set("bizra-topo:before", b"v1", 60)
        assert await l2.get("bizra-topo:before") == b"v1"
        assert sentinel.master_port() == sentinel.master.port
        master = redis.Redis(port=sentinel.master.port)
        assert master.wait(1, 2000) == 1  # the replica has the key before the master dies
        master.close()
        sentinel.master.kill()
        deadline = time.monotonic() + 20
        while sentinel.master_port() != sentinel.replica.port:
            assert time.monotonic() < deadline, "sentinel did not promote the replica"
            await asyncio.sleep(0.1)
        # the same L2 object now writes to and reads from the promoted replica
        stored = False
        while not stored:
            assert time.monotonic() < deadline, "L2 did not follow the failover"
            stored = await l2.set("bizra-topo:after", b"v2", 60)
            if not stored:
                await asyncio.sleep(0.1)
        assert await l2.get("bizra-topo:after") == b"v2"
        assert await l2.get("bizra-topo:before") == b"v1"
        promoted = redis.Redis(port=sentinel.replica.port)
        assert promoted.get("bizra-topo:after") == b"v2"
        assert promoted.info("replication")["role"] == "master"
        promoted.close()
        assert (await l2.ping())["up"]  # the failover cost at most some misses, no errors
    finally:
        await l2.close()


async def test_sentinel_settings_build_the_client(sentinel: LocalSentinel) -> None:
    settings = make_settings("http://127.0.0.1:1", redis_url=sentinel.url, redis_mode="sentinel",
                             redis_sentinel_master=sentinel.master_name,
                             cache_key_prefix="bizra-topo-sentinel")
    cache = TieredCache(cache_config(settings), NodeMetrics())
    await cache.start()
    try:
        source = Computed()
        await cache.fetch("block", "7", source)
        await cache.flush()
        assert sentinel.master is not None
        raw = redis.Redis(port=sentinel.master.port)
        assert any(k.startswith(b"bizra-topo-sentinel:") for k in raw.scan_iter())
        raw.close()
        assert (await cache.ready())["status"] == "up"
    finally:
        await cache.close()


async def test_sentinel_pubsub_survives_a_failover(sentinel: LocalSentinel) -> None:
    """A listener made with retries re-subscribes on the promoted master by itself."""
    config = RedisConfig(sentinel.url, mode="sentinel", sentinel_master=sentinel.master_name)
    listener = connect_redis(config, socket_timeout=None, connect_timeout=1, retries=20)
    publisher = connect_redis(config, socket_timeout=1, retries=20)
    pubsub = await open_pubsub(listener)
    assert sentinel.master is not None and sentinel.replica is not None
    try:
        await pubsub.subscribe("bizra-topo-reorg")
        assert await _next(pubsub.get_message, "subscribe") is not None
        await publisher.publish("bizra-topo-reorg", "before")
        assert await _next(pubsub.get_message, "message") == b"before"
        sentinel.master.kill()
        deadline = time.monotonic() + 20
        while sentinel.master_port() != sentinel.replica.port:
            assert time.monotonic() < deadline, "sentinel did not promote the replica"
            await asyncio.sleep(0.1)
        received = None
        while received is None:  # publish until the re-subscribed listener hears it
            assert time.monotonic() < deadline, "the listener never heard the new master"
            with contextlib.suppress(redis.RedisError):  # the publisher reconnects too
                await publisher.publish("bizra-topo-reorg", "after")
            try:
                received = await _next(pubsub.get_message, "message", within=0.3)
            except redis.RedisError:
                await asyncio.sleep(0.1)
        assert received == b"after"
    finally:
        await pubsub.aclose()
        await listener.aclose()
        await publisher.aclose()
