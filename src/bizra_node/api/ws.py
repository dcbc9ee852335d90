"""The WebSocket endpoint (``ws://<node>/rpc``): JSON-RPC calls, ``eth_subscribe`` /
``eth_unsubscribe`` and their notifications on one connection.

Interface-neutral: the RSGI and ASGI adapters ask :meth:`WebSocketEndpoint.upgrade`
whether to accept a connection (its Origin, its key, its rate limit: ws_guard.py),
answer a refusal before the upgrade, accept the others and hand
:meth:`WebSocketEndpoint.serve` a ``receive`` (the next message, None when the client
closed) and a ``send`` (one text message). Every message passes the guard before it is
answered (ws_guard.py).

Everything the client is sent -- answers and notifications -- goes through one
bounded queue (Tuning.ws_client_buffer messages, 1 024) that one writer task drains; notifications
are pushed into it without waiting. A client that lets the queue fill up (it reads
slower than its subscriptions produce) is dropped: its subscriptions end and the
socket is closed with 1013 ("try again later"; a client whose socket is full may see
the connection end without it). The node never waits for a slow client. A connection
the guard ends (its key revoked) is closed with 1008 after what was queued for it
(at most a second later).

Close codes reach the client under the ASGI interface; granian's RSGI transport (2.8)
closes an accepted socket without a status whatever the application asks, so there
the client sees 1005 (no status). Refusals before the upgrade are HTTP statuses on both.

Calls on one connection are answered concurrently (up to ``_CONCURRENCY`` at a time,
each under REQUEST_DEADLINE) and may be answered out of order, as JSON-RPC allows;
the answer to an ``eth_subscribe`` is always sent before its first notification.

When a connection ends, everything it held goes at once (tasks, queue, subscriptions,
the transport): nothing waits for the cyclic garbage collector (see ``_release``).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, Final

import msgspec

from ..errors import NodeError
from ..jsonrpc import RpcLimits
from ..resilience import enter_deadline, exit_deadline
from ..validation import SubscriptionHub
from .guard import DEFER
from .rpc import RpcAnswerer, Single, error_bytes, parse_rpc
from .ws_guard import CLOSE_POLICY, Caller, SocketGuard, WsRefusal, closes

__all__ = ["CLOSE_NORMAL", "CLOSE_POLICY", "CLOSE_TOO_SLOW", "Closing", "RpcSocket",
           "WebSocketEndpoint", "WebSocketRoutes", "missing_status"]

log = logging.getLogger("bizra_node.api")

CLOSE_NORMAL = 1000
CLOSE_TOO_SLOW = 1013
"""Close code for a client dropped because its buffer filled ("try again later")."""
_CONCURRENCY = 16
_CLOSE_GRACE: Final = 1.0
"""Seconds a connection the guard ends may take to send what was queued before it."""
_MAX_PAUSE: Final = 1.0

Receive = Callable[[], Awaitable["str | bytes | None"]]
Send = Callable[[str], Awaitable[None]]
Closing = tuple[int, str]
"""(close code, reason)."""


async def _closed(_message: str) -> None:
    """What a released socket sends with: nothing."""


class RpcSocket:
    """One client connection."""

    def __init__(self, answerer: RpcAnswerer, hub: SubscriptionHub, limits: RpcLimits,
                 send: Send, *, deadline: float | None, guard: SocketGuard | None = None,
                 caller: Caller | None = None) -> None:
        self._answerer = answerer
        self._hub = hub
        self._limits = limits
        self._send = send
        self._deadline = deadline
        self._guard = guard if guard is not None and guard.active else None
        self._caller = caller
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(limits.ws_buffer)
        self._writer: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(_CONCURRENCY)
        self._calls: set[asyncio.Task[None]] = set()
        self._closing: Closing | None = None
        self._grace: asyncio.TimerHandle | None = None
        self.dropped = False
        """True once the client was dropped for reading too slowly."""

    # --- what the hub calls ------------------------------------------------------------
    def push(self, message: str) -> bool:
        if self.dropped or self._closing is not None:
            return False
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self.dropped = True
            self._stop_writer()  # serve() sees the writer end and closes
            return False
        return True

    def close(self, code: int, reason: str) -> None:
        """End the connection with ``code`` after what is queued (at most _CLOSE_GRACE
        seconds later); what comes after is not sent."""
        if self._closing is not None or self.dropped:
            return
        self._closing = (code, reason)
        try:
            self._queue.put_nowait(None)  # the writer stops there
        except asyncio.QueueFull:
            self._stop_writer()
            return
        self._grace = asyncio.get_running_loop().call_later(_CLOSE_GRACE, self._stop_writer)

    def _stop_writer(self) -> None:
        if self._writer is not None:
            self._writer.cancel()

    # --- the connection ---------------------------------------------------------------
    async def serve(self, receive: Receive) -> Closing:
        """Run until the client closes, is dropped or is closed; the close code and
        reason to send."""
        loop = asyncio.get_running_loop()
        writer = self._writer = loop.create_task(self._write())
        reader = loop.create_task(self._read(receive))
        try:
            await asyncio.wait((writer, reader), return_when=asyncio.FIRST_COMPLETED)
        finally:
            tasks = (reader, writer, *self._calls)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._hub.drop(self)
            self._release()
        if self.dropped:
            return CLOSE_TOO_SLOW, "client too slow"
        return self._closing or (CLOSE_NORMAL, "")

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
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None
        while not self._queue.empty():
            self._queue.get_nowait()

    async def _write(self) -> None:
        queue, send = self._queue, self._send
        while True:
            message = await queue.get()
            if message is None:
                return
            await send(message)

    async def _read(self, receive: Receive) -> None:
        guard, caller = self._guard, self._caller
        max_body = self._limits.max_body
        while True:
            message = await receive()
            if message is None:
                return
            if self._closing is not None:
                continue  # closing: what comes now is not answered
            too_large = len(message) > max_body
            doc = None if too_large else parse_rpc(message)  # (None costs one unit)
            if guard is not None:
                assert caller is not None
                refused, req = guard.check_now(caller, doc)
                if refused is DEFER:
                    refused = await guard.check(req)
                if refused is not None:
                    await self._refused(refused, doc, req.cost, req.policy)
                    continue
            if too_large:
                self.push(error_bytes(None, -32600, f"message too large: at most "
                                      f"{max_body} bytes").decode())
                continue
            await self._slots.acquire()
            task = asyncio.get_running_loop().create_task(self._handle(doc))
            self._calls.add(task)
            task.add_done_callback(self._done)

    async def _refused(self, exc: NodeError, doc: Any, cost: int, policy: Any) -> None:
        """Answer a refused message (each call, with its id); a key no longer good ends
        the connection; over the limit, the next message is read no sooner than the
        limit has refilled what this one would have cost (so a flood is read at the
        caller's rate: its socket's buffers fill and its sends wait)."""
        answer = _refusal(doc, exc)
        if answer is not None:
            self.push(answer)
        if closes(exc):
            self.close(CLOSE_POLICY, "API key revoked or invalid")
            return
        rate = getattr(policy, "rate", 0.0)
        pause = min(cost / rate, _MAX_PAUSE) if rate > 0 else _MAX_PAUSE
        if (exc.details or {}).get("reason") != "cost_exceeds_burst":
            await asyncio.sleep(pause)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._calls.discard(task)
        self._slots.release()
        if not task.cancelled() and task.exception() is not None:
            log.error("websocket call failed", exc_info=task.exception())

    async def _handle(self, doc: Any) -> None:
        activate: list[str] = []
        token = enter_deadline(self._deadline) if self._deadline is not None else None
        try:
            answer = await self._answerer.answer(doc,
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


def _ids(doc: Any) -> list[Any]:
    """The ids to answer a refused message with: each call's (notifications have none);
    a message that is not JSON-RPC (or too large to read) gets one answer, id null."""
    if type(doc) is Single:
        return [] if doc.id is msgspec.UNSET else [doc.id]
    if isinstance(doc, dict):
        return [doc["id"]] if "id" in doc else []
    if isinstance(doc, list) and doc:
        return [item["id"] if isinstance(item, dict) else None for item in doc
                if not isinstance(item, dict) or "id" in item]
    return [None]


def _refusal(doc: Any, exc: NodeError) -> str | None:
    """The answer to a refused message: one error per call, with its id (ids that are
    not valid JSON-RPC ids are answered with null, as the calls themselves would be)."""
    ids = _ids(doc)
    if not ids:
        return None
    errors = [error_bytes(i if _plain_id(i) else None, exc.jsonrpc_code, exc.message,
                          exc.details) for i in ids]
    if isinstance(doc, list) and doc:  # (an empty batch is answered with one error)
        return (b"[" + b",".join(errors) + b"]").decode()
    return errors[0].decode()


def _plain_id(value: Any) -> bool:
    return value is None or type(value) is str or (
        type(value) is int and -(1 << 63) <= value <= (1 << 64) - 1)


class WebSocketEndpoint:
    """What the adapters call for a WebSocket request."""

    PATHS = frozenset({"/rpc", "/rpc/"})

    def __init__(self, answerer: RpcAnswerer, hub: SubscriptionHub, *,
                 deadline: float | None = None, guard: SocketGuard | None = None,
                 paths: tuple[str, ...] = ("/rpc",)) -> None:
        self.paths = frozenset(p for path in paths for p in (path, path + "/"))
        """Where it answers: /rpc (the default network) and /rpc/{chainId}."""
        self.answerer = answerer
        self.hub = hub
        self.limits = answerer.limits
        self.deadline = deadline
        self.guard = guard
        self.connections = 0

    def accepts(self, path: str) -> bool:
        return path in self.paths

    def route(self, path: str) -> WebSocketEndpoint | None:
        """The endpoint answering ``path``: this one, or None."""
        return self if path in self.paths else None

    async def upgrade(self, header: Callable[[str], str | None], query: str, client: str, *,
                      has_header: Callable[[str], bool] | None = None,
                      header_all: Callable[[str], list[str]] | None = None,
                      ) -> Caller | WsRefusal:
        """Whether to accept a connection to /rpc: its caller, or the refusal to answer
        the upgrade with."""
        guard = self.guard
        if guard is None:
            return Caller({}, client)
        refused = guard.origin_refused(header("origin"))
        if refused is not None:
            return refused
        caller = guard.caller(header, query, client, has_header, header_all)
        return await guard.admit_upgrade(caller) or caller

    async def serve(self, receive: Receive, send: Send, caller: Caller | None = None,
                    ) -> Closing:
        """Serve one accepted connection; the close code and reason to send."""
        socket = RpcSocket(self.answerer, self.hub, self.limits, send, deadline=self.deadline,
                           guard=self.guard, caller=caller or Caller({}, ""))
        guard = self.guard
        if guard is not None and caller is not None:
            guard.opened(socket, caller)
        self.connections += 1
        try:
            return await socket.serve(receive)
        finally:
            self.connections -= 1
            if guard is not None:
                guard.closed(socket)


_RPC_NETWORK = re.compile(r"/rpc/([0-9]{1,19})/?")


def missing_status(endpoints: WebSocketEndpoint | WebSocketRoutes | None, path: str) -> int:
    """The handshake's HTTP status for a path no endpoint answers: 400 for
    ``/rpc/{chainId}`` of a network the node does not serve (as ``POST /rpc/5`` is),
    else 404 (``/rpc/abc``, ``/rpc/010`` of a served network: no such path)."""
    found = _RPC_NETWORK.fullmatch(path)
    if found is None or endpoints is None:
        return 404
    return 404 if endpoints.accepts(f"/rpc/{int(found.group(1))}") else 400


class WebSocketRoutes:
    """The WebSocket endpoints of a node serving several networks, found by path
    (``/rpc`` the default network's, ``/rpc/{chainId}`` each network's)."""

    def __init__(self, endpoints: list[WebSocketEndpoint]) -> None:
        self.endpoints = endpoints
        self._by_path = {path: e for e in endpoints for path in e.paths}

    def route(self, path: str) -> WebSocketEndpoint | None:
        return self._by_path.get(path)

    def accepts(self, path: str) -> bool:
        return path in self._by_path

    @property
    def connections(self) -> int:
        return sum(e.connections for e in self.endpoints)
