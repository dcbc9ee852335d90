"""The balancer's cache (``cluster.haproxy.cache_rules``), on a real HAProxy in front of a
small origin that answers with the headers a test picks and counts what reaches it: an
answer the origin marks ``immutable`` is served from the cache (the origin's count does
not grow, ``X-Cache: HIT`` and an ``Age``); a short-lived answer, an error, a POST, /rpc
and requests with credentials or their own X-Request-Id always reach the origin. The same
on the real node, behind ``cluster up``, is in test_cross_node.py."""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bizra_node.cluster.haproxy import haproxy_binary, render_config, server_states
from bizra_node.cluster.procs import wait_for
from bizra_node.devnet.anvil import free_port
from tests.support.servers import serving

pytestmark = pytest.mark.skipif(haproxy_binary() is None,
                                reason="haproxy missing: run `make haproxy`")

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=2"


@asynccontextmanager
async def _origin(seen: Counter[str]) -> AsyncIterator[int]:
    """GET/POST anything: the path says the answer (``short``, ``error`` or final)."""

    async def answer(request: web.Request) -> web.Response:
        if request.path == "/ready":
            return web.json_response({"success": True})
        seen[f"{request.method} {request.path_qs}"] += 1
        body = {"success": True, "n": seen[f"{request.method} {request.path_qs}"]}
        if "short" in request.path:
            return web.json_response(body, headers={"cache-control": SHORT, "etag": '"s"'})
        if "error" in request.path:
            return web.json_response({"success": False}, status=404,
                                     headers={"cache-control": IMMUTABLE, "etag": '"e"'})
        return web.json_response(body, headers={"cache-control": IMMUTABLE, "etag": '"f"'})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    async with serving(app) as port:
        yield port


@pytest.fixture
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="bizra-haproxy-") as name:
        yield Path(name)


@asynccontextmanager
async def _balancer(origin_port: int, folder: Path, cache_mb: int = 8) -> AsyncIterator[str]:
    binary = haproxy_binary()
    assert binary is not None
    port, stats = free_port(), free_port()
    config = folder / "haproxy.cfg"
    config.write_text(render_config(port=port, stats_port=stats, node_ports=[origin_port],
                                    pidfile=folder / "haproxy.pid", cache_mb=cache_mb))
    proc = await asyncio.create_subprocess_exec(binary, "-db", "-f", str(config),
                                                stdout=subprocess.DEVNULL,
                                                stderr=subprocess.DEVNULL)
    try:
        def up() -> bool:
            try:
                return server_states(stats, timeout=0.5) == {"node1": "UP"}
            except OSError:
                return False
        await asyncio.to_thread(wait_for, up, "haproxy did not see the origin UP", 15)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)


async def _get(http: aiohttp.ClientSession, url: str, **headers: str) -> aiohttp.ClientResponse:
    async with http.get(url, headers=headers) as resp:
        await resp.read()
        return resp


async def test_immutable_get_is_served_from_the_cache(folder: Path) -> None:
    seen: Counter[str] = Counter()
    async with _origin(seen) as origin, _balancer(origin, folder) as base, \
            aiohttp.ClientSession() as http:
        first = await _get(http, base + "/api/v1/transactions/0xab")
        assert first.status == 200 and "x-cache" not in first.headers
        for _ in range(3):
            hit = await _get(http, base + "/api/v1/transactions/0xab")
            assert hit.status == 200 and hit.headers["x-cache"] == "HIT"
            assert hit.headers["cache-control"] == IMMUTABLE and "age" in hit.headers
            assert hit.headers["etag"] == '"f"'
        # a conditional request is answered by the cache too
        cond = await _get(http, base + "/api/v1/transactions/0xab", **{"if-none-match": '"f"'})
        assert cond.status == 304
        assert seen["GET /api/v1/transactions/0xab"] == 1
        # another URI is another entry
        await _get(http, base + "/api/v1/transactions/0xcd")
        await _get(http, base + "/api/v1/transactions/0xcd")
        assert seen["GET /api/v1/transactions/0xcd"] == 1


async def test_what_is_never_cached(folder: Path) -> None:
    seen: Counter[str] = Counter()
    async with _origin(seen) as origin, _balancer(origin, folder) as base, \
            aiohttp.ClientSession() as http:
        for _ in range(3):
            assert (await _get(http, base + "/api/v1/blocks/short")).status == 200
            assert (await _get(http, base + "/api/v1/transactions/error")).status == 404
            assert (await _get(http, base + "/rpc")).status == 200
            async with http.post(base + "/api/v1/validate/transaction", json={}) as resp:
                assert resp.status == 200 and "x-cache" not in resp.headers
            for creds in ({"authorization": "Bearer k"}, {"x-api-key": "k"},
                          {"x-request-id": "mine-1"}):
                got = await _get(http, base + "/api/v1/transactions/keyed", **creds)
                assert got.status == 200 and "x-cache" not in got.headers
        assert seen == Counter({"GET /api/v1/blocks/short": 3,
                                "GET /api/v1/transactions/error": 3, "GET /rpc": 3,
                                "POST /api/v1/validate/transaction": 3,
                                "GET /api/v1/transactions/keyed": 9})
        # an answer stored for anonymous callers is not handed to a keyed one
        await _get(http, base + "/api/v1/transactions/0xab")
        keyed = await _get(http, base + "/api/v1/transactions/0xab", **{"x-api-key": "k"})
        assert "x-cache" not in keyed.headers
        assert seen["GET /api/v1/transactions/0xab"] == 2


async def test_cache_off(folder: Path) -> None:
    seen: Counter[str] = Counter()
    async with _origin(seen) as origin, _balancer(origin, folder, cache_mb=0) as base, \
            aiohttp.ClientSession() as http:
        for _ in range(3):
            got = await _get(http, base + "/api/v1/transactions/0xab")
            assert got.status == 200 and "x-cache" not in got.headers
        assert seen["GET /api/v1/transactions/0xab"] == 3
