"""A real counting JSON-RPC proxy: forwards every request to an upstream (anvil) and
counts round trips and methods, so tests can say how many upstream calls a
scenario cost without mocking anything."""

from __future__ import annotations

import asyncio
import json
import queue
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from .servers import scripted_upstream

__all__ = ["CountingProxy", "counting_proxy", "threaded_counting_proxy"]


@dataclass
class CountingProxy:
    url: str = ""
    round_trips: int = 0
    """HTTP requests that reached the upstream (a JSON-RPC batch is one)."""
    methods: Counter[str] = field(default_factory=Counter)
    """JSON-RPC calls by method (each call in a batch counts)."""
    fail_next: int = 0
    """Answer this many next requests with HTTP 502 instead of forwarding."""

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


@contextmanager
def threaded_counting_proxy(target: str) -> Iterator[CountingProxy]:
    """A counting proxy serving from a thread of its own (its own event loop), for
    callers that are other processes: it keeps answering while the test's loop is
    blocked or idle between tests."""
    ready: queue.Queue[CountingProxy | BaseException] = queue.Queue()
    stop: asyncio.Event | None = None
    loop: asyncio.AbstractEventLoop | None = None

    async def serve() -> None:
        nonlocal stop, loop
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        try:
            async with counting_proxy(target) as proxy:
                ready.put(proxy)
                await stop.wait()
        except BaseException as exc:
            ready.put(exc)
            raise

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    got = ready.get(timeout=10)
    if isinstance(got, BaseException):
        raise got
    try:
        yield got
    finally:
        assert loop is not None and stop is not None
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
