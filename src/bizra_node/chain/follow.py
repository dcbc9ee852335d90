"""Following the chain head as soon as the upstream has it.

:class:`HeadFollower` learns each new head by an upstream WebSocket subscription
(``eth_subscribe("newHeads")``, chain/ws.py) and, whenever no subscription is live
(no WebSocket URL, the upstream refused it, the socket dropped and is reconnecting
with backoff), by polling ``eth_getBlockByNumber("latest", false)`` through the
pool every ``interval`` seconds (HEAD_FOLLOW_INTERVAL; 0: not at all), and once each time a
subscription is made (what changed before it is in no notification), and fetching the head another
upstream has shown when it is higher (the pool's head probes). Listeners get each new head
header -- the JSON object as the upstream gives it: number, hash, parentHash, ... --
in order, one call per block: when heads jump (a poll missed some, a reconnect), the
blocks in between are fetched and delivered first (up to ``max_gap`` of them; a
longer jump delivers the newest only). A header whose number is not above the last
one is delivered only when it replaces a block delivered before (a reorg, a
restarted devnet); one a lagging upstream still reports (a hash already delivered
at that height, or a height older than the recent ones remembered) is not. Nor is a
head more than HEAD_LAG_BLOCKS ahead of the one a quorum of upstreams has reached
(chain/head.py): a liar's far-ahead head would make every real one after it look old.

There is one follower per worker process (granian workers are processes): each
worker's chain view and subscriptions learn heads from their own follower.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import IntegrityFailure, NodeError
from ..jsonrpc import Call
from ..resilience import Periodic, cancel_and_wait
from .bounds import check_header
from .pool import UpstreamPool
from .ws import UpstreamSubscription, WsTarget

__all__ = ["FollowConfig", "HeadFollower", "HeadListener"]

log = logging.getLogger("bizra_node.chain")

HeadListener = Callable[[dict[str, Any]], None]
_LATEST = Call("eth_getBlockByNumber", ("latest", False))
_RECENT = 256
"""Heights whose delivered hash is remembered (to tell a reorg from a lagging poll)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FollowConfig:
    ws: tuple[WsTarget, ...] = ()
    """Upstream WebSockets to subscribe on, in order of preference; () = poll only."""
    interval: float = 0.25
    """Poll period while no subscription is live, s; 0: no polling."""
    max_gap: int = 64
    """Most skipped blocks fetched to deliver every head in order."""
    connect_timeout: float = 2.0
    reconnect_max: float = 30.0
    """Longest wait between two rounds of reconnect attempts, s."""
    timeout: float = 5.0
    """Bound on one poll or gap fetch, s."""
    max_message: int = 32 * 1024 * 1024
    """Largest WebSocket message taken from an upstream, bytes."""

    def __post_init__(self) -> None:
        if self.connect_timeout <= 0 or self.timeout <= 0:
            raise ValueError("FollowConfig: connect_timeout and timeout must be positive")
        if self.interval < 0 or self.max_gap < 0 or self.reconnect_max < 0:
            raise ValueError("FollowConfig: interval, max_gap and reconnect_max must not be "
                             "negative")


def _number(header: Any) -> int | None:
    if not isinstance(header, dict) or not isinstance(header.get("hash"), str):
        return None
    raw = header.get("number")
    if not isinstance(raw, str) or not raw.startswith("0x") or len(raw) > 18:
        return None
    try:
        return int(raw, 16)
    except ValueError:
        return None


