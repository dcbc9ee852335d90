"""One ``eth_subscribe`` kept alive over a WebSocket to an upstream (aiohttp's client).

:class:`UpstreamSubscription` connects to the first target that takes the
subscription, hands every notification's ``result`` to its callback, and when the
socket goes away (the upstream restarted, a proxy cut it, a heartbeat went
unanswered) tries the targets again: at once after a connection that was live,
then with exponential backoff (``backoff_initial`` doubling up to ``backoff_max``).
An upstream that answers the subscribe with an error (it has no such subscription)
is remembered in ``refused``. Anvil, geth, reth, Nethermind and Erigon serve
WebSockets; anvil on its HTTP port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import orjson

from ..jsonrpc import RpcError
from ..resilience import cancel_and_wait
from .upstream import redact_url

__all__ = ["SubscriptionFeed", "UpstreamSubscription", "WsTarget", "ws_url"]

log = logging.getLogger("bizra_node.chain")

_HEARTBEAT = 15.0
"""Seconds between WebSocket pings; a peer that does not answer within half of it is
taken for gone (a black-holed connection is noticed, not waited on forever)."""
_MAX_MESSAGE = 32 * 1024 * 1024
"""Largest message taken from an upstream socket by default (UPSTREAM_MAX_RESPONSE_BYTES
sets it): a larger one is refused by aiohttp's reader, logged, and the socket is
reconnected."""


def ws_url(http_url: str) -> str:
    """The WebSocket URL of an HTTP JSON-RPC endpoint served on the same port and path
    (anvil, geth with --ws on the HTTP port, most providers' gateways)."""
    parts = urlsplit(http_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


@dataclass(frozen=True, slots=True)
class WsTarget:
    url: str
    http_url: str | None = None
    """The HTTP upstream this socket belongs to (None: a socket given on its own), so
    heads seen on it count as that upstream's."""

    @property
    def name(self) -> str:
        return redact_url(self.url)


OnItem = Callable[[Any, WsTarget], Awaitable[None]]


class _SubscribeRejected(Exception):
    """The upstream answered eth_subscribe with a JSON-RPC error."""

    def __init__(self, error: RpcError) -> None:
        super().__init__(error.message)
        self.error = error


def _why(error: object, limit: int) -> str:
    if isinstance(error, aiohttp.WebSocketError) and \
            error.code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG:
        return f"larger than UPSTREAM_MAX_RESPONSE_BYTES, {limit} bytes"
    return str(error)[:200]


class UpstreamSubscription:
    def __init__(self, targets: Sequence[WsTarget], params: Sequence[Any], on_item: OnItem, *,
                 connect_timeout: float = 2.0, backoff_initial: float = 0.5,
                 backoff_max: float = 30.0, what: str = "subscription",
                 on_live: Callable[[WsTarget], None] | None = None,
                 max_message: int = _MAX_MESSAGE) -> None:
        """``on_live(target)``: called each time a subscription is made (the first and
        every reconnect): what happened while none was live is in no notification."""
        if not targets:
            raise ValueError("UpstreamSubscription needs at least one target")
        self.targets = tuple(targets)
        self.params = list(params)
        self._on_item = on_item
        self._connect_timeout = connect_timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._what = what
        self._on_live = on_live
        self._max_message = max_message
        self.live: WsTarget | None = None
        """The target whose subscription is running now; None between connections."""
        self.refused: RpcError | None = None
        """The last error an upstream answered the subscribe with."""
        self.connections = 0
        """Subscriptions made so far (the first one and every reconnect)."""
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    # --- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"bizra-ws-{self._what}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        self.live = None

    async def wait_settled(self, timeout: float) -> bool:
        """Wait until the subscription is live or every target has been tried once
        (up to ``timeout`` s); True when live."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self.live is None and not self._tried_all:
                    self._changed.clear()
                    await self._changed.wait()
        return self.live is not None

    # --- the loop ----------------------------------------------------------------------
    _tried_all = False

    async def _run(self) -> None:
        failures = 0
        async with aiohttp.ClientSession(skip_auto_headers=("User-Agent",)) as session:
            while True:
                for target in self.targets:
                    try:
                        was_live = await self._follow(session, target)
                    except _SubscribeRejected as exc:
                        self.refused = exc.error
                        log.info("upstream %s refused %s: %s", target.name, self._what,
                                 exc.error.message[:200])
                        was_live = False
                    except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
                        log.debug("%s via %s failed: %s", self._what, target.name,
                                  type(exc).__name__)
                        was_live = False
                    if self.live is not None:
                        log.warning("upstream WebSocket %s closed; %s reconnecting",
                                    target.name, self._what)
                        self.live = None
                        self._changed.set()
                    if was_live:
                        failures = 0
                self._tried_all = True
                self._changed.set()
                if failures:
                    delay = min(self._backoff_initial * 2 ** (failures - 1), self._backoff_max)
                    await asyncio.sleep(delay)
                failures += 1

    async def _follow(self, session: aiohttp.ClientSession, target: WsTarget) -> bool:
        """Subscribe on ``target`` and hand over notifications until the socket
        closes; True if the subscription was made."""
        async with asyncio.timeout(self._connect_timeout):
            ws = await session.ws_connect(target.url, heartbeat=_HEARTBEAT,
                                          max_msg_size=self._max_message, autoping=True)
        try:
            async with asyncio.timeout(self._connect_timeout):
                await ws.send_bytes(orjson.dumps({"jsonrpc": "2.0", "id": 1,
                                                  "method": "eth_subscribe",
                                                  "params": self.params}))
                sub_id = await self._subscribed(ws)
            self.refused = None
            self.connections += 1
            self.live = target
            self._changed.set()
            log.info("%s: following upstream %s over WebSocket", self._what, target.name)
            if self._on_live is not None:
                self._on_live(target)
            async for msg in ws:
                if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    if msg.type is aiohttp.WSMsgType.ERROR:
                        log.warning("%s: upstream WebSocket %s sent a bad message (%s); "
                                    "reconnecting", self._what, target.name,
                                    _why(msg.data, self._max_message))
                    break
                doc = orjson.loads(msg.data)
                if not isinstance(doc, dict) or doc.get("method") != "eth_subscription":
                    continue
                params = doc.get("params")
                if isinstance(params, dict) and params.get("subscription") == sub_id:
                    try:
                        await self._on_item(params.get("result"), target)
                    except Exception:  # a bad item or a listener's bug must not end the feed
                        log.exception("%s: handling a notification failed", self._what)
            return True
        finally:
            await ws.close()

    @staticmethod
    async def _subscribed(ws: aiohttp.ClientWebSocketResponse) -> str:
        while True:
            msg = await ws.receive()
            if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                raise aiohttp.ClientError("socket closed before the subscription was made")
            doc = orjson.loads(msg.data)
            if not isinstance(doc, dict) or doc.get("id") != 1:
                continue
            error = doc.get("error")
            if isinstance(error, dict):
                code = error.get("code")
                raise _SubscribeRejected(RpcError(code if isinstance(code, int) else -32603,
                                        str(error.get("message", ""))))
            result = doc.get("result")
            if not isinstance(result, str):
                raise ValueError("subscription id is not a string")
            return result


class SubscriptionFeed:
    """An upstream subscription started on demand and stopped when nobody needs it
    (the hub's ``newPendingTransactions`` source): ``start`` says whether an upstream
    took it."""

    def __init__(self, targets: Sequence[WsTarget], params: Sequence[Any], *,
                 connect_timeout: float = 2.0, backoff_max: float = 30.0,
                 what: str = "subscription", max_message: int = _MAX_MESSAGE) -> None:
        self.targets = tuple(targets)
        self._max_message = max_message
        self.params = list(params)
        self._connect_timeout = connect_timeout
        self._backoff_max = backoff_max
        self._what = what
        self._sub: UpstreamSubscription | None = None

    async def start(self, on_item: Callable[[Any], None]) -> bool:
        if self._sub is not None:
            return True
        if not self.targets:
            return False

        async def item(result: Any, _: WsTarget) -> None:
            on_item(result)

        sub = UpstreamSubscription(self.targets, self.params, item,
                                   connect_timeout=self._connect_timeout,
                                   backoff_max=self._backoff_max, what=self._what,
                                   max_message=self._max_message)
        sub.start()
        if await sub.wait_settled(self._connect_timeout * 2 * len(self.targets) + 1):
            self._sub = sub
            return True
        await sub.stop()
        return False

    async def stop(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            await sub.stop()
