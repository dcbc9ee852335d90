"""The anchor: the one block hash everything the node proves is linked to.

Where it comes from, in order of preference:

* **checkpoint** -- ANCHOR_CHECKPOINT pins ``number:hash`` (checked by the operator by
  means they trust); newer finalized blocks become the anchor only once they are
  linked to it by parent hashes.
* **quorum** -- with two upstreams or more, the finalized block that ANCHOR_QUORUM of
  them agree on (same number, same hash, each hash recomputed from its header).
  Upstreams at different finalized heights are compared at the highest number a quorum
  of them has finalized.
* **first-use** -- with one upstream, its finalized block is trusted the first time it
  is seen; after that, newer finalized blocks must link back to it.
* **sync-committee** -- ANCHOR_SOURCE=beacon: the finalized execution block (number,
  hash) the beacon chain's sync committee signed, as the light client
  (bizra_node.consensus.BeaconSource, passed in as ``consensus``) last verified it. The
  upstreams only serve its header: one whose block at that number has another hash
  fails ``anchor_hash`` (an upstream integrity failure, counted against it; the pool
  asks the next), it never becomes the anchor. Until the light client has synced there
  is no anchor. Each anchor stands on the sync committee's signature, so it is not
  linked to the one before (a quorum's is not either).

**Anchor capture** (docs/trust.md): a new finalized anchor (quorum, checkpoint, first
use) must descend from the one the node holds. Every upstream is asked for its headers
by number from the anchor up to the candidate (:meth:`AnchorKeeper._descends`, each
hash recomputed); the candidate is taken only when one upstream's headers link the
anchor to it by parent hashes. An upstream whose headers do not descend from the anchor
fails ``parent_link``, and one that named the candidate its finalized block but serves
another block at that number fails ``anchor_hash``: only these are blamed (the pool
counts them and takes them out of rotation). A quorum that cannot agree on the block
at a finalized number, a candidate that does not descend from the anchor, or a block
at the pinned checkpoint's number that is not the checkpoint is an **incident**, not an
outage: said at CRITICAL, told to the incident listeners (the metric
``anchor_incidents_total{reason}``, the ``anchor_incident`` gauge, /ready ``degraded``),
and the node keeps the anchor it had and keeps serving what it proves against it.

The anchor is refreshed at most every Tuning.anchor_refresh seconds (4), on demand (callers await
:meth:`AnchorKeeper.anchor`, which answers from memory while fresh) and in the
background. Finality in answers is the anchor's number: a block at or below it is
final.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import IntegrityFailure, UpstreamError, UpstreamUnavailable
from ..jsonrpc import Call, RpcError
from .headers import hooked_header
from .trust import Anchor, AnchorSource, Check, Header, TrustError, verify_header
from .upstreams import Upstreams

__all__ = ["INCIDENT_REASONS", "AnchorConfig", "AnchorKeeper", "ConsensusHeads",
           "ExecutionClaim", "parse_checkpoint"]

log = logging.getLogger("bizra_node.validation")

_FINALIZED = Call("eth_getBlockByNumber", ("finalized", False))
_BATCH = 100
"""Headers asked of each upstream in one batch when linking a new anchor."""

NO_QUORUM = "no_quorum"
UNLINKED = "unlinked"
CHECKPOINT = "checkpoint"
INCIDENT_REASONS = (NO_QUORUM, UNLINKED, CHECKPOINT)
"""Why an anchor refresh was an incident: the upstreams that answered at a finalized
number could not agree on its block (``no_quorum``); the finalized block named does not
descend from the anchor held (``unlinked``); an upstream's block at the pinned
checkpoint's number is not the checkpoint (``checkpoint``)."""


def parse_checkpoint(text: str) -> tuple[int, bytes] | None:
    """ANCHOR_CHECKPOINT ``number:0xhash`` (empty: none). Raises ValueError."""
    text = text.strip()
    if not text:
        return None
    number, sep, block_hash = text.partition(":")
    raw = block_hash.strip().removeprefix("0x")
    if not sep or not number.strip().isascii() or not number.strip().isdigit() \
            or len(raw) != 64:
        raise ValueError("ANCHOR_CHECKPOINT must be NUMBER:0x<64 hex digits>")
    return int(number), bytes.fromhex(raw)