class HeadFollower:
    def __init__(self, pool: UpstreamPool, config: FollowConfig) -> None:
        self._pool = pool
        self.config = config
        self.last: dict[str, Any] | None = None
        """The last header delivered."""
        self.last_number = -1
        self.delivered = 0
        """Headers delivered so far (to every listener)."""
        self._recent: dict[int, str] = {}
        self._listeners: list[HeadListener] = []
        self._lock = asyncio.Lock()
        self._sub: UpstreamSubscription | None = None
        self._polls: Periodic | None = None
        self._poll_failing = False
        self._catch_ups: set[asyncio.Task[None]] = set()

    def add_listener(self, fn: HeadListener) -> None:
        """``fn(header)`` is called for each new head, in order, on the event loop; it
        must not block (schedule work of its own if it has any)."""
        self._listeners.append(fn)

    @property
    def mode(self) -> str:
        """'subscription' while an upstream WebSocket subscription is live, else 'poll'."""
        return "subscription" if self._sub is not None and self._sub.live else "poll"

    # --- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        c = self.config
        log.info("head follower: %s%s", "subscribing to newHeads on "
                 + ", ".join(t.name for t in c.ws) if c.ws else "no WebSocket subscription",
                 f"; polling every {c.interval:g} s while none is live" if c.interval > 0
                 else "; no polling")
        if c.ws and self._sub is None:
            self._sub = UpstreamSubscription(
                c.ws, ["newHeads"], self._on_ws_head, connect_timeout=c.connect_timeout,
                backoff_initial=min(0.5, c.reconnect_max), backoff_max=c.reconnect_max,
                what="head follower", on_live=self._subscribed, max_message=c.max_message)
            self._sub.start()
        if self._polls is None and c.interval > 0:
            self._polls = Periodic("bizra-head-follow", self._poll, c.interval, logger=log,
                                   first_delay=0)
            self._polls.start()

    def _subscribed(self, _: WsTarget) -> None:
        """A subscription was made: poll the head once, for what changed between the
        last poll and now (a reorg at the same height, say, is in no notification)."""
        task = asyncio.get_running_loop().create_task(self._poll_latest(),
                                                      name="bizra-head-catch-up")
        self._catch_ups.add(task)
        task.add_done_callback(self._catch_ups.discard)

    async def stop(self) -> None:
        for task in list(self._catch_ups):
            await cancel_and_wait(task)
        if self._polls is not None:
            await self._polls.stop()
            self._polls = None
        if self._sub is not None:
            await self._sub.stop()
            self._sub = None

    async def settled(self, timeout: float = 5.0) -> None:
        """Wait (bounded) until the subscription is live or every target was tried
        once, and -- when polling is on -- until a first head is known."""
        if self._sub is not None:
            await self._sub.wait_settled(timeout)
        if self._polls is None:
            return
        async with asyncio.timeout(timeout):
            while self.last is None:
                await asyncio.sleep(0.01)

    # --- sources ------------------------------------------------------------------------
    async def _on_ws_head(self, header: Any, target: WsTarget) -> None:
        name = target.name
        if target.http_url is not None:
            for upstream in self._pool.upstreams:
                if upstream.url == target.http_url:
                    name = upstream.name
        try:
            check_header(header)
        except IntegrityFailure as exc:  # counted as the pool counts its answers
            self._pool.metrics.upstream_integrity_failures.inc((name, exc.check))
            log.warning("head follower: upstream %s pushed a head that fails %s: %s", name,
                        exc.check, exc.message)
            return
        number = _number(header)
        if number is None:
            return
        if name != target.name:
            self._pool.heads.observe(name, number)
        if self._believed(number):
            await self._deliver(header, number)

    async def _poll(self) -> None:
        if self._sub is not None and self._sub.live:
            return
        await self._poll_latest()

    async def _poll_latest(self) -> None:
        try:
            (header,) = await self._pool.batch([_LATEST], timeout=self.config.timeout)
        except NodeError as exc:
            if not self._poll_failing:
                self._poll_failing = True
                log.warning("head follower: polling the head failed: %s", exc.message)
            return
        if self._poll_failing:
            self._poll_failing = False
            log.info("head follower: polling the head again")
        number = _number(header)
        if number is not None and self._believed(number):
            await self._deliver(header, number)
        await self._catch_up()

    def _believed(self, number: int) -> bool:
        """Is ``number`` at most the best head believed (chain/head.py)? A head far
        ahead of what a quorum of upstreams has is not delivered: it would become the
        last head, and the real ones after it would look like old news."""
        heads = self._pool.heads
        return number <= heads.best(heads.heads) or not heads.heads

    async def _catch_up(self) -> None:
        """When another upstream has shown a higher head than the one that answered the
        poll (the pool's head probes), fetch that block too: the 'latest' of the
        upstream asked may lag a little behind (within HEAD_LAG_BLOCKS it is asked)."""
        heads = self._pool.heads
        best = heads.best(heads.heads)
        if best <= self.last_number or self.last is None:
            return
        call = Call("eth_getBlockByNumber", (hex(best), False))
        try:
            (header,) = await self._pool.batch([call], timeout=self.config.timeout)
        except NodeError:
            return
        if _number(header) == best:
            await self._deliver(header, best)

    # --- delivery -------------------------------------------------------------------------
    async def _deliver(self, header: dict[str, Any], number: int) -> None:
        async with self._lock:
            last = self.last
            if last is not None:
                if number <= self.last_number:
                    seen = self._recent.get(number)
                    if seen is None or seen == header["hash"]:
                        return  # old news from a lagging upstream, or a repeat
                gap = number - self.last_number - 1
                if 0 < gap <= self.config.max_gap:
                    for missing in await self._between(self.last_number, number):
                        self._emit(missing, _number(missing) or 0)
                    if self.last is not None and header["hash"] == self.last["hash"]:
                        return
            self._emit(header, number)

    async def _between(self, low: int, high: int) -> list[dict[str, Any]]:
        """The headers of blocks low+1 .. high-1, as far as upstream has them in order."""
        calls = [Call("eth_getBlockByNumber", (hex(n), False)) for n in range(low + 1, high)]
        try:
            answers = await self._pool.batch(calls, timeout=self.config.timeout)
        except NodeError as exc:
            log.debug("head follower: fetching skipped heads failed: %s", exc.message)
            return []
        headers: list[dict[str, Any]] = []
        for n, answer in zip(range(low + 1, high), answers, strict=True):
            if _number(answer) != n:
                break
            headers.append(answer)
        return headers

    def _emit(self, header: dict[str, Any], number: int) -> None:
        self.last = header
        self.last_number = number
        self.delivered += 1
        recent = self._recent
        for height in [h for h in recent if h >= number]:  # a reorg replaces them
            del recent[height]
        recent[number] = header["hash"]
        if len(recent) > _RECENT:
            del recent[next(iter(recent))]
        for fn in self._listeners:
            try:
                fn(header)
            except Exception:  # one listener's bug must not stop the others or the follower
                log.exception("head listener failed")
