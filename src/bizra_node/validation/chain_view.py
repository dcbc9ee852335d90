"""The node's view of the chain: the head and the finalized block, in one place.

Both services (validation and /rpc) take this view; nothing else keeps a head. Rules:

* **Monotonic.** The head and the finalized number the node reports never go
  backwards: an answer from a lagging upstream below what was already seen is
  replaced by the best seen (:meth:`observe_head`).
* **Fresh, never waited for on a hit.** The head is cached for ``head_ttl`` (in the
  TieredCache under ``("head", "head")``, so workers share it through L2) and
  refreshed ahead of expiry: a request that finds it in its last part
  (``refresh_ahead``) starts one refresh in the background and is served at once
  (``fresh_head``, the synchronous hit path). Every eth_blockNumber answer seen on
  the way (a validation's batch, /rpc traffic) refreshes it too, and so does each new
  head the worker's head follower delivers (:meth:`observe_header`).
* **Never behind an answer.** A block number seen in any answer the node gives (a
  receipt's, a block's, a log's) is a head at least that high (:meth:`observe_block`):
  entries cached "as of" an older head stop being served at once.
* **Finality** is the anchor's number once there is an anchor; before, it comes from
  the upstream's ``finalized`` tag when it knows it, else ``finality_depth`` blocks
  behind the head -- except with the sync-committee anchor, where only the sync
  committee makes a block final: nothing is final before its first anchor.
* **One node, one view.** With the workers' heads file (shared_heads.py, made by
  ``serve``), each higher head a worker takes is published to the node's other
  workers at once, and each worker reads the shared head before it answers (one
  memory load in :meth:`fresh_head`): a head any worker has shown is the least every
  worker shows, and ``latest`` is asked at it. Each higher finalized block is
  published too (number and hash) and taken by the others unless it contradicts the
  canonical hash they hold at that number (:meth:`known_finalized`).
* **The head rule.** The head moves only to a block HEAD_QUORUM upstreams have each
  reached (the pool's vouched head, chain/head.py; one upstream is its own quorum) or
  that the sync committee names (:attr:`head_claim`, with ANCHOR_SOURCE=beacon): an
  eth_blockNumber, a block number in an answer or a new head from the follower above
  both is capped there, so one upstream that reports a head far ahead moves nothing.
* **The head claim.** With ANCHOR_SOURCE=beacon, :attr:`head_claim` is the latest
  optimistic execution block (slot, number, hash) the sync committee signed, as the
  light client last verified it (None before it has synced, and with other anchor
  sources).
* **Vouched blocks.** A block above the anchor is ``anchored`` only when it is an
  ancestor of (or is) a head vouched for by more than one upstream -- the same hash at
  the vouched head's number from HEAD_QUORUM (at least two) of them -- or by the sync
  committee (:meth:`vouches`); otherwise its answers are ``consistent``.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from ..cache import Entry, TieredCache
from ..errors import IntegrityFailure, UpstreamError, UpstreamUnavailable
from ..jsonrpc import Call, RpcError
from ..resilience import Periodic
from .anchor import AnchorConfig, AnchorKeeper, ConsensusHeads, ExecutionClaim
from .canonical import CanonicalChain
from .convert import hex_int
from .headers import HeaderChain
from .shared_heads import FINAL, HEAD, SharedHeads
from .trust import Anchor, Header, TrustError
from .upstreams import HeadVotes, Upstreams, need, unavailable
from .vouching import HeadVouching

__all__ = ["ChainView", "ChainViewConfig"]

log = logging.getLogger("bizra_node.validation")

_HEAD_KEY = ("head", "head")
_FINALIZED_KEY = ("head", "finalized")
_UNREACHABLE = (UpstreamUnavailable, UpstreamError, TimeoutError)
"""What a head fetch raises when no upstream answered (not a malformed answer)."""
_RECHECK_EVERY = 0.5
"""Least time between two background polls of the upstreams' heads for a head above the
limit, s (a liar far ahead does not make the node poll more often than this)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainViewConfig:
    finality_depth: int = 64
    """Blocks behind the head counted final when upstreams have no 'finalized' tag."""
    head_ttl: float = 2.0
    """How long a head may be served before it is asked for again, s."""
    refresh_ahead: float = 0.5
    """Share of ``head_ttl`` left at which one background refresh starts (0: on expiry)."""
    stale_if_error: float = 30.0
    """How long past its ``head_ttl`` the last head may still serve cached answers
    (:meth:`ChainView.serving_head`) while no upstream answers for a newer one, s."""
    anchor: AnchorConfig = field(default_factory=AnchorConfig)
    walk_limit: int = 4096
    """Blocks the node walks parent links over, from the anchor to an answer's block."""
    canonical_blocks: int = 8192
    """Canonical block hashes kept in memory (the anchor is always kept)."""

    def __post_init__(self) -> None:
        if self.finality_depth < 0 or self.head_ttl <= 0 or not 0 <= self.refresh_ahead < 1 \
                or self.stale_if_error < 0:
            raise ValueError("ChainViewConfig: finality_depth >= 0, head_ttl > 0, "
                             "0 <= refresh_ahead < 1, stale_if_error >= 0")


