"""Small real servers for tests: an upstream that answers whatever a test tells it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web

__all__ = ["scripted_upstream"]

Script = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def scripted_upstream(script: Script) -> AsyncIterator[str]:
    """An HTTP server on a free loopback port whose every POST is answered by
    ``script``; yields its URL."""
    app = web.Application()
    app.router.add_post("/", script)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