class ExecutionClaim(Protocol):
    """An execution block a light client verified (consensus.ExecutionHead)."""

    @property
    def slot(self) -> int: ...
    @property
    def number(self) -> int: ...
    @property
    def block_hash(self) -> bytes: ...


class ConsensusHeads(Protocol):
    """What the anchor reads of the light client (consensus.BeaconSource): the latest
    verified finalized and optimistic execution blocks, None until it has synced."""

    @property
    def finalized(self) -> ExecutionClaim | None: ...
    @property
    def optimistic(self) -> ExecutionClaim | None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class AnchorConfig:
    upstreams: int = 1
    """How many upstreams there are (one: first use, unless a checkpoint is pinned)."""
    quorum: int = 2
    checkpoint: tuple[int, bytes] | None = None
    refresh: float = 2.0
    finality_depth: int = 64
    """Blocks behind the head taken as finalized when upstreams have no 'finalized' tag."""
    sync_committee: bool = False
    """ANCHOR_SOURCE=beacon: the light client's finalized block is the anchor."""
    walk_limit: int = 4096
    """The most blocks a new anchor may be above the one held (TRUST_WALK_LIMIT)."""

    def __post_init__(self) -> None:
        if self.quorum < 1 or self.refresh <= 0 or self.upstreams < 1:
            raise ValueError("AnchorConfig: quorum >= 1, refresh > 0, upstreams >= 1")

    @property
    def source(self) -> AnchorSource:
        if self.sync_committee:
            return AnchorSource.SYNC_COMMITTEE
        if self.checkpoint is not None:
            return AnchorSource.CHECKPOINT
        if self.upstreams >= 2 and self.quorum >= 2:
            return AnchorSource.QUORUM
        return AnchorSource.FIRST_USE


Keep = Callable[[list[Header]], None]
"""(the old anchor's header, the proven headers above it, the new anchor's header) ->
None: the run is kept as canonical, the last header as the anchor."""
IncidentListener = Callable[[str | None], None]
"""Called with the reason of each incident, and with None when a refresh ends without
one after an incident (the incident is over)."""


