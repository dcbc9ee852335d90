"""TieredCache: L1 (in process) -> L2 (Redis) -> compute, one computation per key.

``fetch(kind, subject, compute, head)`` is the way through all tiers; ``get`` and
``get_at`` are the synchronous hit path (L1 only), ``put`` stores what was computed
elsewhere (a head seen on the way) and ``peek`` looks without counting. An L1 hit is
a dict lookup and returns the stored Entry (no I/O, no task, no allocation beyond
the key). On an L1 miss, concurrent callers for the same key share one singleflight:
one L2 lookup and, if that misses, one ``compute`` (one upstream round trip). L2 hits
are promoted to L1; computed entries go to L1 at once and to L2 in the background (a
slow Redis never delays an answer; ``close`` waits for pending writes). ``compute``
raising means an error: nothing is cached.

A reorg may land while a computation is in flight: its answer was read from the old
chain and would be stored after ``invalidate_from`` had dropped its peers. Each
invalidation is numbered (invalidations.py); an entry whose computation saw one that
covers it (its block at or above the first replaced block) is computed once more, and
is not cached if that one is overtaken too; an entry stored with ``put`` (the answers of a /rpc
batch) carries the ``reorg_mark`` taken before its upstream call and is not stored when
overtaken. ``invalidate_l2_from`` waits for the L2 writes already scheduled, so none
lands after the delete.

Keys in Redis carry the entry format version, the network and the kind:
``<prefix>:v<FORMAT_VERSION>:<network id>:<kind>:<subject>``, so a format change
never misreads old bytes and two networks never share an entry.

Redis is outside the trust boundary: every value is sealed with a MAC over its key
(auth.py, CACHE_SECRET) and read back only when the MAC holds and the entry has the
shape the node writes (entry.check_entry); anything else is a miss, counted as
``cache_l2_errors_total{op="invalid"}`` (or ``"decode"``) and logged (once a second
at most), never served.

Memory is bounded by what is stored, keys included: a subject longer than
KEY_DIGEST_ABOVE characters (a /rpc call with 30 KB of call data) is replaced by its
SHA-256 digest in L1, in the singleflight and in Redis; L1's byte bound counts each
key's bytes with its entry's; an answer larger than ``max_entry_bytes``
(Tuning.cache_max_entry_bytes, 1 MiB) is served but never cached (``cache_oversize_total``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..observability import NodeMetrics, Throttle
from ..resilience import CircuitBreaker, SingleFlight, State
from .auth import EntryAuth, derive_key
from .codec import Codec, CodecError
from .config import CacheConfig
from .entry import Entry, EntryError, decode_entry, encode_entry
from .invalidations import Invalidations
from .l1 import L1Cache
from .l2 import RedisL2, l2_breaker_config, redact_url
from .ttl import TtlPolicy

__all__ = ["FORMAT_VERSION", "KINDS", "Compute", "HeadSource", "TieredCache", "outgrown"]

log = logging.getLogger("bizra_node.cache")

FORMAT_VERSION = 4
"""Bump when Entry or the answer encoding changes: old L2 values are then never read.
2: values are sealed with a MAC (auth.py); long subjects are digests. 3: Entry.block.
4: Entry.proof (/rpc's X-Verification value)."""

KINDS = ("transaction", "block", "address", "head")
ANSWER_KINDS = ("transaction", "block", "address")
"""Kinds clients ask for; ``head`` lookups are internal and kept out of hit_rate."""

Compute = Callable[[str], Awaitable[Entry]]
HeadSource = Callable[[], Awaitable[int]]
Key = tuple[str, str]

_MAX_PENDING_WRITES = 1024
KEY_DIGEST_ABOVE = 256
"""Subjects longer than this (characters) are keyed by their SHA-256 digest."""
_KEY_OVERHEAD = 170
"""Bytes a key costs in L1 beyond its characters: the tuple, two str headers, the
OrderedDict's slot and link (measured with sys.getsizeof and tracemalloc)."""
L2_ERROR_OPS = ("get", "set", "delete", "ping", "skipped", "set_skipped", "decode", "invalid")
"""The ``op`` labels of cache_l2_errors_total (exported at 0 from the start)."""


class TieredCache:
    def __init__(self, config: CacheConfig, metrics: NodeMetrics, *,
                 codec: Codec | None = None) -> None:
        self.metrics = metrics
        self.policy: TtlPolicy = config.policy
        self.l1: L1Cache[Key, Entry] = L1Cache(config.l1_entries, config.l1_max_bytes,
                                               metrics=metrics)
        self.l1_max_ttl = config.l1_max_ttl
        self.codec = codec or Codec(config.codec, config.codec_level)
        self.prefix = f"{config.key_prefix}:v{FORMAT_VERSION}:{config.network_id}:"
        self.max_entry_bytes = config.max_entry_bytes
        self.l2: RedisL2 | None = None
        self._auth: EntryAuth | None = None
        self._bad_entries = Throttle(1.0)
        """Log lines about entries refused from Redis: one a second per kind of fault."""
        if config.redis is not None:
            self._auth = EntryAuth(derive_key(config.secret))
            breaker = CircuitBreaker(
                "redis", l2_breaker_config(config.l2_breaker_failures, config.l2_breaker_reset),
                listeners=(self._breaker_changed,))
            self.l2 = RedisL2(config.redis, timeout=config.l2_timeout, metrics=metrics,
                              breaker=breaker)
        self.short_ttls = False
        """While news of reorgs may be missed (the invalidation feed is down): answers
        that can still change are kept at most TTL_HEAD."""
        self._flight: SingleFlight[Key, Entry] = SingleFlight(on_join=self._joined)
        self._invalidations = Invalidations()
        self._writes: set[asyncio.Task[bool]] = set()
        self._hits = metrics.cache_hits
        self._misses = metrics.cache_misses
        tiers = ("l1", "l2") if self.l2 is not None else ("l1",)
        lookups = [(tier, kind) for tier in tiers for kind in (*KINDS, "rpc")]
        metrics.cache_hits.preset(*lookups)  # a fresh node's hit rate reads 0, not "no data"
        metrics.cache_misses.preset(*lookups)
        metrics.cache_l2_errors.preset(*((op,) for op in L2_ERROR_OPS))
        metrics.cache_oversize.preset(*((kind,) for kind in (*KINDS, "rpc")))
        metrics.dedup_requests.preset(*((kind,) for kind in (*KINDS, "rpc")))

    # --- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        if self.l2 is None:
            log.info("cache: L1 only (no REDIS_URL)")
            return
        state = await self.l2.ping()
        if state["up"]:
            log.info("cache: L1 + Redis L2", extra={"redis": redact_url(self.l2.url)})
            problem = eviction_problem(state["maxmemory"], state["maxmemoryPolicy"])
            if problem is not None:
                log.warning("cache: Redis %s; set maxmemory and maxmemory-policy allkeys-lru "
                            "(docs/operations.md, Redis)", problem,
                            extra={"redis": redact_url(self.l2.url)})
        else:
            log.warning("cache: Redis L2 not answering at start; serving from L1 and upstream "
                        "until it does", extra={"redis": redact_url(self.l2.url),
                                                "error": state.get("error")})

    async def flush(self, timeout: float = 2.0) -> None:
        """Wait, at most ``timeout`` s, for the L2 writes scheduled so far."""
        if self._writes:
            await asyncio.wait(list(self._writes), timeout=timeout)

    async def close(self, timeout: float = 2.0) -> None:
        """Wait (bounded) for pending L2 writes, then close the Redis connections."""
        await self.flush(timeout)
        for task in list(self._writes):
            task.cancel()
        if self.l2 is not None:
            await self.l2.close()

    # --- the interface -------------------------------------------------------------------
    async def fetch(self, kind: str, subject: str, compute: Compute,
                    head: HeadSource | None = None, finalized: int = -1) -> Entry:
        """The entry for (kind, subject): from L1, else L2, else ``compute(subject)``.

        ``head`` gives the current chain head; moving entries computed at an older
        head are not served. ``finalized``: the finalized block number as the caller
        knows it; an entry computed as not final whose blocks are all final by now
        (:func:`outgrown`) is not served either, so an answer never says less about
        finality than one given before. Exceptions from ``compute`` reach every
        waiting caller.
        """
        key = (kind, subject if len(subject) <= KEY_DIGEST_ABOVE else _digest(subject))
        entry = self.l1.get(key)
        if entry is not None and (not entry.moving or head is None
                                  or entry.head >= await head()) \
                and not outgrown(entry, finalized):
            self._hits.inc(("l1", kind))
            return entry
        self._misses.inc(("l1", kind))
        return await self._flight.do(key, self._load, key, compute, head, subject, finalized)

    def get(self, kind: str, subject: str) -> Entry | None:
        """The synchronous hit path: the L1 entry if present and not moving (counted
        as an L1 hit), else None, and the caller goes on with ``fetch`` (which counts
        the miss, or checks a moving entry against the head)."""
        entry = self.l1.get((kind, subject if len(subject) <= KEY_DIGEST_ABOVE
                             else _digest(subject)))
        if entry is None or entry.moving:
            return None
        self._hits.inc(("l1", kind))
        return entry

    def get_at(self, kind: str, subject: str, head: int) -> Entry | None:
        """Like :meth:`get`, but a moving entry is returned too when it was computed
        at ``head`` or later (the caller knows the current head)."""
        entry = self.l1.get((kind, subject if len(subject) <= KEY_DIGEST_ABOVE
                             else _digest(subject)))
        if entry is None or (entry.moving and entry.head < head):
            return None
        self._hits.inc(("l1", kind))
        return entry

    def put(self, kind: str, subject: str, entry: Entry, *, since: int | None = None) -> bool:
        """Store an entry computed elsewhere in L1 only (e.g. a head seen on the way);
        False when L1 does not keep it (disabled, or TTL already over), or when
        ``since`` (:attr:`reorg_mark` before the computation) shows that a reorg
        covering it landed meanwhile."""
        if since is not None and self._invalidations.overtaken(entry, since):
            return False
        return self._to_l1(_key(kind, subject), entry, time.time()) is True

    @property
    def reorg_mark(self) -> int:
        """The invalidations so far: taken before computing an entry for :meth:`put`."""
        return self._invalidations.mark

    def peek(self, kind: str, subject: str) -> Entry | None:
        """The L1 entry without counting a hit or miss (internal lookups)."""
        return self.l1.get(_key(kind, subject))

    # --- reorgs ---------------------------------------------------------------------------
    def invalidate_from(self, block: int, *, final_too: bool = False) -> int:
        """Drop from this worker's L1 every entry that depends on ``block`` or a later
        one (a reorg replaced them); final entries only when ``final_too`` (a reorg
        below finality). Returns how many went; L2 is :meth:`invalidate_l2_from`'s."""
        self._invalidations.note(block, final_too=final_too)
        gone = self.l1.drop_where(
            lambda e: e.block >= block and (final_too or not e.final), "reorg")
        self.metrics.cache_reorg_invalidated.inc(("l1",), gone)
        return gone

    async def invalidate_l2_from(self, block: int) -> int:
        """Delete from Redis every entry noted at ``block`` or above (shared by every
        node: one node does it for all)."""
        if self.l2 is None:
            return 0
        await self.flush()  # writes scheduled before the reorg land before the delete
        gone = await self.l2.drop_from(self.prefix + "blocks", block, prefix=self.prefix)
        self.metrics.cache_reorg_invalidated.inc(("l2",), gone)
        return gone

    def forget_recent(self) -> int:
        """Drop every non-final L1 entry (after reorg news may have been missed)."""
        return self.l1.drop_where(lambda e: not e.final, "reorg")

    def seal(self, name: str, payload: bytes) -> bytes:
        """``payload`` sealed under ``name`` with the entries' MAC (CACHE_SECRET), for
        messages other nodes read from Redis (a channel's name as ``name``); as is
        without Redis."""
        return payload if self._auth is None else self._auth.seal(name, payload)

    def unseal(self, name: str, stored: bytes) -> bytes | None:
        """The payload :meth:`seal` sealed under ``name``; None for anything else."""
        return stored if self._auth is None else self._auth.open(name, stored)

    def key(self, kind: str, subject: str) -> str:
        """The Redis key of (kind, subject)."""
        return self.prefix + ":".join(_key(kind, subject))

    # --- memory guard ----------------------------------------------------------------------
    def trim(self, fraction: float) -> int:
        return self.l1.trim(fraction)

    def clear(self) -> int:
        return self.l1.clear()

    # --- loading -------------------------------------------------------------------------
    async def _load(self, key: Key, compute: Compute, head: HeadSource | None,
                    subject: str, finalized: int) -> Entry:
        kind = key[0]
        if self.l2 is not None:
            entry = await self._from_l2(key)
            if entry is not None and (not entry.moving or head is None
                                      or entry.head >= await head()) \
                    and not outgrown(entry, finalized):
                self._hits.inc(("l2", kind))
                self._to_l1(key, entry, time.time())
                return entry
            self._misses.inc(("l2", kind))
        invalidations = self._invalidations
        since = invalidations.mark
        entry = await compute(subject)
        if invalidations.overtaken(entry, since):  # read from a chain a reorg replaced
            since = invalidations.mark
            entry = await compute(subject)
            if invalidations.overtaken(entry, since):
                return entry  # the chain keeps moving under it: served, not kept
        now = time.time()
        ttl = entry.expires - now
        if self.short_ttls and not entry.final and ttl > self.policy.head:
            ttl = self.policy.head
        if ttl > 0 and self._to_l1(key, entry, now) is not None and self.l2 is not None:
            self._write_l2(key, entry, ttl)
        return entry

    async def _from_l2(self, key: Key) -> Entry | None:
        assert self.l2 is not None and self._auth is not None
        redis_key = self.prefix + ":".join(key)
        stored = await self.l2.get(redis_key)
        if stored is None:
            return None
        payload = self._auth.open(redis_key, stored)
        if payload is None:
            self._bad_l2_entry(key, "invalid", "its MAC does not hold (written without "
                               "CACHE_SECRET, altered, or moved from another key)")
            return None
        try:
            entry = decode_entry(self.codec.decode(payload))
        except (CodecError, EntryError) as exc:  # authentic but unreadable: a node's bug
            self._bad_l2_entry(key, "decode", str(exc))
            return None
        return entry if entry.expires > time.time() else None

    def _bad_l2_entry(self, key: Key, op: str, why: str) -> None:
        """Count and log (at most once a second per fault) an entry from Redis not served
        (its MAC does not hold, or it does not decode)."""
        self.metrics.cache_l2_errors.inc((op,))
        suppressed = self._bad_entries.allow((op, key[0]))
        if suppressed is not None:
            log.warning("cache: refused an entry from Redis: %s", why,
                        extra={"kind": key[0], "suppressed": suppressed})

    def _to_l1(self, key: Key, entry: Entry, now: float) -> bool | None:
        """Put ``entry`` in L1 (True), or say that L1 keeps it not (False), or that it
        is too large to cache at all (None: counted)."""
        size = entry.size
        if size > self.max_entry_bytes:
            self.metrics.cache_oversize.inc((key[0],))
            return None
        ttl = entry.expires - now
        if self.short_ttls and not entry.final and ttl > self.policy.head:
            ttl = self.policy.head
        return self.l1.set(key, entry, size + len(key[0]) + len(key[1]) + _KEY_OVERHEAD,
                           ttl if ttl < self.l1_max_ttl else self.l1_max_ttl)

    def _write_l2(self, key: Key, entry: Entry, ttl: float) -> None:
        assert self.l2 is not None and self._auth is not None
        if len(self._writes) >= _MAX_PENDING_WRITES or self.l2.breaker.state is State.OPEN:
            self.metrics.cache_l2_errors.inc(("set_skipped",))
            return
        raw = encode_entry(entry)
        redis_key = self.prefix + ":".join(key)
        stored = self._auth.seal(redis_key, self.codec.encode(raw))
        self.metrics.cache_compressed_bytes.inc(("raw",), len(raw))
        self.metrics.cache_compressed_bytes.inc(("stored",), len(stored))
        task = asyncio.ensure_future(
            self.l2.set_indexed(redis_key, stored, ttl, self.prefix + "blocks", entry.block)
            if entry.block >= 0 else self.l2.set(redis_key, stored, ttl))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    def _joined(self, key: Key) -> None:
        self.metrics.dedup_requests.inc((key[0],))

    def _breaker_changed(self, breaker: CircuitBreaker, old: State, new: State) -> None:
        if new is State.CLOSED:
            log.info("redis L2 answering again")

    # --- reporting -------------------------------------------------------------------------
    async def ready(self) -> dict[str, Any]:
        """Readiness entry for Redis: always ok (a Redis outage degrades, it does not stop
        the node); says whether L2 is configured and answering."""
        if self.l2 is None:
            return {"ok": True, "configured": False, "mode": "l1-only"}
        state = await self.l2.ping()
        return {"ok": True, "configured": True,
                "status": "up" if state["up"] else "degraded", **state}

    def stats(self) -> dict[str, Any]:
        """Counters for /api/metrics: hit rate overall and per kind, tiers, compression."""
        hits, misses = self._hits, self._misses
        keys: dict[str, dict[str, Any]] = {}
        total_hits = total_lookups = 0.0
        for kind in KINDS:
            l1_hits, l2_hits = hits.get(("l1", kind)), hits.get(("l2", kind))
            lookups = l1_hits + misses.get(("l1", kind))
            kind_hits = l1_hits + l2_hits
            keys[kind] = {"hits": int(kind_hits), "misses": int(lookups - kind_hits),
                          "l1_hits": int(l1_hits), "l2_hits": int(l2_hits),
                          "hit_rate": round(kind_hits / lookups, 4) if lookups else 0.0,
                          "deduplicated": int(self.metrics.dedup_requests.get((kind,)))}
            if kind in ANSWER_KINDS:
                total_hits += kind_hits
                total_lookups += lookups
        raw = self.metrics.cache_compressed_bytes.get(("raw",))
        stored = self.metrics.cache_compressed_bytes.get(("stored",))
        l2: dict[str, Any] = {"configured": self.l2 is not None}
        if self.l2 is not None:
            l2.update(breaker=self.l2.breaker_state, pending_writes=len(self._writes),
                      errors={op[0]: int(n) for op, n in self.metrics.cache_l2_errors.items()})
        return {
            "hit_rate": round(total_hits / total_lookups, 4) if total_lookups else 0.0,
            "hits": int(total_hits),
            "misses": int(total_lookups - total_hits),
            "keys": keys,
            "deduplicated": int(self.metrics.dedup_requests.total()),
            "in_flight": len(self._flight),
            "l1": {"entries": len(self.l1), "bytes": self.l1.nbytes,
                   "max_entries": self.l1.max_entries, "max_bytes": self.l1.max_bytes,
                   "evictions": {r[0]: int(n) for r, n in self.metrics.cache_evictions.items()}},
            "l2": l2,
            "compression": {"codec": self.codec.name, "level": self.codec.level,
                            "raw_bytes": int(raw), "stored_bytes": int(stored),
                            "ratio": round(stored / raw, 4) if raw else None},
        }

    def __repr__(self) -> str:
        return f"TieredCache(l1={len(self.l1)} entries, l2={'on' if self.l2 else 'off'})"



def outgrown(entry: Entry, finalized: int) -> bool:
    """Whether ``entry`` was computed as not final although every block it depends on
    is at or below ``finalized`` now: computed again, it would be final."""
    return not entry.final and 0 <= entry.block <= finalized


def _digest(subject: str) -> str:
    """The stand-in of a long subject: '#' and its SHA-256 (no subject starts with '#')."""
    return "#" + hashlib.sha256(subject.encode()).hexdigest()


def _key(kind: str, subject: str) -> Key:
    return (kind, subject if len(subject) <= KEY_DIGEST_ABOVE else _digest(subject))


EVICTING_POLICIES = frozenset({"allkeys-lru", "allkeys-lfu", "volatile-lru", "volatile-lfu"})
"""Redis eviction policies under which L2 stays within maxmemory and keeps what is used:
every key the node writes has a TTL and can be computed again, so evicting the least
used is right. Not volatile-ttl (it evicts the entries closest to expiry first: the
head and recent answers, the hot ones, while cold day-long finals stay), nor
noeviction (Redis's default: once full, every write fails), nor random."""


def eviction_problem(maxmemory: int, policy: str) -> str | None:
    """What is wrong with how a Redis bounds its memory, for the L2 (None: nothing)."""
    if not maxmemory:
        return "has no maxmemory: L2 grows until the host runs out of memory"
    if policy not in EVICTING_POLICIES:
        return (f"evicts with maxmemory-policy {policy}: "
                + ("once full, every L2 write fails" if policy == "noeviction"
                   else "it does not keep what is used"))
    return None
