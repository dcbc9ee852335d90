"""Write-behind: validation records reach PostgreSQL in batches, off the request path.

The recorder (``recorder``) depends on DURABILITY, like a message broker's
acknowledgements:

- ``async``: ``record()`` appends to a bounded in-memory queue and returns (no I/O
  unless the queue is full); a crash loses what the queue held.
- ``local``: ``record_local()`` appends the record to the local log (journal.py) and
  returns a future that completes once the log is fsynced (a group commit every few
  ms); the answer waits for it. The record then joins the queue. A crash loses
  nothing answered: the log is replayed at the next start.
- ``sync``: ``record_sync()`` queues the record with a future that completes once
  its batch is committed in PostgreSQL (batches then go out at once, not every
  WRITE_BATCH_INTERVAL); if PostgreSQL cannot take it, the record is spooled and the
  future fails (StoreUnavailable: the client gets a 503, the record is replayed later).

A task writes the queue in batches of WRITE_BATCH_ROWS with COPY, at the latest
WRITE_BATCH_INTERVAL after the first record of a batch arrived.

When PostgreSQL cannot take a batch (down, restarting, unreachable), the batch goes
to the spool file and the writer stops trying the database for new batches until a
probe succeeds; then it replays the spool. Fresh batches are written with a plain
COPY (their ids are new, they cannot be there yet). Replays (spool files, and local
logs left by a worker that died), and any batch whose first attempt failed in a way
that leaves its outcome unclear, go through a staging table and
``INSERT ... ON CONFLICT DO NOTHING``: each record lands exactly once.

A full queue spools the record at once (a buffered file append): nothing is dropped
silently. Only a full spool (WRITE_SPOOL_MAX_BYTES) rejects records, counted and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Any, Literal

import asyncpg

from ..errors import StoreUnavailable
from ..observability import NodeMetrics
from ..resilience import cancel_and_wait
from .journal import Journal, Segment
from .pools import ManagedPool
from .records import COLUMNS, Record, make_record, new_id, to_copy_row
from .spool import Spool, SpoolFull

__all__ = ["DURABILITY_MODES", "Durability", "WriteBehind", "is_transient"]

Durability = Literal["async", "local", "sync"]
DURABILITY_MODES: tuple[Durability, ...] = ("async", "local", "sync")

log = logging.getLogger("bizra_node.store")

_STAGE = ("CREATE TEMP TABLE IF NOT EXISTS validations_stage "
          "(LIKE validations INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
_MERGE = "INSERT INTO validations SELECT * FROM validations_stage ON CONFLICT DO NOTHING"
_TRANSIENT_CLASSES = ("08", "53", "57", "58", "40")
_TRANSIENT_STATES = frozenset({"55P03", "55006"})
_PROBE_MIN, _PROBE_MAX = 0.2, 5.0
_ORPHAN_CHECK = 5.0
"""How often (local mode) the writer looks for local logs a dead worker left."""

QueueItem = tuple[bytes, str, str, Any]
"""async: (id, kind, subject, result), encoded by the writer."""
Ack = Segment | asyncio.Future[None]
"""What a durable record's persistence is reported to: the log segment holding it
(local) or the future its answer waits on (sync)."""
DurableItem = tuple[Record, Ack]
"""local and sync: the record, encoded when it was made, and its acknowledgement."""


class Outcome(Enum):
    WRITTEN = "written"
    """Committed in PostgreSQL."""
    SPOOLED = "spooled"
    """In the spool (or the file of refused records), to be replayed."""
    LOST = "lost"
    """Neither: the spool could not take it (counted as rejected)."""


def is_transient(exc: BaseException) -> bool:
    """Failures where the database may take the same batch later."""
    if isinstance(exc, asyncpg.PostgresError):
        state = getattr(exc, "sqlstate", "") or ""
        return state[:2] in _TRANSIENT_CLASSES or state in _TRANSIENT_STATES
    return isinstance(exc, OSError | TimeoutError | asyncpg.InterfaceError | RuntimeError)


async def copy_fresh(pool: ManagedPool, records: list[Record]) -> int:
    start = time.perf_counter()
    async with pool.acquire() as conn:
        await conn.copy_records_to_table("validations", records=[to_copy_row(r) for r in records],
                                         columns=COLUMNS)
    pool.observe("copy_validations", time.perf_counter() - start)
    return len(records)


async def insert_idempotent(pool: ManagedPool, records: list[Record]) -> int:
    """Insert what is not there yet; returns how many rows were new."""
    start = time.perf_counter()
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(_STAGE)
        await conn.copy_records_to_table("validations_stage",
                                         records=[to_copy_row(r) for r in records],
                                         columns=COLUMNS)
        status = await conn.execute(_MERGE)
    pool.observe("merge_validations", time.perf_counter() - start)
    return int(status.rsplit(" ", 1)[-1])


class WriteBehind:
    def __init__(self, spool: Spool, metrics: NodeMetrics, get_pool: Callable[[], ManagedPool | None],
                 *, batch_rows: int, batch_interval: float, queue_max: int,
                 durability: Durability = "async", commit_interval: float = 0.002) -> None:
        self.spool = spool
        self._metrics = metrics
        self._get_pool = get_pool
        self._rows = batch_rows
        self._interval = batch_interval
        self._max = queue_max
        self.durability: Durability = durability
        self._queue: deque[QueueItem | DurableItem] = deque()
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._stopping = asyncio.Event()
        self._inflight: list[Record] = []
        self._inflight_acks: list[Ack | None] = []
        self._deferred: list[Segment] = []
        """Segments whose records were spooled: released once the spool is fsynced."""
        self.journal = (Journal(spool.folder, self._journaled, metrics=metrics,
                                commit_interval=commit_interval)
                        if durability == "local" else None)
        self._orphans_at = 0.0
        """When to look for local logs left by a dead worker (at start, in any mode)."""
        self._task: asyncio.Task[None] | None = None
        self.db_ok = False
        """Whether fresh batches go to the database (else straight to the spool)."""
        self._next_probe = 0.0
        self._probe_wait = _PROBE_MIN

    # --- the recorder (request path) -------------------------------------------------
    @property
    def recorder(self) -> Callable[[str, str, Any], Awaitable[None] | None]:
        """The ValidationService recorder of this DURABILITY."""
        if self.durability == "local":
            return self.record_local
        if self.durability == "sync":
            return self.record_sync
        return self.record

    def record(self, kind: str, subject: str, result: Any) -> None:
        """async: queue one result; never blocks, never raises."""
        queue = self._queue
        if len(queue) >= self._max:
            self._overflow((new_id(), kind, subject, result))
            return
        queue.append((new_id(), kind, subject, result))
        n = len(queue)
        if n == 1:
            self._wake.set()
        elif n >= self._rows:
            self._full.set()

    def record_local(self, kind: str, subject: str, result: Any) -> Awaitable[None]:
        """local: log the record; the awaitable completes once the log is fsynced."""
        assert self.journal is not None
        return self.journal.append(make_record(kind, subject, result))

    def record_sync(self, kind: str, subject: str, result: Any) -> Awaitable[None]:
        """sync: queue the record; the awaitable completes once PostgreSQL committed it."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._push((make_record(kind, subject, result), done))
        return done

    def _journaled(self, records: list[Record], segment: Segment) -> None:
        """The journal's sink: records now safe on disk join the queue."""
        for record in records:
            self._push((record, segment))

    def _push(self, item: DurableItem) -> None:
        queue = self._queue
        if len(queue) >= self._max:
            self._overflow(item)
            return
        queue.append(item)
        n = len(queue)
        if n == 1:
            self._wake.set()
        if n >= self._rows or self.durability == "sync":  # sync: write at once
            self._full.set()

    def _overflow(self, item: QueueItem | DurableItem) -> None:
        if len(item) == 2:
            record, ack = item  # type: ignore[misc]
        else:
            record, ack = make_record(item[1], item[2], item[3], item[0]), None  # type: ignore[misc]
        try:
            self.spool.append([record])
            self._metrics.write_records.inc(("overflow_spooled",))
            outcome = Outcome.SPOOLED
        except (SpoolFull, OSError) as exc:
            self._metrics.write_records.inc(("rejected",))
            log.error("write-behind: queue and spool full, record rejected: %s", exc)
            outcome = Outcome.LOST
        if ack is not None:
            self._settle([ack], outcome)

    @property
    def depth(self) -> int:
        return len(self._queue)

    @property
    def spool_writable(self) -> bool:
        return self.spool.bytes < self.spool.max_bytes

    # --- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="write-behind")
        if self.journal is not None:
            self.journal.start()

    async def stop(self, timeout: float = 10.0) -> None:
        """Flush the queue (to PostgreSQL, or the spool if it cannot take it) and stop."""
        if self.journal is not None:  # commit what it holds: it joins the queue
            await self.journal.stop()
        self._stopping.set()
        self._wake.set()
        self._full.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except TimeoutError:
                await cancel_and_wait(self._task)
            self._task = None
        self._spool_leftovers()
        await asyncio.to_thread(self.spool.seal)
        self._release_deferred()
        self._publish()

    def _spool_leftovers(self) -> None:
        """After a cancelled flush: in-flight and queued records go to the spool (an
        in-flight batch that did commit is recognised on replay)."""
        records, acks = self._encode(len(self._queue))
        leftovers, left_acks = self._inflight + records, self._inflight_acks + acks
        self._inflight, self._inflight_acks = [], []
        if leftovers:
            outcome = Outcome.SPOOLED if self._to_spool(leftovers) else Outcome.LOST
            self._settle(left_acks, outcome)

    # --- the loop --------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            if not self._queue and not self._stopping.is_set():
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._idle_wait())
            if (self._queue and len(self._queue) < self._rows and self.durability != "sync"
                    and not self._stopping.is_set()):
                self._full.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self._interval)
            try:
                await self._drain()
                if self._stopping.is_set():
                    return
                await self._maybe_recover()
            except Exception:  # the writer must outlive any one failure
                log.exception("write-behind: unexpected failure")
                self._spool_leftovers()
                if self._stopping.is_set():
                    return
                await asyncio.sleep(_PROBE_MIN)
            self._publish()

    def mark_up(self) -> None:
        """The store has just reached PostgreSQL: write fresh batches there."""
        self.db_ok = True
        self._next_probe = 0.0
        self._wake.set()

    def _idle_wait(self) -> float | None:
        """Sleep until a record comes, or until the next probe/replay is due."""
        now = time.monotonic()
        if not self.db_ok or self.spool.has_active or self.spool.bytes:
            return max(self._next_probe - now, _PROBE_MIN)
        if self._orphans_at < float("inf"):
            return max(self._orphans_at - now, 0.0)
        return None

    def _encode(self, n: int) -> tuple[list[Record], list[Ack | None]]:
        """Up to ``n`` queued records, encoded, and their acknowledgements (empty in
        async mode, where there are none)."""
        out: list[Record] = []
        acks: list[Ack | None] = []
        queue = self._queue
        durable = self.durability != "async"
        for _ in range(min(n, len(queue))):
            item = queue.popleft()
            if len(item) == 2:  # local, sync: encoded when made
                out.append(item[0])  # type: ignore[arg-type]
                acks.append(item[1])  # type: ignore[arg-type]
                continue
            rid, kind, subject, result = item  # type: ignore[misc]
            try:
                out.append(make_record(kind, subject, result, rid))
                if durable:
                    acks.append(None)
            except Exception:  # a result that cannot be encoded is a bug: say so, go on
                self._metrics.write_records.inc(("rejected",))
                log.exception("write-behind: cannot encode a %s record", kind)
        return out, acks

    async def _drain(self) -> None:
        while self._queue:
            batch, acks = self._encode(self._rows)
            self._inflight, self._inflight_acks = batch, acks
            pool = self._get_pool()
            if self.db_ok and pool is not None:
                outcome = await self._write(pool, batch)
            else:
                outcome = Outcome.SPOOLED if self._to_spool(batch) else Outcome.LOST
            self._inflight, self._inflight_acks = [], []
            if acks:
                self._settle(acks, outcome)
            if self._deferred:  # spooled records of the local log: fsync, then release
                await asyncio.to_thread(self.spool.sync)
                self._release_deferred()

    def _settle(self, acks: list[Ack | None], outcome: Outcome) -> None:
        """Report a batch's outcome: sync answers go on (or fail with a 503); log
        segments are released (at once when written, after the spool's next fsync when
        spooled, never when lost: the log keeps those records for its replay)."""
        for ack in acks:
            if ack is None:
                continue
            if isinstance(ack, Segment):
                if outcome is Outcome.WRITTEN:
                    ack.release()
                elif outcome is Outcome.SPOOLED:
                    self._deferred.append(ack)
            elif not ack.done():
                if outcome is Outcome.WRITTEN:
                    ack.set_result(None)
                else:
                    ack.set_exception(StoreUnavailable(
                        "the validation could not be recorded in PostgreSQL (DURABILITY=sync)",
                        {"reason": "not_recorded", "kept": outcome is Outcome.SPOOLED}))
                    ack.exception()  # a request that went away is not an unretrieved error

    def _release_deferred(self) -> None:
        deferred, self._deferred = self._deferred, []
        for segment in deferred:
            segment.release()

    async def _write(self, pool: ManagedPool, batch: list[Record]) -> Outcome:
        try:
            await copy_fresh(pool, batch)
            self._metrics.write_records.inc(("written",), len(batch))
            return Outcome.WRITTEN
        except Exception as exc:
            if is_transient(exc):
                self._went_down(exc)
                return Outcome.SPOOLED if self._to_spool(batch) else Outcome.LOST
            first = exc
        # Not a connection problem (e.g. a constraint): retry the safe way once.
        try:
            added = await insert_idempotent(pool, batch)
            self._metrics.write_records.inc(("written",), added)
            if added < len(batch):
                self._metrics.write_records.inc(("duplicate",), len(batch) - added)
            return Outcome.WRITTEN
        except Exception as exc:
            if is_transient(exc):
                self._went_down(exc)
                return Outcome.SPOOLED if self._to_spool(batch) else Outcome.LOST
            path = self.spool.write_rejected(batch)
            self._metrics.write_records.inc(("rejected",), len(batch))
            log.error("write-behind: PostgreSQL refused a batch (%s; then %s); kept in %s",
                      type(first).__name__, type(exc).__name__, path.name)
            return Outcome.SPOOLED

    def _to_spool(self, batch: list[Record]) -> bool:
        try:
            self.spool.append(batch)
            self._metrics.write_records.inc(("spooled",), len(batch))
            return True
        except (SpoolFull, OSError) as exc:
            self._metrics.write_records.inc(("rejected",), len(batch))
            log.error("write-behind: spool cannot take %d records: %s", len(batch), exc)
            return False

    def _went_down(self, exc: BaseException) -> None:
        if self.db_ok:
            log.warning("write-behind: PostgreSQL unavailable (%s); spooling",
                        type(exc).__name__)
        self.db_ok = False
        self._probe_wait = _PROBE_MIN
        self._next_probe = time.monotonic() + self._probe_wait

    # --- recovery --------------------------------------------------------------------
    async def _maybe_recover(self) -> None:
        if self.spool.has_active:
            await asyncio.to_thread(self.spool.sync)
            self._release_deferred()
        now = time.monotonic()
        orphans = now >= self._orphans_at
        if self.db_ok and not self.spool.has_active and not self.spool.bytes and not orphans:
            return
        if now < self._next_probe:
            return
        pool = self._get_pool()
        if pool is None:
            self._schedule_probe()
            return
        if not self.db_ok:
            try:
                await pool.fetchval("probe", "SELECT 1")
            except Exception:
                self._schedule_probe()
                return
            self.db_ok = True
            log.info("write-behind: PostgreSQL reachable again; replaying the spool")
        await self.replay(pool)

    def _schedule_probe(self) -> None:
        self._next_probe = time.monotonic() + self._probe_wait
        self._probe_wait = min(self._probe_wait * 2, _PROBE_MAX)

    async def replay(self, pool: ManagedPool) -> int:
        """Write every pending spool file; returns records newly stored."""
        await asyncio.to_thread(self.spool.seal)
        stored = 0
        for path in self.spool.pending():
            with self.spool.claim(path) as found:
                if found is None:
                    continue
                for frame in found.frames:
                    try:
                        added = await insert_idempotent(pool, frame)
                    except Exception as exc:
                        if is_transient(exc):
                            self._went_down(exc)
                            return stored
                        kept = self.spool.write_rejected(frame)
                        self._metrics.write_records.inc(("rejected",), len(frame))
                        log.error("write-behind: PostgreSQL refused a spooled batch (%s); kept in %s",
                                  type(exc).__name__, kept.name)
                        continue
                    stored += added
                    self._metrics.write_records.inc(("replayed",), added)
                    if added < len(frame):
                        self._metrics.write_records.inc(("duplicate",), len(frame) - added)
                if found.damage:
                    self.spool.quarantine(path, found)
                else:
                    self.spool.remove(path)
        self.spool.refresh()
        self._probe_wait = _PROBE_MIN
        self._next_probe = time.monotonic() + _PROBE_MAX
        self._orphans_at = (time.monotonic() + _ORPHAN_CHECK if self.durability == "local"
                            else float("inf"))
        return stored

    def _publish(self) -> None:
        self._metrics.write_queue_depth.set(len(self._queue))
        self._metrics.write_spool_bytes.set(self.spool.bytes)
