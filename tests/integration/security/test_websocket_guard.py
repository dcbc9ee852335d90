"""The WebSocket guard in process (ASGI adapter, real PostgreSQL for the keys, no Redis):
the upgrade's HTTP refusals with their fields, refused messages answered per call with
their ids, a key revoked without Redis closing its socket at the ring's next refresh
(API_KEYS_REFRESH), and the anonymous limit per address. The same over real sockets
and both server interfaces: tests/e2e/test_websocket_guard.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bizra_node.api import ASGIApp
from bizra_node.app import Node
from bizra_node.security import KeyHasher, generate_key
from tests.conftest import Devnet, make_settings, running_node
from tests.integration.security.conftest import SECRET
from tests.support.asgi_ws import asgi_websocket


@pytest.fixture
async def node(devnet: Devnet, pg_dsn: str, tmp_path: Path) -> AsyncIterator[Node]:
    settings = make_settings(devnet.url, db_enabled=True, database_url=pg_dsn,
                             data_dir=str(tmp_path), api_keys_mode="required",
                             api_key_secret=SECRET, api_keys_refresh=0.3, bizra_workers=1,
                             rpc_cors_origins="https://app.example",
                             rate_limit_key_rps=1000.0, rate_limit_key_burst=1000)
    async with running_node(settings) as (node, _):
        yield node


async def new_key(node: Node, name: str, scopes: tuple[str, ...] = ("rpc",),
                  **kw: object) -> str:
    key = generate_key()
    assert node.store is not None and node.security.ring is not None
    await node.store.keys.create(name, KeyHasher(SECRET).hash(key), scopes, **kw)  # type: ignore[arg-type]
    await node.security.ring.refresh()
    return key


async def refused(node: Node, **kw: object) -> dict[str, object]:
    with pytest.raises(ConnectionRefusedError) as info:
        async with asgi_websocket(ASGIApp(node), **kw):  # type: ignore[arg-type]
            pass
    return info.value.args[1]  # type: ignore[no-any-return]


async def test_upgrade_refusals_are_http_answers_with_their_fields(node: Node) -> None:
    answer = await refused(node)
    assert answer["status"] == 401
    fields = dict(answer["headers"])  # type: ignore[arg-type]
    assert fields[b"www-authenticate"].startswith(b"Bearer")
    assert b'"code":-32001' in answer["body"]  # type: ignore[operator]
    validate_only = await new_key(node, "v", ("validate",))
    assert (await refused(node, headers={"x-api-key": validate_only}))["status"] == 403
    key = await new_key(node, "k")
    answer = await refused(node, headers={"x-api-key": key, "origin": "https://evil.example"})
    assert answer["status"] == 403
    async with asgi_websocket(ASGIApp(node), query=f"api_key={key}",
                              headers={"origin": "https://app.example"}) as ws:
        assert (await ws.call("eth_chainId"))["result"] == "0x7a69"


async def test_refused_messages_answer_each_call_with_its_id(node: Node) -> None:
    key = await new_key(node, "metered", rate=0.001, burst=4)
    async with asgi_websocket(ASGIApp(node), headers={"authorization": f"Bearer {key}"}) as ws:
        assert (await ws.call("eth_chainId", req_id="a"))["result"] == "0x7a69"  # 2 of 4
        await ws.send([{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},
                       {"jsonrpc": "2.0", "method": "eth_chainId"},  # a notification
                       {"jsonrpc": "2.0", "id": "x", "method": "eth_chainId"}])
        batch = await ws.recv()
        assert [a["id"] for a in batch] == [1, "x"]
        assert {a["error"]["code"] for a in batch} == {-32005}
        assert batch[0]["error"]["data"]["reason"] == "rate_limited"
        answer = await ws.call("eth_getLogs", [{}], req_id=9)  # costs 10: never fits
        assert answer["error"]["code"] == -32005
        assert answer["error"]["data"]["reason"] == "cost_exceeds_burst"
        assert ws.closed is None


async def test_a_key_revoked_without_redis_closes_its_socket_at_the_next_refresh(
        node: Node) -> None:
    key = await new_key(node, "sub")
    async with asgi_websocket(ASGIApp(node), headers={"x-api-key": key}) as ws:
        assert "result" in await ws.call("eth_subscribe", ["newHeads"])
        assert node.store is not None
        await node.store.keys.revoke("sub")
        start = time.monotonic()
        with pytest.raises(ConnectionError, match="1008"):
            async with asyncio.timeout(5):
                while True:
                    await ws.recv()
        took = time.monotonic() - start
        assert took < 0.3 + 1.5, took  # API_KEYS_REFRESH, with room
    assert node.hub.clients == 0


async def test_anonymous_sockets_pay_their_address_limit(devnet: Devnet) -> None:
    settings = make_settings(devnet.url, rate_limit_rps=0.001, rate_limit_burst=3,
                             bizra_workers=1)
    async with running_node(settings) as (node, _):
        async with asgi_websocket(ASGIApp(node)) as ws:  # the upgrade: 1 unit
            assert "result" in await ws.call("eth_chainId", req_id=1)
            assert "result" in await ws.call("eth_chainId", req_id=2)
            assert (await ws.call("eth_chainId", req_id=3))["error"]["code"] == -32005
        answer = await refused(node)  # the upgrade itself: over the limit
        assert answer["status"] == 429
        assert dict(answer["headers"])[b"retry-after"]  # type: ignore[arg-type]
