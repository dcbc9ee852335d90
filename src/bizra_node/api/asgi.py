"""Plain ASGI adapter (no framework): for ASGI servers and in-process tests.

It serves the WebSocket endpoint too (``scope["type"] == "websocket"``, /rpc only),
with the same code as the RSGI adapter (api/ws.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .body import BodyBuffer, Declared, declared_length
from .http import Request, Response, pick_request_id
from .keepalive import keep_listeners_alive
from .rsgi import Lifecycle
from .ws import missing_status
from .ws_guard import WsRefusal

__all__ = ["ASGIApp"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
log = logging.getLogger("bizra_node.api")


class ASGIApp:
    def __init__(self, node: Lifecycle) -> None:
        self.node = node
        self._arming: asyncio.Task[int] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoints = self.node.websocket
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        endpoint = endpoints.route(scope["path"]) if endpoints is not None else None
        if endpoint is None:
            if missing_status(endpoints, scope["path"]) == 400:  # a network not served
                await _deny(scope, send, WsRefusal(400, "this node does not serve that "
                                                        "network"))
                return
            await send({"type": "websocket.close", "code": 1008})  # before accept: 403
            return
        raw = scope.get("headers") or []
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in reversed(raw)}
        peer = scope.get("client")
        caller = await endpoint.upgrade(
            headers.get, scope.get("query_string", b"").decode("latin-1"),
            f"{peer[0]}:{peer[1]}" if peer else "", header_all=_Lines(raw))
        if isinstance(caller, WsRefusal):
            await _deny(scope, send, caller)
            return
        await send({"type": "websocket.accept"})

        async def next_message() -> str | bytes | None:
            message = await receive()
            if message["type"] != "websocket.receive":
                return None
            text = message.get("text")
            return text if text is not None else message.get("bytes")

        async def send_text(text: str) -> None:
            await send({"type": "websocket.send", "text": text})

        code, reason = await endpoint.serve(next_message, send_text, caller)
        try:  # bounded: a client that stopped reading may never take the close frame
            async with asyncio.timeout(1.0):
                await send({"type": "websocket.close", "code": code, "reason": reason})
        except Exception:  # the client is gone already
            log.debug("websocket close after disconnect", exc_info=True)

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
                if self.node.keepalive is not None:  # a server's: its listening socket
                    self._arming = asyncio.get_running_loop().create_task(
                        keep_listeners_alive(self.node.keepalive))
            elif message["type"] == "lifespan.shutdown":
                if self._arming is not None:
                    self._arming.cancel()
                await self.node.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        dispatcher = self.node.dispatcher
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        rid = pick_request_id(headers.get("x-request-id"))
        peer = scope.get("client")
        req = Request(scope["method"], scope["path"],
                      scope.get("query_string", b"").decode("latin-1"), headers.get, b"", rid,
                      client=f"{peer[0]}:{peer[1]}" if peer else "", has_header=headers.__contains__,
                      header_all=_Lines(scope["headers"]))
        route = dispatcher.route(req)
        timeouts = dispatcher.body_timeouts
        task = timeouts.begin()
        try:
            read = await _read_body(receive, headers.get("content-length"),
                                    dispatcher.body_limit(route))
        except asyncio.CancelledError:
            if not timeouts.expired(task):
                raise
            resp = dispatcher.timed_out(route, rid)
            if dispatcher.cors is not None:
                dispatcher.cors.add(req, resp)
            await _send(send, resp, rid, close=True)
            return
        finally:
            timeouts.end(task)
        if read is _GONE:
            dispatcher.gone(route)
            return
        if read is None:
            resp = dispatcher.too_large(route, rid)
        else:
            req.body = read
            try:
                resp = dispatcher.answer_now(req) or await dispatcher.dispatch(req)
            except Exception:  # dispatch answers every error itself: this is a bug
                log.exception("request failed outside the dispatcher")
                resp = dispatcher.crashed(rid)
        if dispatcher.cors is not None:
            dispatcher.cors.add(req, resp)
        await _send(send, resp, rid)


async def _deny(scope: Scope, send: Send, refusal: WsRefusal) -> None:
    """Refuse an upgrade: an HTTP answer with its status, fields and body where the server
    offers the ASGI denial response extension (granian does), else a close before the
    accept (which servers answer with 403) carrying the code and reason."""
    if "websocket.http.response" in (scope.get("extensions") or {}):
        out = [(b"content-type", b"application/json")]
        out.extend((k.encode("latin-1"), v.encode("latin-1")) for k, v in refusal.headers)
        await send({"type": "websocket.http.response.start", "status": refusal.status,
                    "headers": out})
        await send({"type": "websocket.http.response.body", "body": refusal.body})
        return
    await send({"type": "websocket.close", "code": refusal.code, "reason": refusal.reason})


class _Lines:
    """``Request.header_all`` over the raw ASGI header list (the dict above keeps one
    line per name): every line of a name, in order."""

    __slots__ = ("_raw",)

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._raw = raw

    def __call__(self, name: str) -> list[str]:
        key = name.encode("latin-1")
        return [v.decode("latin-1") for k, v in self._raw if k.lower() == key]


_GONE = b"\0gone"
"""What _read_body returns when the client disconnected mid-body."""


async def _read_body(receive: Receive, content_length: str | None, limit: int) -> bytes | None:
    """The body; None when it is over ``limit`` (drained up to DRAIN_LIMIT); _GONE when
    the client went away."""
    verdict = declared_length(content_length, limit)
    if verdict is not Declared.READ:
        if verdict is Declared.DRAIN:
            await _drain(receive)
        return None
    buffer = BodyBuffer(limit)
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return _GONE
        more = message.get("more_body", False)
        if not buffer.add(message.get("body", b"")):
            break
    return None if buffer.too_large else buffer.body()


async def _send(send: Send, resp: Response, rid: str, close: bool = False) -> None:
    out = [(b"content-type", resp.content_type.encode()), (b"x-request-id", rid.encode())]
    out.extend((k.encode("latin-1"), v.encode("latin-1")) for k, v in resp.headers)
    if close:
        out.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": resp.status, "headers": out})
    await send({"type": "http.response.body", "body": resp.body})


async def _drain(receive: Receive) -> None:
    """Read and drop a body we will not use (see body.DRAIN_LIMIT)."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
