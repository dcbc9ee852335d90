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
probe succeeds; then it replays the spool. How one batch is written is batches.py's
(COPY, or the idempotent insert: each record lands exactly once); when to try the
database again and the replay, recovery.py's.

A full queue spools the record at once (a buffered file append): nothing is dropped
silently. Only a full spool (WRITE_SPOOL_MAX_BYTES) rejects records, counted and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from ..errors import StoreUnavailable
from ..observability import NodeMetrics
from ..resilience import cancel_and_wait
from .batches import BatchOutcome, BatchWriter
from .journal import Journal, Segment
from .pools import ManagedPool
from .records import Record, make_record, new_id
from .recovery import PROBE_MIN, Recovery
from .spool import Spool, SpoolFull

__all__ = ["DURABILITY_MODES", "Durability", "WriteBehind"]

Durability = Literal["async", "local", "sync"]
DURABILITY_MODES: tuple[Durability, ...] = ("async", "local", "sync")

log = logging.getLogger("bizra_node.store")

QueueItem = tuple[bytes, str, str, Any]
"""async: (id, kind, subject, result), encoded by the writer."""
Ack = Segment | asyncio.Future[None]
"""What a durable record's persistence is reported to: the log segment holding it
(local) or the future its answer waits on (sync)."""
DurableItem = tuple[Record, Ack]
"""local and sync: the record, encoded when it was made, and its acknowledgement."""


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
        self._task: asyncio.Task[None] | None = None
        self._batches = BatchWriter(spool, metrics, self._went_down)
        self._recovery = Recovery(spool, self._batches, look_for_orphans=durability == "local")

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
            outcome = BatchOutcome.SPOOLED
        except (SpoolFull, OSError) as exc:
            self._metrics.write_records.inc(("rejected",))
            log.error("write-behind: queue and spool full, record rejected: %s", exc)
            outcome = BatchOutcome.LOST
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
            outcome = self._batches.to_spool(leftovers)
            self._settle(left_acks, outcome)

    # --- the loop --------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            if not self._queue and not self._stopping.is_set():
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._recovery.idle_wait())
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
                await asyncio.sleep(PROBE_MIN)
            self._publish()

    @property
    def db_ok(self) -> bool:
        """Whether fresh batches go to the database (else straight to the spool)."""
        return self._recovery.db_ok

    def mark_up(self) -> None:
        """The store has just reached PostgreSQL: write fresh batches there."""
        self._recovery.mark_up()
        self._wake.set()

    def _went_down(self, exc: BaseException) -> None:
        self._recovery.went_down(exc)

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
                outcome = await self._batches.write(pool, batch)
            else:
                outcome = self._batches.to_spool(batch)
            self._inflight, self._inflight_acks = [], []
            if acks:
                self._settle(acks, outcome)
            if self._deferred:  # spooled records of the local log: fsync, then release
                await asyncio.to_thread(self.spool.sync)
                self._release_deferred()

    def _settle(self, acks: list[Ack | None], outcome: BatchOutcome) -> None:
        """Report a batch's outcome: sync answers go on (or fail with a 503); log
        segments are released (at once when written, after the spool's next fsync when
        spooled, never when lost: the log keeps those records for its replay)."""
        for ack in acks:
            if ack is None:
                continue
            if isinstance(ack, Segment):
                if outcome is BatchOutcome.WRITTEN:
                    ack.release()
                elif outcome is BatchOutcome.SPOOLED:
                    self._deferred.append(ack)
            elif not ack.done():
                if outcome is BatchOutcome.WRITTEN:
                    ack.set_result(None)
                else:
                    ack.set_exception(StoreUnavailable(
                        "the validation could not be recorded in PostgreSQL (DURABILITY=sync)",
                        {"reason": "not_recorded", "kept": outcome is BatchOutcome.SPOOLED}))
                    ack.exception()  # a request that went away is not an unretrieved error

    def _release_deferred(self) -> None:
        deferred, self._deferred = self._deferred, []
        for segment in deferred:
            segment.release()

    # --- recovery --------------------------------------------------------------------
    async def _maybe_recover(self) -> None:
        if self.spool.has_active:  # spooled records of the local log: fsync, then release
            await asyncio.to_thread(self.spool.sync)
            self._release_deferred()
        if self._recovery.due():
            await self._recovery.recover(self._get_pool())

    async def replay(self, pool: ManagedPool) -> int:
        """Write every pending spool file; returns records newly stored."""
        return await self._recovery.replay(pool)

    def _publish(self) -> None:
        self._metrics.write_queue_depth.set(len(self._queue))
        self._metrics.write_spool_bytes.set(self.spool.bytes)
