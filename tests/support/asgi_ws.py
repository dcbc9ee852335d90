"""A WebSocket client that drives an ASGI app in process (what httpx's ASGITransport
is for HTTP): the node's own code end to end, without a server. ``read_buffer`` bounds
what the client holds unread, so a test can play a client that stops reading."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson

__all__ = ["AsgiWebSocket", "asgi_websocket"]


class AsgiWebSocket:
    def __init__(self, read_buffer: int = 0) -> None:
        self.to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue(read_buffer)
        self.closed: int | None = None
        """The close code the app sent, once it closed the socket."""

    async def send(self, doc: Any) -> None:
        await self.to_app.put({"type": "websocket.receive", "text": orjson.dumps(doc).decode()})

    async def send_text(self, text: str) -> None:
        await self.to_app.put({"type": "websocket.receive", "text": text})

    async def recv(self, timeout: float = 5.0) -> Any:
        """The next message from the app, decoded (TimeoutError when none comes)."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self.from_app.get()
                if message["type"] == "websocket.send":
                    return orjson.loads(message["text"])
                if message["type"] == "websocket.close":
                    self.closed = int(message.get("code", 1000))
                    raise ConnectionError(f"closed by the node with {self.closed}")

    async def call(self, method: str, params: list[Any] | None = None, req_id: Any = 1) -> Any:
        """Send one call and return its answer (notifications met first are skipped)."""
        await self.send({"jsonrpc": "2.0", "id": req_id, "method": method, "params": params or []})
        while True:
            doc = await self.recv()
            if isinstance(doc, dict) and doc.get("id") == req_id and "method" not in doc:
                return doc


@asynccontextmanager
async def asgi_websocket(app: Any, path: str = "/rpc", read_buffer: int = 0,
                         headers: dict[str, str] | None = None, query: str = "",
                         ) -> AsyncIterator[AsgiWebSocket]:
    """Connect; ConnectionRefusedError (with the close or the HTTP answer) when the app
    refuses the upgrade."""
    ws = AsgiWebSocket(read_buffer)
    raw = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {"type": "websocket", "path": path, "headers": raw, "query_string": query.encode(),
             "client": ("127.0.0.1", 50000), "extensions": {"websocket.http.response": {}}}
    task = asyncio.get_running_loop().create_task(app(scope, ws.to_app.get, ws.from_app.put))
    await ws.to_app.put({"type": "websocket.connect"})
    first = await asyncio.wait_for(ws.from_app.get(), 5)
    if first["type"] != "websocket.accept":
        answer: dict[str, Any] = {"type": first["type"]}
        if first["type"] == "websocket.http.response.start":  # an HTTP answer to the upgrade
            body = await asyncio.wait_for(ws.from_app.get(), 5)
            answer.update(status=first["status"], headers=first["headers"],
                          body=body.get("body", b""))
        else:
            answer.update(code=first.get("code"), reason=first.get("reason"))
        task.cancel()
        raise ConnectionRefusedError(f"not accepted: {answer}", answer)
    try:
        yield ws
    finally:
        await ws.to_app.put({"type": "websocket.disconnect", "code": 1000})
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
        if not task.done():
            task.cancel()
