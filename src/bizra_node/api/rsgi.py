"""granian RSGI adapter: the fastest interface measured on this machine (see bench api)."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from .core import Dispatcher
from .http import Request, pick_request_id

__all__ = ["RSGIApp"]

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Lifecycle(Protocol):
    dispatcher: Dispatcher

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class RSGIApp:
    def __init__(self, node: Lifecycle) -> None:
        self.node = node

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.run_until_complete(self.node.start())

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.run_until_complete(self.node.stop())

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        if scope.proto != "http":
            return
        dispatcher = self.node.dispatcher
        headers = scope.headers
        rid = pick_request_id(headers.get("x-request-id"))
        body = b""
        if scope.method in _BODY_METHODS:
            body_or_none = await _read_body(proto, headers.get("content-length"),
                                            dispatcher.max_body)
            if body_or_none is None:
                resp = dispatcher.too_large(dispatcher.max_body, rid)
                proto.response_bytes(resp.status, [("content-type", resp.content_type),
                                                   ("x-request-id", rid),
                                                   ("connection", "close")], resp.body)
                return
            body = body_or_none
        req = Request(scope.method, scope.path, scope.query_string, headers.get, body, rid)
        resp = dispatcher.answer_now(req) or await dispatcher.dispatch(req)
        out = [("content-type", resp.content_type), ("x-request-id", rid)]
        if resp.headers:
            out.extend(resp.headers)
        proto.response_bytes(resp.status, out, resp.body)


DRAIN_LIMIT = 1 << 20
"""An over-limit body up to this size is read and dropped before answering, so the client
finishes sending and reads the 400 instead of a connection reset. Larger: answer, close."""


async def _read_body(proto: Any, content_length: str | None, limit: int) -> bytes | None:
    """The body, or None when it is larger than ``limit``."""
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            return None
        if declared > limit:
            if declared <= DRAIN_LIMIT:
                async for _ in proto:
                    pass
            return None
        body: bytes = await proto()
        return body if len(body) <= limit else None
    chunks: list[bytes] = []
    size = 0
    async for chunk in proto:
        size += len(chunk)
        if size > DRAIN_LIMIT:
            return None
        if size <= limit:
            chunks.append(chunk)
    return b"".join(chunks) if size <= limit else None
