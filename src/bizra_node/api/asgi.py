"""Plain ASGI adapter (no framework): for ASGI servers and in-process tests."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .http import Request, pick_request_id
from .rsgi import DRAIN_LIMIT, Lifecycle

__all__ = ["ASGIApp"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
log = logging.getLogger("bizra_node.api")


class ASGIApp:
    def __init__(self, node: Lifecycle) -> None:
        self.node = node

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.node.start()
                except Exception as exc:
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.node.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        dispatcher = self.node.dispatcher
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        rid = pick_request_id(headers.get("x-request-id"))
        limit = dispatcher.max_body
        body = b""
        too_large = False
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            too_large = True
            if declared.isdigit() and int(declared) <= DRAIN_LIMIT:
                await _drain(receive)
        else:
            chunks: list[bytes] = []
            size = 0
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                more = message.get("more_body", False)
                if size > DRAIN_LIMIT:
                    break
                if size <= limit:
                    chunks.append(chunk)
            too_large = size > limit
            body = b"".join(chunks)
        if too_large:
            resp = dispatcher.too_large(limit, rid)
        else:
            req = Request(scope["method"], scope["path"],
                          scope.get("query_string", b"").decode("latin-1"), headers.get, body, rid)
            resp = dispatcher.answer_now(req) or await dispatcher.dispatch(req)
        out = [(b"content-type", resp.content_type.encode()), (b"x-request-id", rid.encode())]
        out.extend((k.encode("latin-1"), v.encode("latin-1")) for k, v in resp.headers)
        await send({"type": "http.response.start", "status": resp.status, "headers": out})
        await send({"type": "http.response.body", "body": resp.body})


async def _drain(receive: Receive) -> None:
    """Read and drop a body we will not use (see DRAIN_LIMIT)."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
