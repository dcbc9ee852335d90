"""One way to make a Redis client, for one server, a Sentinel-watched master or a Cluster.

Every part of the node that talks to Redis (L2, and later pub/sub and rate limits)
builds its client with :func:`connect_redis` from one :class:`RedisConfig`, so the
topology is chosen once (REDIS_MODE) and each user only says how it wants to wait
(timeouts, pool size, retries).

- ``standalone``: REDIS_URL is one ``redis://`` / ``rediss://`` / ``unix://`` URL.
- ``sentinel``: REDIS_URL lists the sentinels (``redis://s1:26379,s2:26379``); the
  client asks them for the master of REDIS_SENTINEL_MASTER on each new connection,
  so after a failover the next connection goes to the new master (redis-py's
  ``SentinelConnectionPool``; a connection that meets a demoted master's READONLY
  error is dropped). User, password and db in the first URL are the master's;
  REDIS_SENTINEL_PASSWORD is the sentinels' own, if they have one.
- ``cluster``: REDIS_URL lists some cluster nodes (``redis://n1:7000,n2:7001``); the
  client learns the slot map from them and follows MOVED/ASK (redis-py's
  ``RedisCluster``). Keys used together in one command must share a hash tag
  (``{tag}``) so they land in one slot; see docs/scaling.md for which keys do.

Pub/sub: :func:`open_pubsub` gives a ``PubSub`` in all three modes (make its client with
``socket_timeout=None``). In cluster mode it is redis-py's ``ClusterPubSub`` (asyncio,
redis-py >= 8.1), which needs the slot map loaded first (``open_pubsub`` does that) and
subscribes on one node; classic PUBLISH reaches subscribers on every node over the cluster bus,
and sharded pub/sub (SPUBLISH / SSUBSCRIBE) keeps a channel's traffic on its slot's
shard (tests/integration/cache/test_redis_topologies.py shows both).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Literal, get_args
from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff

__all__ = ["REDIS_MODES", "RedisClient", "RedisConfig", "RedisMode", "connect_redis",
           "every_primary", "open_pubsub"]

RedisMode = Literal["standalone", "sentinel", "cluster"]
REDIS_MODES: tuple[str, ...] = get_args(RedisMode)

RedisClient = aioredis.Redis | RedisCluster
"""What :func:`connect_redis` returns: both have get/set/delete/ping/info/pubsub/aclose."""

# No CLIENT SETINFO round trips on each new connection (redis-py >= 7 spells it
# driver_info=None; older versions lib_name/lib_version=None).
_NO_SETINFO: dict[str, Any] = (
    {"driver_info": None} if "driver_info" in inspect.signature(aioredis.Redis.__init__).parameters
    else {"lib_name": None, "lib_version": None})


@dataclass(frozen=True)
class RedisConfig:
    """Where Redis is and how it is laid out (REDIS_URL, REDIS_MODE, REDIS_SENTINEL_*)."""

    url: str
    mode: RedisMode = "standalone"
    sentinel_master: str = "mymaster"
    sentinel_password: str = ""

    def __post_init__(self) -> None:
        if self.mode not in REDIS_MODES:
            raise ValueError(f"REDIS_MODE must be one of {', '.join(REDIS_MODES)}")
        urls = self.urls
        if not urls:
            raise ValueError("REDIS_URL is empty")
        for url in urls:
            if not url.startswith(("redis://", "rediss://", "unix://")):
                raise ValueError("REDIS_URL entries must start with redis://, rediss:// or unix://")
        if self.mode == "standalone" and len(urls) > 1:
            raise ValueError("REDIS_URL lists several addresses: set REDIS_MODE to sentinel "
                             "or cluster")
        if self.mode != "standalone":
            for url in urls:
                parts = urlsplit(url)
                if parts.scheme == "unix" or not parts.hostname:
                    raise ValueError(f"REDIS_MODE={self.mode} needs host:port addresses")
        if self.mode == "sentinel" and not self.sentinel_master:
            raise ValueError("REDIS_MODE=sentinel needs REDIS_SENTINEL_MASTER")

    @property
    def urls(self) -> list[str]:
        """REDIS_URL split at commas; a bare ``host:port`` borrows the first URL's scheme."""
        parts = [p.strip() for p in self.url.split(",") if p.strip()]
        if not parts:
            return []
        scheme = parts[0].split("://", 1)[0] if "://" in parts[0] else "redis"
        return [p if "://" in p else f"{scheme}://{p}" for p in parts]

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """(host, port) of each listed server (not for unix sockets)."""
        default = 26379 if self.mode == "sentinel" else 6379
        out = []
        for url in self.urls:
            parts = urlsplit(url)
            out.append((parts.hostname or "127.0.0.1", parts.port or default))
        return out

    def redacted(self) -> str:
        """REDIS_URL without passwords, for logs and readiness."""
        out = []
        for url in self.urls:
            scheme, sep, rest = url.partition("://")
            if "@" in rest:
                rest = "***@" + rest.rsplit("@", 1)[1]
            out.append(scheme + sep + rest)
        return ",".join(out)


