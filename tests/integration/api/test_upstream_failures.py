"""Upstream trouble gives a clear 503 (or valid:false with the reason); the node stays up."""

from __future__ import annotations

import asyncio

import httpx
import orjson
from aiohttp import web

from bizra_node.devnet import Anvil, free_port
from tests.conftest import make_settings, running_node
from tests.support.servers import scripted_upstream

TX_HASH = "0x" + "ab" * 32


def assert_unavailable(resp: httpx.Response) -> dict:
    assert resp.status_code == 503, resp.text
    body = resp.json()
    assert body["success"] is False
    assert body["error"]["code"] == "UPSTREAM_UNAVAILABLE"
    return dict(body["error"])


async def test_upstream_stopped_gives_503_and_health_stays_up() -> None:
    anvil = Anvil().start()
    async with running_node(make_settings(anvil.url, rpc_timeout=1.0)) as (_, client):
        ok = await client.post("/api/v1/validate/transaction", json={"txHash": TX_HASH})
        assert ok.status_code == 200
        anvil.stop()
        # questions the node has not answered before (answers it has are cached)
        assert_unavailable(await client.post("/api/v1/validate/transaction",
                                             json={"txHash": "0x" + "cd" * 32}))
        assert_unavailable(await client.post("/api/v1/validate/block", json={"blockNumber": 2}))
        assert (await client.get("/health")).status_code == 200
        ready = await client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["data"]["checks"]["upstream"]["ok"] is False


async def test_connection_refused() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with running_node(make_settings(url)) as (_, client):
        error = assert_unavailable(await client.post("/api/v1/validate/block",
                                                     json={"blockNumber": 1}))
        assert error["details"]["kind"] == "connect"


async def test_garbage_answer() -> None:
    async def garbage(request: web.Request) -> web.Response:
        return web.Response(body=b"<html>definitely not json", content_type="text/html")

    async with scripted_upstream(garbage) as url, running_node(make_settings(url)) as (_, client):
        error = assert_unavailable(await client.post("/api/v1/validate/transaction",
                                                     json={"txHash": TX_HASH}))
        assert error["details"]["kind"] == "malformed"


async def test_wrong_shape_answer() -> None:
    async def wrong(request: web.Request) -> web.Response:
        return web.json_response([{"jsonrpc": "2.0", "id": 0, "result": None}])

    async with scripted_upstream(wrong) as url, running_node(make_settings(url)) as (_, client):
        assert_unavailable(await client.post("/api/v1/validate/transaction",
                                             json={"txHash": TX_HASH}))


async def test_http_500() -> None:
    async def boom(request: web.Request) -> web.Response:
        return web.Response(status=500, text="internal")

    async with scripted_upstream(boom) as url, running_node(make_settings(url)) as (_, client):
        error = assert_unavailable(await client.get("/api/v1/validate/block-number"))
        assert error["details"]["kind"] == "http"


async def test_timeout() -> None:
    async def stall(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.json_response({})

    async with scripted_upstream(stall) as url, \
            running_node(make_settings(url, rpc_timeout=0.2, retry_attempts=1)) as (_, client):
        error = assert_unavailable(await client.get("/api/v1/validate/block-number"))
        assert error["details"]["kind"] == "timeout"


async def test_jsonrpc_error_object() -> None:
    async def rpc_error(request: web.Request) -> web.Response:
        doc = orjson.loads(await request.read())
        calls = doc if isinstance(doc, list) else [doc]
        answers = [{"jsonrpc": "2.0", "id": c["id"],
                    "error": {"code": -32000, "message": "header not found"}} for c in calls]
        return web.json_response(answers if isinstance(doc, list) else answers[0])

    async with scripted_upstream(rpc_error) as url, \
            running_node(make_settings(url)) as (_, client):
        error = assert_unavailable(await client.post("/api/v1/validate/address",
                                                     json={"address": "0x" + "11" * 20}))
        assert error["details"]["rpcCode"] == -32000


async def test_upstream_without_batches(devnet_url_no_batch: str) -> None:
    async with running_node(make_settings(devnet_url_no_batch)) as (_, client):
        resp = await client.post("/api/v1/validate/block", json={"blockNumber": 1})
        assert resp.status_code == 200
        assert resp.json()["data"]["valid"] is True
