"""The processes a performance run measures, each in a process of its own: the
latency proxy in front of anvil, the node in a given configuration, nginx.

Node configurations (``PROFILES``):

- ``node``: the defaults (keep-alive pool, JSON-RPC batches, L1 10 000 entries,
  Redis L2 and PostgreSQL records when the run has them), with the bare
  /_bench/constant endpoint on (Harness.bench_endpoints).
- ``before``: the same code set up like the system this node replaced: the calls of a
  validation sent one after another (Harness.rpc_sequential), a new upstream
  connection per call (Harness.rpc_force_close), L1 of 1 000 entries for 60 s, no L2.
  The retry, breaker and hedging paths stay as they are.

The switches are not settings: the harness's own application factory
(bizra_bench/node.py) builds the node with them, from BIZRA_BENCH_NODE.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import urllib.request
import uuid
from typing import Any

from bizra_bench.loadgen import Server, node_argv, start_server
from bizra_bench.node import ENV, node_env
from bizra_node.devnet import stop_process

__all__ = ["PROFILES", "ProxyProcess", "clear_redis_prefix", "drop_database", "redis_up",
           "scratch_database", "start_node"]

PROFILES: dict[str, dict[str, str]] = {
    "node": {},
    "before": {"L1_CACHE_SIZE": "1000", "L1_MAX_TTL": "60", "REDIS_URL": ""},
}
"""Each profile's settings (environment)."""
SWITCHES: dict[str, dict[str, bool]] = {
    "node": {},
    "before": {"rpc_sequential": True, "rpc_force_close": True},
}
"""Each profile's Harness switches beside bench_endpoints."""


class ProxyProcess:
    """``bizra_bench.faultproxy`` in a process of its own (so its work never shares a
    core's time slice with the load generator), adding ``latency`` s to every call
    and counting calls by method."""

    def __init__(self, target: str, latency: float) -> None:
        self.target = target
        self.latency = latency
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> ProxyProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bizra_bench.faultproxy", self.target, "--latency",
             str(self.latency), "--count-calls"], stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        if not line.startswith("listening "):
            self.stop()
            raise RuntimeError(f"fault proxy did not start: {line!r}")
        self.url = line.split()[1]
        return self

    def _control(self, path: str, method: str = "GET") -> dict[str, Any]:
        req = urllib.request.Request(self.url + path, method=method,
                                     data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return dict(json.loads(resp.read()))

    def stats(self) -> dict[str, Any]:
        return self._control("/_faultproxy/stats")

    def reset(self) -> None:
        self._control("/_faultproxy/reset", "POST")

    def pids(self) -> list[int]:
        return [self.proc.pid] if self.proc else []

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None


def start_node(upstream: str, profile: str = "node", *, workers: int = 2,
               redis_url: str = "", database_url: str = "",
               extra: dict[str, str] | None = None, tuning: dict[str, Any] | None = None,
               harness: dict[str, Any] | None = None, own_app: bool = True,
               serve_args: list[str] | None = None) -> tuple[Server, str]:
    """The node (granian, RSGI) against ``upstream``; returns the server and the Redis
    key prefix it uses (unique per start, so that no two nodes share L2 entries).
    Without ``database_url`` it records nothing (DB_ENABLED=false). ``tuning`` and
    ``harness``: fields of bizra_node.tuning's Tuning and Harness to change;
    ``own_app=False``: the node's own factory (another commit, `bench compare`);
    ``serve_args``: more `bizra-node serve` flags (``--http auto``)."""
    prefix = f"bizra-bench-{uuid.uuid4().hex[:10]}"
    db = ({"DATABASE_URL": database_url, "DB_ENABLED": "true"} if database_url
          else {"DB_ENABLED": "false"})
    switches = {"bench_endpoints": True, **SWITCHES[profile], **(harness or {})}
    env = {"BIZRA_NODE_URL": upstream, "LOG_LEVEL": "warning",
           "REDIS_URL": redis_url, "CACHE_KEY_PREFIX": prefix, "CACHE_SECRET": os.urandom(32).hex(),
           **db, **PROFILES[profile], **node_env(switches, tuning), **(extra or {})}
    if not own_app:  # a commit from before the Harness read these as settings
        env.pop(ENV)
        env.update({k.upper(): str(v).lower() for k, v in switches.items()})
    argv = [*node_argv(workers, "rsgi", own_app=own_app), *(serve_args or [])]
    return start_server(argv, env, "/health"), prefix


def _admin(admin_dsn: str, sql: str) -> None:
    """Run one statement on the server of ``admin_dsn`` (CREATE/DROP DATABASE)."""
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(admin_dsn, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def scratch_database(admin_dsn: str) -> str:
    """A new, empty database on the server of ``admin_dsn`` (the machine's PostgreSQL is
    shared: each run gets its own); its DSN, or "" when the server does not answer."""
    import asyncpg

    name = f"bizra_bench_{uuid.uuid4().hex[:10]}"
    try:
        _admin(admin_dsn, f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return ""
    return admin_dsn.rpartition("/")[0] + "/" + name


def drop_database(admin_dsn: str, dsn: str) -> None:
    _admin(admin_dsn, f'DROP DATABASE IF EXISTS "{dsn.rpartition("/")[2]}" WITH (FORCE)')


def redis_up(url: str) -> bool:
    if not url:
        return False
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        with contextlib.closing(client):
            return bool(client.ping())
    except redis.RedisError:
        return False


def clear_redis_prefix(url: str, prefix: str) -> int:
    """Delete the keys a bench node wrote under ``prefix`` (the machine's Redis is shared)."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    with contextlib.closing(client):
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for i in range(0, len(keys), 1000):
            client.delete(*keys[i:i + 1000])
    return len(keys)
