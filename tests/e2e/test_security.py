"""Security end to end with real processes: `bizra-node keys` and `bizra-node serve`
nodes sharing one PostgreSQL database and one redis-server.

- the key lifecycle through the CLI and HTTP (create, use, list, last used, revoke);
- a revocation seen by a second node process at once (Redis pub/sub), and without
  Redis by the periodic refresh;
- rate limits across two node processes: what the first spent, the second refuses.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from bizra_bench.node import node_argv_app, node_env
from tests.conftest import TEST_CACHE_SECRET, Devnet
from tests.e2e.test_serve import BIN, start_server, stop_server
from tests.integration.security.conftest import SECRET
from tests.support.postgres import SHARED_DSN, scratch_database
from tests.support.redis_server import RedisServer


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
async def pg_dsn() -> AsyncIterator[str]:
    async with scratch_database(SHARED_DSN) as dsn:
        yield dsn


def keys_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BIN, "keys", *args], env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=60)


def node(env: dict[str, str], tmp: Path, name: str) -> tuple[subprocess.Popen[bytes], str]:
    folder = tmp / name
    folder.mkdir()
    return start_server({**env, "DATA_DIR": str(folder), "DB_ENABLED": "true",
                         "BIZRA_WORKERS": "1"}, *node_argv_app("rsgi"))


async def status_of(http: aiohttp.ClientSession, url: str, key: str | None = None) -> int:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    async with http.get(url, headers=headers) as resp:
        return resp.status


async def wait_for_status(http: aiohttp.ClientSession, url: str, key: str, want: int,
                          within: float) -> float:
    start = time.monotonic()
    while True:
        if await status_of(http, url, key) == want:
            return time.monotonic() - start
        assert time.monotonic() - start < within, f"{url} did not answer {want} in {within}s"
        await asyncio.sleep(0.05)


async def test_key_lifecycle_across_two_nodes(devnet: Devnet, pg_dsn: str, tmp_path: Path,
                                              redis_server: RedisServer) -> None:
    env = {"BIZRA_NODE_URL": devnet.url, "DATABASE_URL": pg_dsn, "API_KEY_SECRET": SECRET,
           "REDIS_URL": redis_server.url, "CACHE_KEY_PREFIX": f"e2e{os.getpid()}",
           "CACHE_SECRET": TEST_CACHE_SECRET, "API_KEYS_MODE": "required",
           "API_KEYS_REFRESH": "60",  # pub/sub must do it
           # last-used times every 0.5 s: the harness's node (bizra_bench/node.py)
           **node_env(tuning={"api_keys_touch_interval": 0.5})}
    created = keys_cli(env, "create", "acme", "--scopes", "validate,rpc")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("bzk_") and len(key) >= 4 + 43 and " " not in key
    a, base_a = node(env, tmp_path, "a")
    b, base_b = node(env, tmp_path, "b")
    try:
        path = f"/api/v1/transactions/{devnet.manifest.legacy_tx}"
        async with aiohttp.ClientSession() as http:
            for base in (base_a, base_b):
                assert await status_of(http, base + path) == 401
                assert await status_of(http, base + path, key) == 200
                assert await status_of(http, base + path, key) == 200  # the hit lane
                assert await status_of(http, base + "/api/v1/validations", key) == 403
            # a key made while the nodes run works at once (announced on Redis)
            second = keys_cli(env, "create", "beta", "--scopes", "history", "--rate", "5")
            key2 = second.stdout.strip().splitlines()[-1]
            await wait_for_status(http, base_b + "/api/v1/validations", key2, 200, within=3)

            await asyncio.sleep(1.5)  # a last-used batch
            listed = keys_cli(env, "list")
            assert listed.returncode == 0, listed.stderr
            assert key not in listed.stdout and key2 not in listed.stdout
            lines = listed.stdout.splitlines()
            assert lines[0].split()[:4] == ["name", "id", "scopes", "rate"]
            acme = next(line for line in lines if line.startswith("acme"))
            assert "rpc,validate" in acme and acme.split()[-1] == "-"  # not revoked
            assert acme.count("-") >= 4  # created and last-used dates, revoked "-"
            assert "beta" in listed.stdout and " 5 " in next(
                line for line in lines if line.startswith("beta"))

            revoked = keys_cli(env, "revoke", "acme")
            assert revoked.returncode == 0, revoked.stderr
            assert "announced on Redis" in revoked.stdout
            took = await asyncio.gather(
                wait_for_status(http, base_a + path, key, 401, within=3),
                wait_for_status(http, base_b + path, key, 401, within=3))
            assert max(took) < 3
            print(f"revocation seen by the two nodes after {took[0]:.3f} s and {took[1]:.3f} s")
            assert keys_cli(env, "revoke", "acme").returncode == 1  # nothing active left
            listed = keys_cli(env, "list").stdout
            assert next(line for line in listed.splitlines()
                        if line.startswith("acme")).split()[-1] != "-"
            # the name is free again
            assert keys_cli(env, "create", "acme").returncode == 0
    finally:
        assert stop_server(a) == 0
        assert stop_server(b) == 0


async def test_revocation_without_redis_by_refresh(devnet: Devnet, pg_dsn: str,
                                                   tmp_path: Path) -> None:
    env = {"BIZRA_NODE_URL": devnet.url, "DATABASE_URL": pg_dsn, "API_KEY_SECRET": SECRET,
           "REDIS_URL": "", "API_KEYS_MODE": "required", "API_KEYS_REFRESH": "1"}
    key = keys_cli(env, "create", "solo").stdout.strip().splitlines()[-1]
    proc, base = node(env, tmp_path, "n")
    try:
        path = f"/api/v1/transactions/{devnet.manifest.legacy_tx}"
        async with aiohttp.ClientSession() as http:
            assert await status_of(http, base + path, key) == 200
            out = keys_cli(env, "revoke", "solo")
            assert "no REDIS_URL" in out.stdout
            took = await wait_for_status(http, base + path, key, 401, within=5)
            print(f"revocation seen without Redis after {took:.3f} s (API_KEYS_REFRESH=1)")
            assert took < 3
    finally:
        assert stop_server(proc) == 0


async def test_rate_limits_across_two_nodes(devnet: Devnet, tmp_path: Path,
                                            redis_server: RedisServer) -> None:
    env = {"BIZRA_NODE_URL": devnet.url, "REDIS_URL": redis_server.url,
           "CACHE_SECRET": TEST_CACHE_SECRET, "CACHE_KEY_PREFIX": f"rl{os.getpid()}",
           "RATE_LIMIT_RPS": "0.01",
           "RATE_LIMIT_BURST": "30", "BIZRA_WORKERS": "1"}
    a, base_a = start_server(env)
    b, base_b = start_server(env)
    try:
        path = f"/api/v1/transactions/{devnet.manifest.legacy_tx}"
        async with aiohttp.ClientSession() as http:
            first = [await status_of(http, base_a + path) for _ in range(30)]
            second = [await status_of(http, base_b + path) for _ in range(10)]
            async with http.get(base_b + path) as resp:
                assert resp.status == 429
                assert resp.headers["ratelimit-policy"] == '"anonymous";q=30;w=3000'
                assert int(resp.headers["retry-after"]) > 1
            async with http.get(base_b + "/ready") as resp:
                checks = (await resp.json())["data"]["checks"]
                assert checks["security"]["rateLimit"]["mode"] == "cluster"
        assert first.count(200) == 30
        assert second.count(200) <= 1 and second.count(429) >= 9  # B grants nothing A spent
    finally:
        assert stop_server(a) == 0
        assert stop_server(b) == 0


async def test_metrics_on_the_admin_address(devnet: Devnet) -> None:
    """METRICS_ADDRESS: /metrics and /api/metrics leave the public listener for a second
    one (a granian of its own over the same metric files)."""
    from bizra_node.devnet import free_port

    admin = f"127.0.0.1:{free_port()}"
    proc, base = start_server({"BIZRA_NODE_URL": devnet.url, "METRICS_ADDRESS": admin,
                               "METRICS_FLUSH_INTERVAL": "0.2"})
    try:
        async with aiohttp.ClientSession() as http:
            assert await status_of(http, base + "/health") == 200
            assert await status_of(http, base + "/metrics") == 404
            assert await status_of(http, base + "/api/metrics") == 404
            deadline = time.monotonic() + 20
            text = ""
            while 'route="/health"' not in text:  # the worker's counts, read by the admin
                assert time.monotonic() < deadline, text[-500:]
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://{admin}/metrics") as resp:
                        text = await resp.text()
                await asyncio.sleep(0.2)
            async with http.get(f"http://{admin}/api/metrics") as resp:
                assert resp.status == 200
                assert (await resp.json())["meta"]["multiprocess"] is True
            assert await status_of(http, f"http://{admin}/rpc") == 404  # only the admin routes
            assert "worker_restarts_total 0.0" in text  # the main process's count too
    finally:
        assert stop_server(proc) == 0
    with pytest.raises(OSError):  # the admin listener went with the node
        import socket

        socket.create_connection(tuple(admin.split(":")), timeout=1)  # type: ignore[arg-type]
