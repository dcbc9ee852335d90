"""RedisConfig: REDIS_URL / REDIS_MODE parsed and checked once, with clear errors."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from bizra_node.app import redis_config
from bizra_node.cache import RedisConfig, connect_redis, every_primary
from tests.conftest import make_settings


def test_standalone_is_one_url() -> None:
    config = RedisConfig("redis://:pw@cache:6380/2")
    assert config.urls == ["redis://:pw@cache:6380/2"]
    assert config.addresses == [("cache", 6380)]
    assert config.redacted() == "redis://***@cache:6380/2"
    with pytest.raises(ValueError, match="several addresses"):
        RedisConfig("redis://a:1,redis://b:2")


def test_several_addresses_borrow_the_first_scheme() -> None:
    config = RedisConfig("rediss://:pw@n1:7000, n2:7001,redis://n3", mode="cluster")
    assert config.urls == ["rediss://:pw@n1:7000", "rediss://n2:7001", "redis://n3"]
    assert config.addresses == [("n1", 7000), ("n2", 7001), ("n3", 6379)]
    assert config.redacted() == "rediss://***@n1:7000,rediss://n2:7001,redis://n3"
    assert RedisConfig("redis://s1,s2", mode="sentinel").addresses == [("s1", 26379),
                                                                      ("s2", 26379)]


@pytest.mark.parametrize(("url", "mode", "master", "message"), [
    ("", "standalone", "m", "empty"),
    ("http://x:1", "standalone", "m", "must start with"),
    ("unix:///tmp/redis.sock", "cluster", "m", "host:port"),
    ("redis://s1:26379", "sentinel", "", "REDIS_SENTINEL_MASTER"),
    ("redis://s1:26379", "ring", "m", "REDIS_MODE"),
])
def test_bad_configs_are_clear_errors(url: str, mode: str, master: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RedisConfig(url, mode=mode, sentinel_master=master)  # type: ignore[arg-type]


async def test_each_mode_makes_its_client() -> None:
    """Clients connect lazily: making them needs no server."""
    standalone = connect_redis(RedisConfig("redis://127.0.0.1:1/3"), socket_timeout=0.1)
    sentinel = connect_redis(RedisConfig("redis://127.0.0.1:1", mode="sentinel",
                                         sentinel_master="m"), socket_timeout=0.1)
    cluster = connect_redis(RedisConfig("redis://127.0.0.1:1,127.0.0.1:2", mode="cluster"),
                            socket_timeout=0.1)
    try:
        assert isinstance(standalone, aioredis.Redis)
        assert standalone.connection_pool.connection_kwargs["db"] == 3
        assert isinstance(sentinel, aioredis.Redis)
        assert type(sentinel.connection_pool).__name__ == "SentinelConnectionPool"
        assert isinstance(cluster, RedisCluster)
        assert every_primary(cluster) == {"target_nodes": RedisCluster.PRIMARIES}
        assert every_primary(standalone) == {}
    finally:
        for client in (standalone, sentinel, cluster):
            await client.aclose()


def test_settings_choose_the_mode() -> None:
    settings = make_settings("http://127.0.0.1:1", redis_url="redis://n1:7000,redis://n2:7001",
                             redis_mode="cluster")
    config = redis_config(settings)
    assert config is not None
    assert config.mode == "cluster" and len(config.urls) == 2
    with pytest.raises(ValueError, match="REDIS_MODE"):
        make_settings("http://127.0.0.1:1", redis_url="redis://n1:7000,redis://n2:7001")
