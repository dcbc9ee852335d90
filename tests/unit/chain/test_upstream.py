"""Upstream: a node that refuses batches gets concurrent single calls, and one failing
call does not leave its siblings running."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson
import pytest
from aiohttp import web

from bizra_node.chain.upstream import Upstream
from bizra_node.errors import UpstreamError
from bizra_node.jsonrpc import Call
from tests.support.servers import scripted_upstream


async def test_single_calls_when_batches_are_refused_and_no_orphans_on_failure() -> None:
    release = asyncio.Event()
    seen: list[str] = []

    async def no_batches(request: web.Request) -> web.StreamResponse:
        doc = orjson.loads(await request.read())
        if isinstance(doc, list):
            return web.json_response({"jsonrpc": "2.0", "id": None,
                                      "error": {"code": -32600, "message": "no batches"}})
        seen.append(doc["method"])
        if doc["method"] == "eth_chainId":
            return web.json_response({"jsonrpc": "2.0", "id": doc["id"], "result": "0x7a69"})
        if doc["method"] == "eth_gasPrice":
            return web.Response(status=500)
        await release.wait()  # eth_blockNumber: hangs until the test ends
        return web.json_response({"jsonrpc": "2.0", "id": doc["id"], "result": "0x1"})

    async with scripted_upstream(no_batches) as url, aiohttp.ClientSession() as session:
        up = Upstream(url, session, timeout=5, connect_timeout=1)
        assert await up.batch([Call("eth_chainId"), Call("eth_chainId")]) == ["0x7a69", "0x7a69"]
        assert up.supports_batch is False
        before = asyncio.all_tasks()
        with pytest.raises(UpstreamError) as info:
            await up.batch([Call("eth_blockNumber"), Call("eth_gasPrice")])
        assert info.value.kind == "http"
        leftover = {t for t in asyncio.all_tasks() - before
                    if not t.done() and "RequestHandler" not in t.get_coro().__qualname__}  # type: ignore[union-attr]
        assert leftover == set()
        release.set()
