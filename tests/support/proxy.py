"""A real counting JSON-RPC proxy: forwards every request to an upstream (anvil) and
counts round trips and methods, so tests can say how many upstream calls a
scenario cost without mocking anything."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from .servers import scripted_upstream

__all__ = ["CountingProxy", "counting_proxy"]


@dataclass
class CountingProxy:
    url: str = ""
    round_trips: int = 0
    """HTTP requests that reached the upstream (a JSON-RPC batch is one)."""
    methods: Counter[str] = field(default_factory=Counter)
    """JSON-RPC calls by method (each call in a batch counts)."""
    fail_next: int = 0
    """Answer this many next requests with HTTP 502 instead of forwarding."""
    delay: float = 0.0
    """Seconds to wait before forwarding each request (a slower upstream)."""

    def reset(self) -> None:
        self.round_trips = 0
        self.methods.clear()


@asynccontextmanager
async def counting_proxy(target: str) -> AsyncIterator[CountingProxy]:
    proxy = CountingProxy()
    session = aiohttp.ClientSession()

    async def forward(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        proxy.round_trips += 1
        try:
            doc = json.loads(body)
        except ValueError:
            doc = []
        for call in doc if isinstance(doc, list) else [doc]:
            if isinstance(call, dict):
                proxy.methods[str(call.get("method"))] += 1
        if proxy.delay:
            await asyncio.sleep(proxy.delay)
        if proxy.fail_next > 0:
            proxy.fail_next -= 1
            return web.Response(status=502, text="injected failure")
        async with session.post(target, data=body,
                                headers={"content-type": "application/json"}) as resp:
            data = await resp.read()
            return web.Response(body=data, status=resp.status, content_type="application/json")

    try:
        async with scripted_upstream(forward) as url:
            proxy.url = url
            yield proxy
    finally:
        await session.close()