class AnchorKeeper:
    def __init__(self, upstreams: Upstreams, config: AnchorConfig, keep: Keep,
                 consensus: ConsensusHeads | None = None) -> None:
        if config.sync_committee and consensus is None:
            raise ValueError("AnchorKeeper: a sync-committee anchor needs the light client")
        self._up = upstreams
        self.config = config
        self.source = config.source
        self._consensus = consensus
        self._keep = keep
        self._listeners: list[IncidentListener] = []
        self.incident: dict[str, Any] | None = None
        """The incident the last refresh ended in (reason, message, since, count), None
        when it ended without one."""
        self.incidents = 0
        self.current: Anchor | None = None
        self.header: Header | None = None
        self._at = 0.0
        self._refreshing: asyncio.Task[Anchor | None] | None = None
        self.failures = 0
        """Refreshes in a row that could not establish a newer anchor."""

    def add_incident_listener(self, fn: IncidentListener) -> None:
        self._listeners.append(fn)

    def _incident(self, reason: str, message: str) -> None:
        """Say an incident (CRITICAL on the first of a run, when the reason changes, and
        every 100th), count it and tell the listeners; the anchor is kept."""
        self.incidents += 1
        was = self.incident
        if was is None or was["reason"] != reason:
            was = self.incident = {"reason": reason, "message": message,
                                   "since": time.time(), "count": 1}
        else:
            was["count"] += 1
            was["message"] = message
        count = was["count"]
        (log.critical if count == 1 or count % 100 == 0 else log.debug)(
            "ANCHOR INCIDENT (%s): %s; the anchor stays at %s", reason, message,
            self.current.number if self.current else "none",
            extra={"anchor": self.current.number if self.current else None,
                   "reason": reason})
        for fn in self._listeners:
            fn(reason)

    def _settled(self) -> None:
        if self.incident is not None:
            log.warning("anchor incident (%s) over: the anchor moves again (%s)",
                        self.incident["reason"],
                        self.current.number if self.current else "none")
            self.incident = None
            for fn in self._listeners:
                fn(None)

    def expire(self) -> None:
        """The next :meth:`anchor` refreshes (the light client's finalized block moved)."""
        self._at = 0.0

    def forget(self) -> None:
        """Drop the anchor (it was reorged away): the next :meth:`anchor` establishes one
        without linking it to the old."""
        self.current = None
        self.header = None
        self._at = 0.0

    @property
    def fresh(self) -> bool:
        return self.current is not None and time.monotonic() - self._at < self.config.refresh

    async def anchor(self) -> Anchor | None:
        """The anchor, from memory while fresh; else refreshed (one refresh at a time).
        None when none could be established yet (answers are then not anchored)."""
        if self.fresh:
            return self.current
        task = self._refreshing
        if task is None:
            task = self._refreshing = asyncio.ensure_future(self._refresh())
            task.add_done_callback(self._refreshed)
        return await asyncio.shield(task)

    def _refreshed(self, task: asyncio.Task[Anchor | None]) -> None:
        self._refreshing = None
        if not task.cancelled():
            task.exception()

    async def _refresh(self) -> Anchor | None:
        try:
            if self.source is AnchorSource.SYNC_COMMITTEE:
                candidate = await self._signed()
            elif self.source is AnchorSource.QUORUM:
                candidate = await self._quorum()
            else:
                candidate = await self._finalized_header()
            if candidate is not None:
                if await self._adopt(*candidate):
                    self._settled()
                self.failures = 0
        except (TrustError, UpstreamError, UpstreamUnavailable, IntegrityFailure, ValueError,
                TypeError, KeyError) as exc:
            self.failures += 1
            (log.warning if self.failures in (1, 10, 100) else log.debug)(
                "anchor not refreshed (%s): %s", self.source.value, exc,
                extra={"anchor": self.current.number if self.current else None})
        self._at = time.monotonic()
        return self.current

    async def _adopt(self, header: Header, voters: frozenset[str] = frozenset()) -> bool:
        """Make ``header`` the anchor when it descends from the one held (each source
        but the sync committee's); ``voters``: the upstreams that named it their
        finalized block. False when it was an incident (the anchor is kept)."""
        now = self.header
        if now is None and self.source is AnchorSource.CHECKPOINT:
            now = await self._pinned()
            self._keep([now])
            self._set(now)
        if now is not None and header.number <= now.number:
            if header.number == now.number and header.hash != now.hash \
                    and self.source is AnchorSource.SYNC_COMMITTEE:
                log.critical("finalized block %d changed: 0x%s, was 0x%s (a reorg below "
                             "finality)", header.number, header.hash.hex(), now.hash.hex())
            elif header.number == now.number and header.hash != now.hash:
                self._incident(UNLINKED, f"the finalized block {header.number} named is "
                                         f"0x{header.hash.hex()}, the anchor is "
                                         f"0x{now.hash.hex()}")
                return False
            return True  # never backwards
        if now is not None and self.source is not AnchorSource.SYNC_COMMITTEE:
            run = await self._descends(now, header, voters)
            if run is None:
                return False
            self._keep(run)
        self._set(header)
        return True

    async def _pinned(self) -> Header:
        """The pinned checkpoint's header, from an upstream whose block at its number is
        the checkpoint (one serving another block there fails ``anchor_hash``: blamed,
        an incident, and the next upstream is asked)."""
        number, pinned = self.config.checkpoint  # type: ignore[misc]
        found: list[Header] = []

        async def is_checkpoint(answers: list[Any], upstream: str) -> None:
            header = hooked_header(answers[0], number, upstream)
            if header.number != number or header.hash != pinned:
                self._incident(CHECKPOINT, f"upstream {upstream} serves 0x{header.hash.hex()} "
                                           f"as block {number}, not the pinned checkpoint "
                                           f"0x{pinned.hex()} (another chain)")
                raise IntegrityFailure(Check.ANCHOR_HASH.value,
                                       f"block {number} is not the pinned checkpoint")
            found.append(header)

        await self._up.batch([Call("eth_getBlockByNumber", (hex(number), False))],
                             verify=is_checkpoint)
        return found[-1]

    async def _descends(self, old: Header, new: Header,
                        voters: frozenset[str]) -> list[Header] | None:
        """The headers from ``old`` to ``new`` linked by parent hashes, as one upstream
        serves them by number (each upstream is asked; see the module for who is
        blamed). None when none links them: an incident. Raises UpstreamUnavailable
        when no upstream served the whole run (an outage, not an incident)."""
        if new.number - old.number > self.config.walk_limit:
            self._incident(UNLINKED, f"the finalized block {new.number} named is "
                                     f"{new.number - old.number} blocks above the anchor "
                                     f"{old.number}, past TRUST_WALK_LIMIT")
            return None
        numbers = list(range(old.number + 1, new.number + 1))
        runs: dict[str, dict[int, Header]] = {}
        out: set[str] = set()
        for start in range(0, len(numbers), _BATCH):
            chunk = numbers[start:start + _BATCH]
            asked = await self._up.ask_each(
                [Call("eth_getBlockByNumber", (hex(n), False)) for n in chunk])
            for name, answers in asked.items():
                if name in out:
                    continue
                if not answers or len(answers) != len(chunk):
                    out.add(name)  # did not answer: not blamed, no run
                    continue
                run = runs.setdefault(name, {})
                for n, raw in zip(chunk, answers, strict=True):
                    if not isinstance(raw, dict):
                        out.add(name)  # does not have the block (yet): not blamed
                        break
                    try:
                        header = verify_header(raw)
                    except (TrustError, TypeError, KeyError, ValueError):
                        self._up.blame(name, IntegrityFailure(
                            Check.HEADER_HASH.value, f"header {n} does not hash"))
                        out.add(name)
                        break
                    if header.number != n:
                        self._up.blame(name, IntegrityFailure(
                            Check.HEADER_HASH.value, f"asked for header {n}, got "
                                                     f"{header.number}"))
                        out.add(name)
                        break
                    run[n] = header
        linked: list[Header] | None = None
        complete = 0
        for name, run in runs.items():
            if name in out:
                continue
            complete += 1
            chain = [old, *(run[n] for n in numbers)]
            broken = next((above for below, above in itertools.pairwise(chain)
                           if above.parent_hash != below.hash), None)
            if broken is not None:
                self._up.blame(name, IntegrityFailure(
                    Check.PARENT_LINK.value, f"its block {broken.number} does not descend "
                                             f"from the anchor {old.number}"))
                log.warning("anchor: upstream %s serves a chain that does not descend from "
                            "the anchor %d (block %d): blamed", name, old.number,
                            broken.number)
            elif chain[-1].hash != new.hash:
                if name in voters:
                    self._up.blame(name, IntegrityFailure(
                        Check.ANCHOR_HASH.value,
                        f"named 0x{new.hash.hex()} its finalized block {new.number} but "
                        f"serves 0x{chain[-1].hash.hex()} at that number"))
                    log.warning("anchor: upstream %s named a finalized block it does not "
                                "serve at its number %d: blamed", name, new.number)
            elif linked is None:
                linked = chain
        if linked is not None:
            return linked
        if not complete:
            raise UpstreamUnavailable(f"no upstream served the headers {numbers[0]} to "
                                      f"{numbers[-1]} to link the new anchor")
        self._incident(UNLINKED, f"the finalized block {new.number} (0x{new.hash.hex()}) "
                                 f"named by {', '.join(sorted(voters)) or 'an upstream'} "
                                 f"does not descend from the anchor {old.number} "
                                 f"(0x{old.hash.hex()})")
        return None

    def _set(self, header: Header) -> None:
        self.header = header
        self.current = Anchor(number=header.number, hash=header.hash, source=self.source)

    async def _signed(self) -> tuple[Header, frozenset[str]] | None:
        """The header of the light client's finalized execution block, as an upstream
        serves it and only if its hash is the one signed (None before the light client
        has synced)."""
        assert self._consensus is not None
        claim = self._consensus.finalized
        if claim is None:
            return None
        number, signed = claim.number, claim.block_hash
        found: list[Header] = []

        async def same_block(answers: list[Any], upstream: str) -> None:
            header = hooked_header(answers[0], number, upstream)
            if header.number != number or header.hash != signed:
                log.warning("upstream %s serves 0x%s as block %d; the sync committee signed "
                          "0x%s: refused (an integrity failure, not a new anchor)", upstream,
                          header.hash.hex(), number, signed.hex())
                raise IntegrityFailure(Check.ANCHOR_HASH.value,
                                       f"block {number} is 0x{header.hash.hex()}, the sync "
                                       f"committee signed 0x{signed.hex()}")
            found.append(header)

        await self._up.batch([Call("eth_getBlockByNumber", (hex(number), False))],
                             verify=same_block)
        return found[-1], frozenset()

    async def _header_at(self, number: int) -> tuple[Header, frozenset[str]]:
        named: list[str] = []

        async def note(answers: list[Any], upstream: str) -> None:
            named.append(upstream)

        (raw,) = await self._up.batch([Call("eth_getBlockByNumber", (hex(number), False))],
                                      verify=note)
        if not isinstance(raw, dict):
            raise UpstreamUnavailable(f"no header for block {number}")
        return verify_header(raw), frozenset(named[-1:])

    async def _finalized_header(self) -> tuple[Header, frozenset[str]]:
        """The upstreams' finalized block (through the pool, with failover), and the
        upstream that named it."""
        named: list[str] = []

        async def note(answers: list[Any], upstream: str) -> None:
            named.append(upstream)

        (raw,) = await self._up.batch([_FINALIZED], verify=note)
        if isinstance(raw, RpcError) or raw is None:  # no 'finalized' tag: head - depth
            (head,) = await self._up.batch([Call("eth_blockNumber")])
            number = max(int(head, 16) - self.config.finality_depth, 0)
            return await self._header_at(number)
        return verify_header(raw), frozenset(named[-1:])

    async def _quorum(self) -> tuple[Header, frozenset[str]] | None:
        """The finalized block ``quorum`` upstreams agree on and who named it, or None
        (an incident when enough answered at a finalized number but disagree)."""
        need = self.config.quorum
        seen = await self._each([_FINALIZED])
        votes = Counter((h.number, h.hash) for h in seen.values())
        for (number, block_hash), count in votes.most_common():
            if count >= need:
                voters = frozenset(n for n, h in seen.items()
                                   if (h.number, h.hash) == (number, block_hash))
                return next(h for h in seen.values()
                            if (h.number, h.hash) == (number, block_hash)), voters
        numbers = sorted((h.number for h in seen.values()), reverse=True)
        if len(numbers) < need:
            log.warning("anchor: %d upstream(s) answered, %d needed for a quorum",
                        len(numbers), need)
            return None
        target = numbers[need - 1]  # the highest number `need` of them have finalized
        at = await self._each([Call("eth_getBlockByNumber", (hex(target), False))])
        there = {n: h for n, h in at.items() if h.number == target}
        agreeing = Counter(h.hash for h in there.values())
        if agreeing:
            block_hash, count = agreeing.most_common(1)[0]
            if count >= need:
                return next(h for h in there.values() if h.hash == block_hash), frozenset(
                    n for n, h in there.items() if h.hash == block_hash)
        if len(there) >= need:
            self._incident(NO_QUORUM, f"{len(there)} upstreams serve {len(agreeing)} "
                                      f"different blocks at the finalized number {target}; "
                                      f"{need} must agree")
        else:
            log.warning("anchor: no %d upstreams agree on block %d", need, target)
        return None

    async def _each(self, calls: list[Call]) -> dict[str, Header]:
        """Each upstream's answer to ``calls[0]`` as a verified header (those that did
        not answer, or answered a header that does not hash, are left out)."""
        out: dict[str, Header] = {}
        for name, answers in (await self._up.ask_each(calls)).items():
            if not answers or not isinstance(answers[0], dict):
                continue
            try:
                out[name] = verify_header(answers[0])
            except TrustError as exc:
                log.warning("anchor: %s answered a finalized header that fails %s", name,
                            exc.check.value)
        return out