class ChainView:
    def __init__(self, upstreams: Upstreams, config: ChainViewConfig,
                 cache: TieredCache | None = None, shared: SharedHeads | None = None,
                 consensus: ConsensusHeads | None = None,
                 votes: HeadVotes | None = None) -> None:
        self._up = upstreams
        self._votes = votes
        """The pool's head quorum (None: no head rule, as in tests of the view alone)."""
        self._recheck: asyncio.Task[None] | None = None
        self._rechecked = 0.0
        self._held = 0
        """The highest head seen above the limit since the last recheck."""
        self._config = config
        self._cache = cache
        self._shared = shared
        self._words = shared.words if shared is not None else None
        """The heads file as words (None: this worker alone): read on the hit path."""
        self.best_head = 0
        """The highest head seen: what the node reports as the head."""
        self.best_finalized = -1
        self._final_read = 0
        """The shared finalized number last examined (each published value once)."""
        self._final_refused = 0
        """Shared finalized blocks at or below this number are not taken (they were
        shared before this worker learned that finality was broken, forget_finality)."""
        self._finalized_tag_works = True
        self._head_until = 0.0
        """Unix time until which ``best_head`` may be served as the head (``head_ttl``
        after it was last seen): kept here, not looked up in L1, on the hit path."""
        self._refresh_ahead = config.head_ttl * config.refresh_ahead
        self._refresh: asyncio.Task[None] | None = None
        self._unreachable = False
        """The last attempt to ask for the head failed (no upstream answered): until one
        succeeds, cached answers are served with the last head (:meth:`serving_head`)."""
        self._retried = 0.0
        self.canonical = CanonicalChain(config.canonical_blocks)
        self.headers = HeaderChain(upstreams, self.canonical, walk_limit=config.walk_limit)
        self.anchors = AnchorKeeper(upstreams, config.anchor, self.headers.keep_run, consensus)
        self._consensus = consensus
        self.vouching = HeadVouching(upstreams, self.canonical, self.headers, votes,
                                     lambda: self.head_claim)
        self._anchor_refresh: Periodic | None = None

    @property
    def head_claim(self) -> ExecutionClaim | None:
        """The sync committee's latest optimistic execution block (see the module); None
        without a light client or before it has synced."""
        return self._consensus.optimistic if self._consensus is not None else None

    def head_limit(self) -> int | None:
        """The highest head the node may report now: the vouched head or the sync
        committee's, whichever is higher (None: no limit -- no head rule, or one
        upstream in service)."""
        votes = self._votes
        if votes is None or votes.head_quorum < 2:
            return None  # one upstream in service: its word is the quorum
        vouched = votes.vouched_head()
        claim = self.head_claim
        limit = vouched if vouched is not None else self.best_head
        return max(limit, claim.number) if claim is not None else limit

    async def vouches(self, header: Header, anchor: Anchor) -> bool:
        """Is ``header`` (already linked to ``anchor``) at or below the anchor, or an
        ancestor of a head the sync committee or a quorum of upstreams vouched for?
        (vouching.py)"""
        return await self.vouching.vouches(header, anchor)

    # --- the anchor -------------------------------------------------------------------
    async def anchor(self) -> Anchor | None:
        """The block everything proven is linked to (see anchor.py); from memory while
        fresh. None until one could be established."""
        anchor = await self.anchors.anchor()
        kept = self.canonical.anchor
        if anchor is not None and (kept is None or kept.hash != anchor.hash):
            header = self.anchors.header
            assert header is not None
            self.canonical.set_anchor(header.number, header.hash, header.parent_hash)
        if anchor is not None and anchor.number > self.best_finalized:
            self._raise_finalized(anchor.number, anchor.hash)
        return anchor

    def forget_finality(self, fork: int) -> None:
        """A block at or below the finalized anchor was replaced (an incident): nothing
        above ``fork`` is final any more, and the anchor is established anew (by its
        source: quorum, checkpoint or first use) on the next answer that needs one."""
        self.best_finalized = min(self.best_finalized, fork)
        self.anchors.forget()
        if self._words is not None:  # what the workers shared before is not taken again
            self._final_refused = self._final_read = int(self._words[FINAL])

    async def start(self, timeout: float = 5.0) -> None:
        """Establish the anchor and link the blocks from the walk limit below it up to
        the head (bounded by ``timeout``: the node starts anyway, answers unanchored
        until there is an anchor, and links what is missing on demand), then keep the
        anchor fresh in the background."""
        try:
            async with asyncio.timeout(timeout):
                await self.anchor()
                await self.fill_to_head()
                await self.fill_below_anchor()
        except (TimeoutError, UpstreamUnavailable, IntegrityFailure, TrustError) as exc:
            log.warning("no anchor yet (%s): answers are not anchored until there is one",
                        exc)
        if self._anchor_refresh is None:
            self._anchor_refresh = Periodic("anchor-refresh", self.anchor,
                                            self._config.anchor.refresh, logger=log)
            self._anchor_refresh.start()
        self.headers.start()

    async def fill_to_head(self) -> None:
        """Keep the canonical hashes from the anchor up to the head (at most the walk
        limit), so linking a recent block needs no round trip."""
        anchor = self.canonical.anchor
        if anchor is None:
            return
        head = min(await self.head(), anchor.number + self._config.walk_limit)
        missing = self.canonical.gaps(anchor.number + 1, head)
        if missing:
            fetched = await self.headers.fetch(missing)
            for n in sorted(fetched):
                h = fetched[n]
                self.canonical.add(n, h.hash, h.parent_hash)

    async def fill_below_anchor(self) -> None:
        """Keep the canonical hashes of the walk limit's worth of blocks below the
        anchor, linked down from it, so older blocks link without a round trip."""
        anchor = self.canonical.anchor
        if anchor is None or anchor.number == 0:
            return
        low = max(anchor.number - self._config.walk_limit, 0)
        missing = self.canonical.gaps(low, anchor.number - 1)
        if missing:
            fetched = await self.headers.fetch(missing)
            for n in sorted(fetched, reverse=True):
                h = fetched[n]
                self.canonical.add(n, h.hash, h.parent_hash)

    # --- what answers bring ---------------------------------------------------------
    def observe_head(self, head: int) -> int:
        """A head seen in an upstream answer; returns the head to report (never lower
        than any reported before). A fresh head is served for ``head_ttl`` from now."""
        if head > self.best_head:
            limit = self.head_limit()
            if limit is not None and head > limit:
                self._recheck_later(head)
                head = max(limit, self.best_head)
            if head > self.best_head:
                self._raise_head(head)
        if self._cache is not None:
            entry = self._head_entry(self.best_head)
            if self._cache.put(*_HEAD_KEY, entry):  # not when caching is off (L1 size 0)
                self._head_until = entry.expires
        self._unreachable = False
        return self.best_head

    def _recheck_later(self, head: int) -> None:
        """A head above the limit: the upstreams' heads may just be stale (polled every
        HEAD_POLL_INTERVAL), so ask them now, in the background (at most every
        half second), and take ``head`` as far as the quorum then allows."""
        self._held = max(self._held, head)
        now = time.monotonic()
        if self._recheck is not None or now - self._rechecked < _RECHECK_EVERY:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a synchronous caller): the next answer asks
            return
        self._rechecked = now
        self._recheck = loop.create_task(self._recheck_head(), context=contextvars.Context())

    async def _recheck_head(self) -> None:
        assert self._votes is not None
        try:
            await self._votes.poll_heads()
            held, self._held = self._held, 0
            limit = self.head_limit()
            if limit is not None and held > self.best_head:
                self.observe_head(min(held, limit))
        except Exception as exc:  # the next answer above the limit asks again
            log.debug("head recheck failed: %s", exc)
        finally:
            self._recheck = None

    def observe_header(self, header: dict[str, Any]) -> None:
        """A new head header from the head follower (chain/follow.py), as the upstream
        gave it (number, hash, parentHash, ...): the head moves now; the header is
        linked into the canonical chain (or reveals a reorg) in the background."""
        try:
            number = hex_int(header["number"])
        except (KeyError, TypeError, ValueError):
            return
        self.observe_head(number)
        self.headers.follow(header)

    def observe_block(self, number: int) -> None:
        """A block number seen in an answer: the head is at least that high. (Unlike
        :meth:`observe_head`, an older number does not make the head count as fresh.)"""
        if number > self.best_head:
            self.observe_head(number)

    def head_of(self, raw: Any) -> int:
        """An eth_blockNumber result, observed; 503 when it is an error or malformed."""
        try:
            return self.observe_head(hex_int(need(raw, "eth_blockNumber")))
        except (ValueError, TypeError):
            raise unavailable("malformed eth_blockNumber") from None

    def finality_calls(self) -> list[Call]:
        """The calls to add to a batch so :meth:`finalized_at` can answer (none once an
        anchor is known: finality is then the anchor's number)."""
        if self.anchors.current is not None or self._config.anchor.sync_committee:
            return []
        if self._finalized_tag_works:
            return [Call("eth_getBlockByNumber", ("finalized", False))]
        return []

    def finalized_at(self, head: int, raw: list[Any]) -> int:
        """The finalized block number: the anchor's, once there is one; before that,
        from the answers to :meth:`finality_calls`."""
        known = self.known_finalized()
        anchor = self.anchors.current
        if anchor is not None:
            return max(anchor.number, known)
        if self._config.anchor.sync_committee:  # only the sync committee says what is final
            return known
        finalized = head - self._config.finality_depth
        block_hash = b""
        if raw:
            value = raw[0]
            if isinstance(value, dict) and isinstance(value.get("number"), str):
                finalized = hex_int(value["number"])
                block_hash = _hash_bytes(value.get("hash"))
            elif isinstance(value, RpcError):
                self._finalized_tag_works = False
        if finalized > self.best_finalized:
            self._raise_finalized(finalized, block_hash)
        return max(finalized, self.best_finalized)

    def known_finalized(self) -> int:
        """The highest finalized block number this worker knows, without asking anyone
        (the hit path): its own, or a higher one another worker of the node has shown
        (read from the heads file) unless it contradicts the hash this worker holds at
        that number. (Before an anchor and any finalized answer: -1.)"""
        words = self._words
        if words is not None:
            shared = words[FINAL]
            if shared > self.best_finalized and shared != self._final_read:
                self._take_finalized(shared)
        return self.best_finalized

    # --- asking ---------------------------------------------------------------------
    async def block_number(self) -> int:
        """The head, asked of an upstream now (and observed)."""
        (raw,) = await self._up.batch([Call("eth_blockNumber")])
        votes = self._votes
        if votes is not None and votes.vouched_head() is None:
            await votes.poll_heads()  # too few heads known for the quorum: ask them all
        return self.head_of(raw)

    async def head(self) -> int:
        """The head, from cache for up to ``head_ttl``; never goes backwards."""
        if self._cache is None:
            return await self.block_number()
        head = self.fresh_head()
        if head is not None:
            return head
        # from L2 (another worker's) or upstream, one fetch per worker at a time
        try:
            entry = await self._cache.fetch(*_HEAD_KEY, self._compute_head)
        except _UNREACHABLE:
            self._unreachable = True
            raise
        if entry.head > self.best_head:
            self._raise_head(entry.head)
        if entry.expires > self._head_until and self._cache.peek(*_HEAD_KEY) is entry:
            self._head_until = entry.expires  # an L2 answer L1 now holds
        return self.best_head

    async def finalized(self) -> int:
        """The highest finalized block number known, refreshed at most every
        ``head_ttl``; like the head, it never goes backwards. Once an anchor is known
        it is the anchor's number (what :meth:`finalized_at` would answer), without
        asking anyone: a miss then needs no round trip for it."""
        known = self.known_finalized()
        anchor = self.anchors.current
        if anchor is not None:
            return max(anchor.number, known)
        if self._cache is None:
            return await self._compute_finalized()
        entry = self._cache.get(*_FINALIZED_KEY)
        if entry is None:
            entry = await self._cache.fetch(*_FINALIZED_KEY, self._finalized_entry)
        return max(entry.head, self.best_finalized)

    def fresh_head(self) -> int | None:
        """The hit path: the head while it is fresh (None once ``head_ttl`` has passed);
        in its last part, one background refresh is started and the current value
        is served meanwhile. A higher head another worker of the node has shown is
        taken first (and counts as fresh): one load from the heads file."""
        words = self._words
        if words is not None and words[HEAD] > self.best_head:
            self.observe_head(words[HEAD])
        left = self._head_until - time.time()
        if left <= 0:
            return None
        if left < self._refresh_ahead and self._refresh is None:
            # its own (empty) context: not bound by the deadline of the request that
            # happened to start it
            self._refresh = asyncio.get_running_loop().create_task(
                self._refresh_head(), context=contextvars.Context())
        return self.best_head

    def serving_head(self) -> int | None:
        """The head cached answers are served with (the REST hit path): the fresh head;
        else, while the refresh started ahead of expiry has not come back (a slow
        upstream) or the last attempt to ask failed (no upstream answered: a breaker
        open, timeouts), the last head for up to ``stale_if_error`` s past its TTL, with
        one background retry at a time (at most every half second), so an upstream
        outage or an overload does not turn every hit into a wait or a 503. Answers
        count from the head they are served with (confirmations, the block an account
        is at), so a stale head only understates them. None: ask."""
        head = self.fresh_head()
        if head is not None or self.best_head <= 0:
            return head
        now = time.time()
        if now - self._head_until > self._config.stale_if_error:
            return None
        if self._refresh is not None:  # asked for since before it expired: a slow upstream
            return self.best_head
        if not self._unreachable:
            return None
        if now - self._retried >= _RECHECK_EVERY:
            self._retried = now
            self._refresh = asyncio.get_running_loop().create_task(
                self._refresh_head(), context=contextvars.Context())
        return self.best_head

    async def close(self) -> None:
        """Stop the anchor refresh and wait for a head refresh in flight (called when
        the node stops)."""
        if self._anchor_refresh is not None:
            await self._anchor_refresh.stop()
            self._anchor_refresh = None
        await self.headers.stop()
        await self.vouching.close()
        pending = self._recheck
        if pending is not None:
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)
        task = self._refresh
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # --- internals ------------------------------------------------------------------
    def _raise_head(self, head: int) -> None:
        """A higher head: this worker's, and the node's (heads file)."""
        self.best_head = head
        if self._shared is not None:
            self._shared.raise_head(head)

    def _raise_finalized(self, number: int, block_hash: bytes) -> None:
        """A higher finalized block: this worker's, and the node's (heads file)."""
        self.best_finalized = number
        if self._shared is not None:
            self._shared.publish_finalized(number, block_hash)

    def _take_finalized(self, shared: int) -> None:
        """Take the finalized block another worker published, unless it contradicts
        the canonical hash held here at its number (then it is said, and not taken)."""
        assert self._shared is not None
        record = self._shared.finalized()
        if record is None:  # caught half-written: read again next time
            return
        self._final_read = shared
        number, block_hash = record
        if number <= self.best_finalized or number <= self._final_refused:
            return
        kept = self.canonical.hash_at(number)
        if kept is not None and any(block_hash) and kept != block_hash:
            log.critical("another worker's finalized block %d is 0x%s, this worker holds "
                         "0x%s: not taken (a reorg below finality, or a lying upstream)",
                         number, block_hash.hex(), kept.hex())
            return
        self.best_finalized = number

    async def _refresh_head(self) -> None:
        try:
            await self.block_number()  # stores the fresh head in the cache on the way
        except Exception as exc:  # the next request past expiry asks (and reports) itself
            if isinstance(exc, _UNREACHABLE):
                self._unreachable = True
            log.debug("head refresh failed: %s", exc)
        finally:
            self._refresh = None

    def _head_entry(self, head: int) -> Entry:
        return Entry(body=b"%d" % head, expires=time.time() + self._config.head_ttl, head=head,
                     block=head)

    async def _compute_head(self, _: str) -> Entry:
        return self._head_entry(await self.block_number())

    async def _compute_finalized(self) -> int:
        raw = await self._up.batch([Call("eth_blockNumber"), *self.finality_calls()])
        try:
            return self.finalized_at(self.head_of(raw[0]), raw[1:])
        except (ValueError, TypeError):
            raise unavailable("malformed finalized block") from None

    async def _finalized_entry(self, _: str) -> Entry:
        return self._head_entry(await self._compute_finalized())


def _hash_bytes(value: Any) -> bytes:
    """A block hash as given (0x + 64 hex digits) as bytes; empty when it is not one."""
    if isinstance(value, str) and len(value) == 66 and value.startswith("0x"):
        try:
            return bytes.fromhex(value[2:])
        except ValueError:
            return b""
    return b""