def _credentials(url: str) -> dict[str, Any]:
    """username, password, db and TLS of one URL, as redis-py connection kwargs."""
    parts = urlsplit(url)
    kwargs: dict[str, Any] = {}
    if parts.username:
        kwargs["username"] = unquote(parts.username)
    if parts.password:
        kwargs["password"] = unquote(parts.password)
    path = parts.path.strip("/")
    if path.isdigit():
        kwargs["db"] = int(path)
    if parts.scheme == "rediss":
        kwargs["ssl"] = True
    return kwargs


def connect_redis(config: RedisConfig, *, socket_timeout: float | None,
                  connect_timeout: float | None = None, max_connections: int = 256,
                  retries: int = 0, decode_responses: bool = False) -> RedisClient:
    """A client for ``config``'s topology; connects lazily, on first use.

    ``socket_timeout`` bounds each reply (None waits forever: a pub/sub listener),
    ``connect_timeout`` each connect (default: ``socket_timeout``); ``retries`` is
    redis-py's own retry count on connection errors (0: the caller decides, as L2
    does); ``max_connections`` is per server.
    """
    connect_timeout = socket_timeout if connect_timeout is None else connect_timeout
    common: dict[str, Any] = {
        "socket_timeout": socket_timeout, "socket_connect_timeout": connect_timeout,
        "retry": Retry(NoBackoff(), retries), "decode_responses": decode_responses,
        "health_check_interval": 0, **_NO_SETINFO}
    if config.mode == "standalone":
        return aioredis.Redis.from_url(config.urls[0], retry_on_timeout=False,
                                       max_connections=max_connections, **common)
    first = _credentials(config.urls[0])
    if config.mode == "sentinel":
        sentinel_kwargs: dict[str, Any] = {
            "socket_timeout": connect_timeout, "socket_connect_timeout": connect_timeout,
            **_NO_SETINFO}
        if config.sentinel_password:
            sentinel_kwargs["password"] = config.sentinel_password
        if first.get("ssl"):
            sentinel_kwargs["ssl"] = True
        sentinel = Sentinel(config.addresses,  # type: ignore[no-untyped-call]
                            sentinel_kwargs=sentinel_kwargs)
        client: aioredis.Redis = sentinel.master_for(
            config.sentinel_master, max_connections=max_connections, **first, **common)
        return client
    first.pop("db", None)  # a cluster has only db 0
    nodes = [ClusterNode(host, port) for host, port in config.addresses]
    return RedisCluster(startup_nodes=nodes, max_connections=max_connections, **first, **common)


def every_primary(client: RedisClient) -> dict[str, Any]:
    """Keyword arguments that send a server-wide command (DBSIZE, INFO) to every master
    of a cluster; redis-py's RedisCluster otherwise asks one node. Empty elsewhere."""
    return {"target_nodes": RedisCluster.PRIMARIES} if isinstance(client, RedisCluster) else {}


async def open_pubsub(client: RedisClient) -> PubSub:
    """``client.pubsub()``, after loading a cluster's slot map (redis-py's ClusterPubSub
    raises KeyError on a cluster client that has not run a command yet)."""
    if isinstance(client, RedisCluster):
        await client.initialize()
    return client.pubsub()
