"""granian RSGI adapter: the fastest interface measured on this machine (see bench api).

HTTP requests go to the dispatcher; WebSocket requests (``scope.proto == "ws"``) to
the node's WebSocket endpoint (api/ws.py), on /rpc only.

Reading the body is where a client can hold a request: it is bounded by the route's
size limit (body.py) and by HTTP_BODY_TIMEOUT (body_timeout.py; a 408 and the
connection closed). A client that goes away mid-body (granian's ProtocolClosed) is
counted (status 499) and forgotten: there is nobody to answer, and nothing to log at
error level. (A chunked body cut short cannot be told from a shorter one: granian's
body iterator ends either way; it is answered like any malformed body, to nobody.)
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from granian.rsgi import ProtocolClosed  # type: ignore[attr-defined]  # re-exported

from .body import BodyBuffer, Declared, declared_length
from .core import Dispatcher
from .http import Request, Response, pick_request_id
from .keepalive import Keepalive, keep_listeners_alive
from .ws import WebSocketEndpoint, WebSocketRoutes, missing_status
from .ws_guard import WsRefusal

__all__ = ["Lifecycle", "RSGIApp"]

log = logging.getLogger("bizra_node.api")

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Lifecycle(Protocol):
    dispatcher: Dispatcher
    websocket: WebSocketEndpoint | WebSocketRoutes | None
    keepalive: Keepalive | None
    """TCP keepalive for the server's connections (set once serving, keepalive.py)."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class RSGIApp:
    def __init__(self, node: Lifecycle) -> None:
        self.node = node
        self._arming: asyncio.Task[int] | None = None

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.run_until_complete(self.node.start())
        if self.node.keepalive is not None:  # once granian has made its listening socket
            self._arming = loop.create_task(keep_listeners_alive(self.node.keepalive))

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._arming is not None:
            self._arming.cancel()
        loop.run_until_complete(self.node.stop())

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        if scope.proto != "http":
            if scope.proto == "ws":
                await _websocket(self.node.websocket, scope, proto)
            return
        dispatcher = self.node.dispatcher
        headers = scope.headers
        rid = pick_request_id(headers.get("x-request-id"))
        req = Request(scope.method, scope.path, scope.query_string, headers.get, b"", rid,
                      client=scope.client, has_header=headers.__contains__,
                      header_all=headers.get_all)
        if scope.method in _BODY_METHODS:
            route = dispatcher.route(req)
            timeouts = dispatcher.body_timeouts
            task = timeouts.begin()
            try:
                body = await _read_body(proto, headers.get("content-length"),
                                        dispatcher.body_limit(route))
            except asyncio.CancelledError:
                if not timeouts.expired(task):
                    raise
                _send(proto, _cors(dispatcher, req, dispatcher.timed_out(route, rid)), rid,
                      close=True)
                return
            except ProtocolClosed:  # the client went away mid-body
                dispatcher.gone(route)
                return
            finally:
                timeouts.end(task)
            if body is None:
                _send(proto, _cors(dispatcher, req, dispatcher.too_large(route, rid)), rid,
                      close=True)
                return
            req.body = body
        try:
            resp = dispatcher.answer_now(req) or await dispatcher.dispatch(req)
        except Exception:  # dispatch answers every error itself: this is a bug, say so
            log.exception("request failed outside the dispatcher")
            resp = dispatcher.crashed(rid)
        cors = dispatcher.cors
        if cors is not None:
            cors.add(req, resp)
        _send(proto, resp, rid)


def _cors(dispatcher: Dispatcher, req: Request, resp: Response) -> Response:
    if dispatcher.cors is not None:
        dispatcher.cors.add(req, resp)
    return resp


async def _websocket(endpoints: WebSocketEndpoint | WebSocketRoutes | None, scope: Any,
                     proto: Any) -> None:
    endpoint = endpoints.route(scope.path) if endpoints is not None else None
    if endpoint is None:  # before accept: the handshake is answered with this HTTP status
        proto.close(missing_status(endpoints, scope.path))
        return
    headers = scope.headers
    caller = await endpoint.upgrade(headers.get, scope.query_string, scope.client,
                                    has_header=headers.__contains__,
                                    header_all=headers.get_all)
    if isinstance(caller, WsRefusal):
        proto.close(caller.status)  # granian answers the handshake with this status
        return
    transport = await proto.accept()

    async def receive() -> str | bytes | None:
        try:
            message = await transport.receive()
        except Exception:  # RSGIProtocolClosed: the client is gone
            return None
        return None if message.kind == 0 else message.data  # type: ignore[no-any-return]

    code, _reason = await endpoint.serve(receive, transport.send_str, caller)
    proto.close(code)  # (granian 2.8 sends no status once accepted: the client sees 1005)


def _send(proto: Any, resp: Response, rid: str, close: bool = False) -> None:
    out = [("content-type", resp.content_type), ("x-request-id", rid)]
    if resp.headers:
        out.extend(resp.headers)
    if close:
        out.append(("connection", "close"))
    proto.response_bytes(resp.status, out, resp.body)


async def _read_body(proto: Any, content_length: str | None, limit: int) -> bytes | None:
    """The body, or None when it is larger than ``limit`` (see body.py)."""
    verdict = declared_length(content_length, limit)
    if verdict is Declared.REFUSE:
        return None
    if verdict is Declared.DRAIN:
        async for _ in proto:
            pass
        return None
    if content_length is not None:
        body: bytes = await proto()
        return body if len(body) <= limit else None
    buffer = BodyBuffer(limit)
    async for chunk in proto:
        if not buffer.add(chunk):
            return None
    return None if buffer.too_large else buffer.body()
