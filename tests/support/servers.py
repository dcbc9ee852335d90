"""Small real servers for tests: an upstream that answers whatever a test tells it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
from aiohttp import web

__all__ = ["http_to_asgi", "scripted_upstream", "serving"]

Script = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def scripted_upstream(script: Script) -> AsyncIterator[str]:
    """An HTTP server on a free loopback port whose every POST is answered by
    ``script``; yields its URL."""
    app = web.Application()
    app.router.add_post("/", script)
    async with serving(app) as port:
        yield f"http://127.0.0.1:{port}"


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[int]:
    """``app`` served on a free loopback port (yielded) until the block ends."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr,no-any-return]
    finally:
        await runner.cleanup()


@asynccontextmanager
async def http_to_asgi(client: httpx.AsyncClient, path: str = "/rpc") -> AsyncIterator[str]:
    """A loopback HTTP URL whose POSTs go to ``path`` of the in-process app behind
    ``client`` (httpx.ASGITransport), for clients that need a real URL (web3.py)."""

    async def relay(request: web.Request) -> web.StreamResponse:
        resp = await client.post(path, content=await request.read(),
                                 headers={"content-type": "application/json"})
        return web.Response(body=resp.content, status=resp.status_code,
                            content_type="application/json")

    async with scripted_upstream(relay) as url:
        yield url
