"""Refusals a browser can read: with RPC_CORS_ORIGINS set, every
answer under /rpc to an allowed origin carries Access-Control-Allow-Origin and
Access-Control-Expose-Headers -- 401, 403, 429 (the synchronous lane and the full
path), 405, 404, 503 and 500 -- so a dapp reads the -32005 instead of an opaque network
error. In process (ASGI); over real HTTP and both interfaces, with 408:
tests/e2e/test_cors_refusals.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bizra_node.api import ASGIApp, CorsPolicy, Dispatcher, Request, Response, Route
from bizra_node.app import Node
from bizra_node.devnet import free_port
from bizra_node.security import KeyHasher, generate_key
from tests.conftest import Devnet, make_settings, running_node
from tests.integration.security.conftest import SECRET

ORIGIN = "https://app.example"
CALL = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
BATCH = [CALL, {**CALL, "id": 2}]  # never the synchronous lane
EXPOSED = {"x-verification", "x-request-id", "retry-after", "ratelimit", "ratelimit-policy",
           "www-authenticate"}


def readable(resp: httpx.Response, origin: str = ORIGIN) -> None:
    """A browser's page at ``origin`` may read this answer and the fields it needs."""
    assert resp.headers.get("access-control-allow-origin") == origin, (resp.status_code,
                                                                      resp.headers)
    exposed = {h.strip() for h in resp.headers["access-control-expose-headers"].split(",")}
    assert exposed >= EXPOSED
    assert "Origin" in resp.headers.get("vary", "")


async def post(client: httpx.AsyncClient, body: Any, origin: str = ORIGIN,
               **headers: str) -> httpx.Response:
    return await client.post("/rpc", json=body, headers={"origin": origin, **headers})


@pytest.fixture
async def keyed(devnet: Devnet, pg_dsn: str, tmp_path: Path) -> AsyncIterator[
        tuple[Node, httpx.AsyncClient]]:
    settings = make_settings(devnet.url, db_enabled=True, database_url=pg_dsn,
                             data_dir=str(tmp_path), api_keys_mode="required",
                             api_key_secret=SECRET, bizra_workers=1, rpc_cors_origins=ORIGIN,
                             rate_limit_key_rps=0.001, rate_limit_key_burst=3)
    async with running_node(settings) as pair:
        yield pair


async def test_every_refusal_of_the_guard_is_readable(
        keyed: tuple[Node, httpx.AsyncClient]) -> None:
    node, client = keyed
    assert node.store is not None and node.security.ring is not None
    keys = {}
    for name, scopes in (("rpc", ("rpc",)), ("validate", ("validate",))):
        keys[name] = generate_key()
        await node.store.keys.create(name, KeyHasher(SECRET).hash(keys[name]), scopes)
    await node.security.ring.refresh()
    for body in (CALL, BATCH):  # the synchronous lane, then the full path
        resp = await post(client, body)
        assert resp.status_code == 401 and resp.json()["error"]["code"] == -32001
        readable(resp)
        resp = await post(client, body, **{"x-api-key": keys["validate"]})
        assert resp.status_code == 403
        readable(resp)
    answers = [await post(client, CALL, **{"x-api-key": keys["rpc"]}) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    readable(answers[-1])
    resp = await post(client, CALL, **{"x-api-key": keys["rpc"]})  # synchronous lane
    assert resp.status_code == 429 and resp.json()["error"]["code"] == -32005
    readable(resp)
    resp = await post(client, BATCH, **{"x-api-key": keys["rpc"]})  # full path
    assert resp.status_code == 429 and int(resp.headers["retry-after"]) >= 1
    readable(resp)
    resp = await post(client, CALL, origin="https://evil.example", **{"x-api-key": keys["rpc"]})
    assert resp.status_code == 429 and "access-control-allow-origin" not in resp.headers


async def test_other_error_answers_under_rpc_are_readable(devnet: Devnet) -> None:
    async with running_node(make_settings(devnet.url, rpc_cors_origins=ORIGIN)) as (_, client):
        resp = await client.get("/rpc", headers={"origin": ORIGIN})
        assert resp.status_code == 405
        readable(resp)
        resp = await client.post("/rpc/nope/deeper", json=CALL, headers={"origin": ORIGIN})
        assert resp.status_code == 404
        readable(resp)
        resp = await post(client, {"jsonrpc": "2.0", "id": 1, "method": "eth_nope"})
        assert resp.status_code == 200 and resp.json()["error"]["code"] == -32601
        readable(resp)
        # only /rpc has CORS (RPC_CORS_ORIGINS): the REST API is not opened to browsers
        resp = await client.get("/api/v1/blocks/x/y", headers={"origin": ORIGIN})
        assert "access-control-allow-origin" not in resp.headers


async def test_limiter_down_503_is_readable(devnet: Devnet) -> None:
    """RATE_LIMIT_ON_REDIS_DOWN=closed with Redis unreachable: 503 with Retry-After."""
    settings = make_settings(devnet.url, rpc_cors_origins="*",
                             redis_url=f"redis://127.0.0.1:{free_port()}",
                             rate_limit_rps=100.0, rate_limit_on_redis_down="closed",
                             rate_limit_redis_timeout=0.05)
    async with running_node(settings) as (_, client):
        resp = await post(client, BATCH, origin="http://localhost:3000")
    assert resp.status_code == 503 and "retry-after" in resp.headers
    assert resp.headers["access-control-allow-origin"] == "*"
    assert "retry-after" in resp.headers["access-control-expose-headers"]


class _Crashing:
    """A lifecycle whose /rpc handler has a bug: the 500 must be readable too."""

    websocket = None
    keepalive = None

    def __init__(self) -> None:
        async def bug(req: Request) -> Response:
            raise RuntimeError("a bug")

        self.dispatcher = Dispatcher([Route("/rpc", ("POST",), bug)], 1024,
                                     cors=CorsPolicy([ORIGIN]))

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


async def test_a_500_is_readable() -> None:
    transport = httpx.ASGITransport(app=ASGIApp(_Crashing()))
    async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
        resp = await post(client, CALL)
    assert resp.status_code == 500
    readable(resp)
