"""The WebSocket endpoint (``ws://<node>/rpc``): JSON-RPC calls, ``eth_subscribe`` /
``eth_unsubscribe`` and their notifications on one connection.

Interface-neutral: the RSGI and ASGI adapters accept the socket and hand
:meth:`WebSocketEndpoint.serve` a ``receive`` (the next message, None when the client
closed) and a ``send`` (one text message). Everything the client is sent -- answers
and notifications -- goes through one bounded queue (WS_CLIENT_BUFFER messages) that
one writer task drains; notifications are pushed into it without waiting. A client
that lets the queue fill up (it reads slower than its subscriptions produce) is
dropped: its subscriptions end and the socket is closed with 1013 ("try again
later"; a client whose socket is full may see the connection end without it). The
node never waits for a slow client.

Calls on one connection are answered concurrently (up to ``_CONCURRENCY`` at a time,
each under REQUEST_DEADLINE) and may be answered out of order, as JSON-RPC allows;
the answer to an ``eth_subscribe`` is always sent before its first notification.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..jsonrpc import RpcLimits
from ..resilience import enter_deadline, exit_deadline
from ..validation import SubscriptionHub
from .rpc import RpcAnswerer, error_bytes, parse_rpc

__all__ = ["CLOSE_NORMAL", "CLOSE_TOO_SLOW", "RpcSocket", "WebSocketEndpoint"]

log = logging.getLogger("bizra_node.api")

CLOSE_NORMAL = 1000
CLOSE_TOO_SLOW = 1013
"""Close code for a client dropped because its buffer filled ("try again later")."""
_CONCURRENCY = 16

Receive = Callable[[], Awaitable["str | bytes | None"]]
Send = Callable[[str], Awaitable[None]]


async def _closed(_message: str) -> None:
    """What a released socket sends with: nothing."""


class RpcSocket:
    """One client connection."""

    def __init__(self, answerer: RpcAnswerer, hub: SubscriptionHub, limits: RpcLimits,
                 send: Send, *, deadline: float | None) -> None:
        self._answerer = answerer
        self._hub = hub
        self._limits = limits
        self._send = send
        self._deadline = deadline
        self._queue: asyncio.Queue[str] = asyncio.Queue(limits.ws_buffer)
        self._writer: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(_CONCURRENCY)
        self._calls: set[asyncio.Task[None]] = set()
        self.dropped = False
        """True once the client was dropped for reading too slowly."""

    # --- what the hub calls ------------------------------------------------------------
    def push(self, message: str) -> bool:
        if self.dropped:
            return False
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self.dropped = True
            if self._writer is not None:
                self._writer.cancel()  # serve() sees the writer end and closes
            return False
        return True

    # --- the connection ---------------------------------------------------------------
    async def serve(self, receive: Receive) -> int:
        """Run until the client closes or is dropped; the close code to send."""
        self._writer = asyncio.get_running_loop().create_task(self._write())
        reader = asyncio.get_running_loop().create_task(self._read(receive))
        writer = self._writer
        try:
            await asyncio.wait((writer, reader), return_when=asyncio.FIRST_COMPLETED)
        finally:
            tasks = (reader, writer, *self._calls)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._hub.drop(self)
            self._release()
        return CLOSE_TOO_SLOW if self.dropped else CLOSE_NORMAL

    def _release(self) -> None:
        """Let go of the tasks and the transport now. A cancelled task keeps its
        CancelledError, whose traceback holds the task's frame, which holds this socket,
        which held the task: a cycle only the cyclic garbage collector frees, and a quiet
        worker may not run it for minutes. Under RSGI the transport (granian's receiving
        half, so the socket and its fd) lived as long (200 clean closes: 200 sockets in
        CLOSE-WAIT 60 s later)."""
        self._writer = None
        self._calls.clear()
        self._send = _closed
        while not self._queue.empty():
            self._queue.get_nowait()

    async def _write(self) -> None:
        queue, send = self._queue, self._send
        while True:
            await send(await queue.get())

    async def _read(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message is None:
                return
            await self._slots.acquire()
            task = asyncio.get_running_loop().create_task(self._handle(message))
            self._calls.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._calls.discard(task)
        self._slots.release()
        if not task.cancelled() and task.exception() is not None:
            log.error("websocket call failed", exc_info=task.exception())

    async def _handle(self, message: str | bytes) -> None:
        if len(message) > self._limits.max_body:
            self.push(error_bytes(None, -32600, f"message too large: at most "
                                  f"{self._limits.max_body} bytes").decode())
            return
        activate: list[str] = []
        token = enter_deadline(self._deadline) if self._deadline is not None else None
        try:
            answer = await self._answerer.answer(parse_rpc(message),
                                                 {"eth_subscribe": self._subscriber(activate),
                                                  "eth_unsubscribe": self._unsubscribe})
        finally:
            if token is not None:
                exit_deadline(token)
        if answer is not None:
            self.push(answer.decode())
        for sub_id in activate:  # after the answer, so it precedes every notification
            self._hub.activate(sub_id)

    # --- local methods ---------------------------------------------------------------
    def _subscriber(self, activate: list[str]) -> Callable[[list[Any]], Awaitable[Any]]:
        async def subscribe(params: list[Any]) -> Any:
            result = await self._hub.subscribe(self, params)
            if isinstance(result, str):
                activate.append(result)
            return result
        return subscribe

    async def _unsubscribe(self, params: list[Any]) -> Any:
        return await self._hub.unsubscribe(self, params[0] if params else None)


class WebSocketEndpoint:
    """What the adapters call for a WebSocket request."""

    PATHS = frozenset({"/rpc", "/rpc/"})

    def __init__(self, answerer: RpcAnswerer, hub: SubscriptionHub, *,
                 deadline: float | None = None) -> None:
        self.answerer = answerer
        self.hub = hub
        self.limits = answerer.limits
        self.deadline = deadline
        self.connections = 0

    def accepts(self, path: str) -> bool:
        return path in self.PATHS

    async def serve(self, receive: Receive, send: Send) -> int:
        """Serve one accepted connection; the close code to send."""
        socket = RpcSocket(self.answerer, self.hub, self.limits, send, deadline=self.deadline)
        self.connections += 1
        try:
            return await socket.serve(receive)
        finally:
            self.connections -= 1

