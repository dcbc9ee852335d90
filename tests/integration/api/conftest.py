from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import Devnet
from tests.support.servers import scripted_upstream


@pytest.fixture
async def devnet_url_no_batch(devnet: Devnet) -> AsyncIterator[str]:
    """A real forwarding server in front of anvil that refuses JSON-RPC batches, as some
    providers do; single calls go through to anvil."""
    async with aiohttp.ClientSession() as session:
        async def forward(request: web.Request) -> web.Response:
            body = await request.read()
            if body.lstrip().startswith(b"["):
                return web.json_response({"jsonrpc": "2.0", "id": None, "error": {
                    "code": -32600, "message": "batch requests are not supported"}})
            async with session.post(devnet.url, data=body,
                                    headers={"Content-Type": "application/json"}) as resp:
                return web.Response(body=await resp.read(), content_type="application/json")

        async with scripted_upstream(forward) as url:
            yield url
