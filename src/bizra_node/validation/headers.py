"""Proving headers canonical, and noticing when the chain reorganises.

:class:`HeaderChain` keeps the CanonicalChain filled: to prove a header canonical it
fetches the headers between it and the anchor (by number, in batches, each hash
recomputed) and links them by parent hashes; new heads are added as they come, and a
head that does not link to what is kept is a reorg: the headers below it are asked
for again until the fork point, and the part above the fork is replaced.

A header farther than TRUST_WALK_LIMIT blocks from the anchor is not walked to: its
answers stay at level ``consistent`` (hashes and roots proven, the link not).

New heads come from the head follower (chain/follow.py) through :meth:`follow`, which
only queues them: one task takes them in order, recomputes each hash, keeps the head
(filling a gap below it) or handles the reorg it reveals, then tells the head
listeners (the prover's prefetch) and, for a reorg, the reorg listeners (cache
invalidation, records).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import IntegrityFailure, UpstreamError, UpstreamUnavailable
from ..jsonrpc import Call, RpcError
from ..resilience import cancel_and_wait
from .canonical import CanonicalChain, Link
from .trust import Anchor, Check, Header, TrustError, verify_header
from .upstreams import Upstreams

__all__ = ["HeaderChain", "Reorg"]

log = logging.getLogger("bizra_node.validation")

_BATCH = 100
"""Headers asked for in one JSON-RPC batch (providers often cap batches at 100)."""


@dataclass(frozen=True, slots=True)
class Reorg:
    """The chain replaced everything above ``fork`` (the last block both chains share)."""

    fork: int
    depth: int
    """Blocks of the old chain that were replaced."""
    dropped: tuple[bytes, ...] = field(default=())
    """Hashes of the replaced blocks, lowest first."""
    added: tuple[bytes, ...] = field(default=())
    below_anchor: bool = False
    """The fork is below the anchor: a finalized block was replaced (an incident)."""


ReorgListener = Callable[[Reorg], None]
HeadListener = Callable[[Header], None]

_QUEUE = 256
"""New heads waiting to be linked; past this the oldest waiting ones are dropped (the
next head links over the gap)."""


class HeaderChain:
    def __init__(self, upstreams: Upstreams, canonical: CanonicalChain, *,
                 walk_limit: int) -> None:
        self._up = upstreams
        self.canonical = canonical
        self.walk_limit = walk_limit
        self._listeners: list[ReorgListener] = []
        self._head_listeners: list[HeadListener] = []
        self._queue: asyncio.Queue[Any] = asyncio.Queue(_QUEUE)
        self._task: asyncio.Task[None] | None = None
        self.reorgs = 0

    def add_reorg_listener(self, fn: ReorgListener) -> None:
        self._listeners.append(fn)

    def add_head_listener(self, fn: HeadListener) -> None:
        """``fn(header)`` for each new canonical head, after it was kept."""
        self._head_listeners.append(fn)

    # --- following the head ------------------------------------------------------------
    def follow(self, header_json: Any) -> None:
        """Queue a new head from the head follower (never blocks, never raises)."""
        if self._task is None:
            return
        if self._queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()
        self._queue.put_nowait(header_json)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                name="canonical-heads")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        while True:
            raw = await self._queue.get()
            try:
                header = verify_header(raw)
            except TrustError as exc:
                log.warning("a new head fails %s: not kept", exc.check.value)
                continue
            try:
                await self._keep_head(header)
            except (UpstreamUnavailable, IntegrityFailure, TrustError) as exc:
                log.debug("new head %d not linked now: %s", header.number, exc)
            except Exception:  # the follower must outlive any one head
                log.exception("new head %d: unexpected failure", header.number)
                continue
            for fn in self._head_listeners:
                try:
                    fn(header)
                except Exception:
                    log.exception("head listener failed")

    async def _keep_head(self, header: Header) -> None:
        chain = self.canonical
        tip = chain.tip
        if tip >= 0 and header.number > tip + 1 and header.number - tip <= self.walk_limit:
            self._keep(await self.fetch(range(tip + 1, header.number)), ascending=True)
        await self.on_head(header)

    # --- fetching -------------------------------------------------------------------
    async def fetch(self, numbers: Sequence[int]) -> dict[int, Header]:
        """The canonical headers at ``numbers`` (as the pool's upstreams see them), each
        hash recomputed. Raises UpstreamUnavailable when one is missing or malformed."""
        out: dict[int, Header] = {}
        todo = list(numbers)
        for start in range(0, len(todo), _BATCH):
            chunk = todo[start:start + _BATCH]
            answers = await self._up.batch(
                [Call("eth_getBlockByNumber", (hex(n), False)) for n in chunk])
            for n, raw in zip(chunk, answers, strict=True):
                if not isinstance(raw, dict):
                    raise UpstreamUnavailable(f"upstream has no header for block {n}",
                                              {"reason": "missing_header", "block": n})
                try:
                    header = verify_header(raw)
                except TrustError as exc:
                    raise UpstreamUnavailable(f"header of block {n} fails {exc.check.value}",
                                              {"reason": "bad_header", "block": n}) from None
                if header.number != n:
                    raise UpstreamUnavailable(f"asked for header {n}, got {header.number}",
                                              {"reason": "bad_header", "block": n})
                out[n] = header
        return out

    async def fetch_linked(self, low: int, high: int, anchor: Anchor) -> dict[int, Header]:
        """The headers ``low``..``high`` on the anchor's chain: above the anchor
        (``low`` is anchor + 1) or below it (``high`` is anchor - 1), asked from the
        anchor outwards, each batch checked as one upstream's answers: hashes
        recomputed, linked by parent hashes to each other and to the anchor side. An
        upstream whose headers do not link (another chain) fails ``parent_link`` and is
        blamed; the pool asks the next. Raises UpstreamUnavailable when none can."""
        if low > high:
            return {}
        up = low > anchor.number
        edge = anchor.hash if up else self._anchor_parent(anchor)
        """Above: the hash the next header's parent must be; below: the hash the next
        header must have (empty: the anchor's parent is not known)."""
        out: dict[int, Header] = {}
        todo = list(range(low, high + 1)) if up else list(range(high, low - 1, -1))
        for start in range(0, len(todo), _BATCH):
            chunk = todo[start:start + _BATCH]
            got: list[dict[int, Header]] = []
            verify = _linked_run(chunk, edge, up, got)
            try:
                await self._up.batch(
                    [Call("eth_getBlockByNumber", (hex(n), False)) for n in chunk],
                    verify=verify)
            except UpstreamError as exc:
                raise UpstreamUnavailable(f"no upstream serves headers {min(chunk)}.."
                                          f"{max(chunk)} linked to the anchor: {exc}",
                                          {"reason": "link_unavailable"}) from None
            run = got[-1]
            out.update(run)
            last = run[chunk[-1]]
            edge = last.hash if up else last.parent_hash
        return out

    # --- proving --------------------------------------------------------------------
    async def prove(self, header: Header, anchor: Anchor) -> bool:
        """True when ``header`` is linked by parent hashes to ``anchor``; False when it is
        farther than the walk limit (not proven either way). Raises
        TrustError(parent_link) when it is not on the chain the anchor is on."""
        n = header.number
        if n == anchor.number:
            if header.hash != anchor.hash:
                raise TrustError(Check.PARENT_LINK, f"block {n} is not the anchor "
                                                    f"0x{anchor.hash.hex()}")
            return True
        if abs(n - anchor.number) > self.walk_limit:
            return False
        chain = self.canonical
        if chain.hash_at(n) == header.hash and chain.linked_down_to_anchor(n):
            return True
        up = n > anchor.number
        low, high = (anchor.number + 1, n - 1) if up else (n + 1, anchor.number - 1)
        missing = chain.gaps(low, high)
        if missing:
            self._keep(await self.fetch(missing), ascending=up)
        if self._fits(header, anchor):
            return True
        # What was kept went stale (a reorg nobody told us about) or the header is not
        # canonical: ask for the whole run again and decide on fresh headers only.
        fresh = await self.fetch_linked(low, high, anchor)
        if up:
            chain.drop_from(anchor.number + 1)
            chain.set_anchor(anchor.number, anchor.hash, self._anchor_parent(anchor))
        self._keep(fresh, ascending=up)
        if self._fits(header, anchor):
            return True
        raise TrustError(Check.PARENT_LINK, f"block {n} (0x{header.hash.hex()}) does not link "
                                            f"to the anchor at {anchor.number}")

    def _fits(self, header: Header, anchor: Anchor) -> bool:
        chain = self.canonical
        link = chain.add(header.number, header.hash, header.parent_hash)
        return link is not Link.CONFLICT and chain.linked_down_to_anchor(header.number)

    def _anchor_parent(self, anchor: Anchor) -> bytes:
        kept = self.canonical.anchor
        return kept.parent if kept is not None and kept.hash == anchor.hash else b""

    def keep_run(self, run: list[Header]) -> None:
        """A run of headers linked by parent hashes, lowest first (the anchor moving
        forward, anchor.py): the last becomes the anchor, the others are kept."""
        newer = run[-1]
        self.canonical.set_anchor(newer.number, newer.hash, newer.parent_hash)
        for h in run[:-1]:
            self.canonical.add(h.number, h.hash, h.parent_hash)

    def _keep(self, headers: dict[int, Header], *, ascending: bool) -> None:
        chain = self.canonical
        for n in sorted(headers, reverse=not ascending):
            h = headers[n]
            if chain.add(n, h.hash, h.parent_hash) is Link.CONFLICT and ascending:
                chain.drop_from(n)  # what was kept above the anchor went stale (a reorg)
                chain.add(n, h.hash, h.parent_hash)

    async def on_head(self, header: Header) -> Reorg | None:
        """A new head (hash recomputed): kept when it links; a reorg when it does not
        (the fork point is found by asking for the canonical headers below it)."""
        chain = self.canonical
        link = chain.check(header.number, header.hash, header.parent_hash)
        if link is not Link.CONFLICT:
            chain.add(header.number, header.hash, header.parent_hash)
            return None
        return await self._reorg(header)

    async def _reorg(self, head: Header) -> Reorg:
        chain = self.canonical
        old_tip = chain.tip
        anchor = chain.anchor
        fresh: dict[int, Header] = {head.number: head}
        n = head.number - 1
        fork = -1
        while n >= 0 and head.number - n <= self.walk_limit:
            kept = chain.hash_at(n)
            header = (await self.fetch([n]))[n]
            if (kept is None or kept == header.hash) and fresh[n + 1].parent_hash == header.hash:
                fork = n
                break
            fresh[n] = header
            n -= 1
        if fork < 0:
            raise UpstreamUnavailable("reorg deeper than TRUST_WALK_LIMIT",
                                      {"reason": "deep_reorg", "head": head.number})
        below_anchor = anchor is not None and fork < anchor.number
        dropped = tuple(b.hash for b in chain.drop_from(fork + 1))
        for m in sorted(fresh):
            if m > fork:
                chain.add(m, fresh[m].hash, fresh[m].parent_hash)
        reorg = Reorg(fork=fork, depth=max(old_tip - fork, 0), dropped=dropped,
                      added=tuple(fresh[m].hash for m in sorted(fresh) if m > fork),
                      below_anchor=below_anchor)
        self.reorgs += 1
        (log.critical if below_anchor else log.warning)(
            "reorg: blocks above %d replaced (depth %d)%s", fork, reorg.depth,
            " BELOW THE FINALIZED ANCHOR" if below_anchor else "",
            extra={"fork": fork, "depth": reorg.depth, "head": head.number})
        for fn in self._listeners:
            try:
                fn(reorg)
            except Exception:  # a listener's failure must not stop the others
                log.exception("reorg listener failed")
        return reorg


def _linked_run(chunk: list[int], edge: bytes, up: bool,
                got: list[dict[int, Header]]) -> Callable[[list[Any], str], Awaitable[None]]:
    """The verify hook of one batch of :meth:`HeaderChain.fetch_linked`."""

    async def verify(answers: list[Any], upstream: str) -> None:
        run: dict[int, Header] = {}
        at = edge
        for n, raw in zip(chunk, answers, strict=True):
            header = hooked_header(raw, n, upstream)
            if header.number != n:
                raise IntegrityFailure(Check.HEADER_HASH.value,
                                       f"asked for header {n}, got {header.number}")
            if (up and header.parent_hash != at) or (not up and at and header.hash != at):
                raise IntegrityFailure(Check.PARENT_LINK.value,
                                       f"header {n} is not on the anchor's chain")
            at = header.hash if up else header.parent_hash
            run[n] = header
        got.append(run)

    return verify


def hooked_header(raw: Any, number: int, upstream: str) -> Header:
    """An upstream's header of block ``number`` in a verify hook, hash recomputed: an
    UpstreamError (missing: not blamed, the pool asks the next) when it has none, an
    IntegrityFailure (blamed) when it does not hash or is malformed."""
    if raw is None or isinstance(raw, RpcError):  # not there (yet)
        raise UpstreamError(f"upstream does not have block {number}", kind="missing",
                            upstream=upstream)
    try:
        return verify_header(raw)
    except TrustError as exc:
        raise IntegrityFailure(exc.check.value, exc.message) from None
    except (TypeError, KeyError, ValueError):
        raise IntegrityFailure(Check.HEADER_HASH.value,
                               f"no well-formed header for block {number}") from None


def header_of(raw: Any) -> Header:
    """A header JSON object as the upstream gives it, hash recomputed."""
    return verify_header(raw)
