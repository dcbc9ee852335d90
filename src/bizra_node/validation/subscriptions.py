"""eth_subscribe for WebSocket clients: one upstream feed per worker, fanned out.

The hub takes each new head from the worker's head follower (``on_head``) and
hands it to every ``newHeads`` subscriber; for ``logs`` subscribers it gets the
block's logs once (in head order, only while someone listens: from the block's
receipts proven against its header when a :class:`BlockLogs` source is given, see
logs.py, else ``eth_getLogs`` by block hash) and gives each subscriber the ones its
filter matches, one notification per log as geth does. ``newPendingTransactions``
(transaction hashes) comes from an upstream subscription started when the first
client asks and stopped after the last one leaves (``PendingSource``; refused when no
upstream offers it).

A notification is built once per subscription as a string and pushed to the
client without waiting (``Subscriber.push``); a client whose buffer is full is the
API's to drop, never the hub's to wait for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from ..jsonrpc import LIMIT_EXCEEDED, Call, RpcError, RpcLimits
from .filters import log_filter_problem
from .trust import Unprovable
from .upstreams import Upstreams

__all__ = ["BlockLogs", "LogMatcher", "PendingSource", "Subscriber", "SubscriptionHub"]

log = logging.getLogger("bizra_node.validation")

_PREFIX = '{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":"'
_MIDDLE = '","result":'
_SUFFIX = "}}"
_LOG_TRIES = 4
_LOG_QUEUE = 64
"""Heads waiting for their logs; a worker further behind skips the oldest."""


class Subscriber(Protocol):
    """A client connection as the hub sees it."""

    def push(self, message: str) -> bool:
        """Queue ``message`` without waiting; False when the client cannot take more
        (the connection drops the client and calls :meth:`SubscriptionHub.drop`)."""
        ...


class PendingSource(Protocol):
    """An upstream feed of pending transaction hashes (chain.SubscriptionFeed)."""

    async def start(self, on_item: Callable[[Any], None]) -> bool: ...
    async def stop(self) -> None: ...


def _lower_set(value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) for v in items):
        raise ValueError("expected a string or a list of strings")
    return frozenset(v.lower() for v in items)


class LogMatcher:
    """The address and topics part of a log filter (JSON-RPC semantics: any of the
    addresses; topic position i matches null (anything), one value, or any of a list)."""

    __slots__ = ("addresses", "topics")

    def __init__(self, criteria: dict[str, Any]) -> None:
        self.addresses = _lower_set(criteria.get("address"))
        raw_topics = criteria.get("topics") or []
        if not isinstance(raw_topics, list) or len(raw_topics) > 4:
            raise ValueError("topics must be a list of at most 4 entries")
        self.topics = [_lower_set(t) for t in raw_topics]

    def matches(self, entry: dict[str, Any]) -> bool:
        if self.addresses is not None and str(entry.get("address", "")).lower() \
                not in self.addresses:
            return False
        topics = entry.get("topics") or []
        for i, wanted in enumerate(self.topics):
            if wanted is None:
                continue
            if i >= len(topics) or str(topics[i]).lower() not in wanted:
                return False
        return True


@dataclass(slots=True)
class _Sub:
    client: Subscriber
    kind: str
    prefix: str
    """The notification up to the result: built once."""
    matcher: LogMatcher | None = None
    active: bool = True


@dataclass(slots=True)
class _Client:
    subs: set[str] = field(default_factory=set)


class BlockLogs(Protocol):
    """Every log of one block, from its proven receipts (logs.ProvenLogs)."""

    async def block_logs(self, block_hash: bytes) -> list[dict[str, Any]]: ...


class SubscriptionHub:
    def __init__(self, upstreams: Upstreams, *, limits: RpcLimits | None = None,
                 pending: PendingSource | None = None, logs: BlockLogs | None = None) -> None:
        self._up = upstreams
        self._proven_logs = logs
        self.limits = limits or RpcLimits()
        self._pending_source = pending
        self._subs: dict[str, _Sub] = {}
        self._heads: dict[str, _Sub] = {}
        self._logs: dict[str, _Sub] = {}
        self._pending: dict[str, _Sub] = {}
        self._clients: dict[int, _Client] = {}
        self._log_queue: asyncio.Queue[dict[str, Any]] | None = None
        self._log_task: asyncio.Task[None] | None = None
        self._pending_lock = asyncio.Lock()
        self.delivered = 0
        """Notifications pushed to clients (all kinds)."""

    # --- subscribing ------------------------------------------------------------------
    async def subscribe(self, client: Subscriber, params: list[Any]) -> str | RpcError:
        """eth_subscribe: the new subscription id, or the error to answer with. The
        subscription gets notifications once :meth:`activate` is called (after its id has
        been sent to the client)."""
        kind = params[0] if params else None
        state = self._clients.setdefault(id(client), _Client())
        if len(state.subs) >= self.limits.ws_subscriptions:
            return RpcError(LIMIT_EXCEEDED, "too many subscriptions on this connection: at "
                            f"most {self.limits.ws_subscriptions}")
        matcher = None
        if kind == "logs":
            criteria = params[1] if len(params) > 1 and params[1] else {}
            problem = log_filter_problem(criteria)
            if problem is not None:
                return RpcError(-32602, f"invalid params: {problem}")
            try:
                matcher = LogMatcher(criteria)
            except (ValueError, TypeError, AttributeError) as exc:
                return RpcError(-32602, f"invalid params: {exc}")
        elif kind == "newPendingTransactions":
            if len(params) > 1 and params[1]:
                return RpcError(-32602, "invalid params: full pending transactions are not "
                                "offered, subscribe to their hashes")
            if not await self._start_pending():
                return RpcError(-32601, "newPendingTransactions is not available: no upstream "
                                "offers it over a WebSocket")
        elif kind != "newHeads":
            return RpcError(-32602, f"invalid params: unsupported subscription {str(kind)[:40]!r}"
                            " (newHeads, logs, newPendingTransactions)")
        sub_id = "0x" + os.urandom(16).hex()
        sub = _Sub(client, str(kind), _PREFIX + sub_id + _MIDDLE, matcher)
        self._subs[sub_id] = sub
        state.subs.add(sub_id)
        if sub.kind == "newPendingTransactions":
            self._pending[sub_id] = sub  # counted now, so the feed is not stopped meanwhile
            sub.active = False
        return sub_id

    def activate(self, sub_id: str) -> None:
        """Start sending notifications for ``sub_id``."""
        sub = self._subs.get(sub_id)
        if sub is None:
            return
        sub.active = True
        if sub.kind == "newHeads":
            self._heads[sub_id] = sub
        elif sub.kind == "logs":
            self._logs[sub_id] = sub

    async def unsubscribe(self, client: Subscriber, sub_id: Any) -> bool:
        """eth_unsubscribe: True when ``sub_id`` was this client's."""
        sub = self._subs.get(sub_id) if isinstance(sub_id, str) else None
        if sub is None or sub.client is not client:
            return False
        self._remove(sub_id)
        await self._maybe_stop_pending()
        return True

    async def drop(self, client: Subscriber) -> None:
        """The client went away: all its subscriptions end."""
        state = self._clients.pop(id(client), None)
        if state is None:
            return
        for sub_id in list(state.subs):
            self._remove(sub_id)
        await self._maybe_stop_pending()

    def _remove(self, sub_id: str) -> None:
        sub = self._subs.pop(sub_id, None)
        if sub is None:
            return
        for index in (self._heads, self._logs, self._pending):
            index.pop(sub_id, None)
        state = self._clients.get(id(sub.client))
        if state is not None:
            state.subs.discard(sub_id)

    # --- feeds ---------------------------------------------------------------------------
    def on_head(self, header: dict[str, Any]) -> None:
        """A head listener (the follower's): newHeads now, logs in the background."""
        if self._heads:
            self._fan_out(self._heads, orjson.dumps(header).decode())
        if self._logs:
            queue = self._log_queue
            if queue is None:
                queue = self._log_queue = asyncio.Queue(_LOG_QUEUE)
                self._log_task = asyncio.get_running_loop().create_task(
                    self._deliver_logs(queue), name="bizra-ws-logs")
            if queue.full():
                queue.get_nowait()  # far behind: the oldest block's logs are skipped
                log.warning("logs subscriptions: a block's logs were skipped (fetching lags)")
            queue.put_nowait(header)

    def on_pending(self, tx_hash: Any) -> None:
        if self._pending and isinstance(tx_hash, str):
            self._fan_out(self._pending, orjson.dumps(tx_hash).decode())

    def _fan_out(self, subs: dict[str, _Sub], payload: str) -> None:
        tail = payload + _SUFFIX
        sent = 0
        for sub in list(subs.values()):
            if sub.active:
                sub.client.push(sub.prefix + tail)
                sent += 1
        self.delivered += sent

    async def _deliver_logs(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        while True:
            header = await queue.get()
            if not self._logs:
                continue
            logs = await self._block_logs(header.get("hash"))
            for entry in logs:
                if not isinstance(entry, dict):
                    continue
                payload: str | None = None
                for sub in list(self._logs.values()):
                    if sub.matcher is not None and sub.matcher.matches(entry):
                        if payload is None:
                            payload = orjson.dumps(entry).decode() + _SUFFIX
                        sub.client.push(sub.prefix + payload)
                        self.delivered += 1

    async def _block_logs(self, block_hash: Any) -> list[Any]:
        """The logs of one block (by hash, so a reorged block's are never mixed in). An
        upstream that has not seen the block yet is asked again, a few times. A block
        whose receipts cannot be proven (a transaction type the node cannot encode):
        the upstream's logs."""
        if self._proven_logs is not None:
            proven = await self._proven_block_logs(block_hash)
            if proven is not None:
                return proven
        call = Call("eth_getLogs", ({"blockHash": block_hash},))
        for attempt in range(_LOG_TRIES):
            try:
                (logs,) = await self._up.batch([call])
            except Exception as exc:  # the next head still gets its logs
                log.warning("logs subscriptions: eth_getLogs failed for a block: %s",
                            getattr(exc, "message", type(exc).__name__))
                return []
            if isinstance(logs, list):
                return logs
            if not (isinstance(logs, RpcError) and logs.lagging):
                break
            await asyncio.sleep(0.05 * 2 ** attempt)
        log.warning("logs subscriptions: no logs for block %s: %s", str(block_hash)[:66], logs)
        return []

    async def _proven_block_logs(self, block_hash: Any) -> list[Any] | None:
        """None: the block cannot be proven (Unprovable), its logs are to be asked."""
        assert self._proven_logs is not None
        if not (isinstance(block_hash, str) and len(block_hash) == 66):
            return []
        for attempt in range(_LOG_TRIES):
            try:
                return await self._proven_logs.block_logs(bytes.fromhex(block_hash[2:]))
            except Unprovable:
                return None
            except Exception as exc:  # the next head still gets its logs
                failure = exc
                await asyncio.sleep(0.05 * 2 ** attempt)
        log.warning("logs subscriptions: no proven logs for block %s: %s", block_hash[:66],
                    getattr(failure, "message", type(failure).__name__))
        return []

    async def _start_pending(self) -> bool:
        if self._pending_source is None:
            return False
        async with self._pending_lock:
            if self._pending:
                return True
            return await self._pending_source.start(self.on_pending)

    async def _maybe_stop_pending(self) -> None:
        if self._pending_source is not None and not self._pending:
            async with self._pending_lock:
                if not self._pending:
                    await self._pending_source.stop()

    # --- lifecycle -------------------------------------------------------------------------
    @property
    def clients(self) -> int:
        return len(self._clients)

    def counts(self) -> dict[str, int]:
        return {"newHeads": len(self._heads), "logs": len(self._logs),
                "newPendingTransactions": len(self._pending)}

    async def close(self) -> None:
        task, self._log_task = self._log_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._pending_source is not None:
            await self._pending_source.stop()
