"""One batch of validation records into PostgreSQL, or into the spool when PostgreSQL
cannot take it.

Fresh batches are written with a plain COPY (their ids are new, they cannot be there
yet). A batch whose COPY failed in a way that is not a connection problem, and every
replay, goes through a staging table and ``INSERT ... ON CONFLICT DO NOTHING``: each
record lands exactly once. A batch PostgreSQL refuses twice is kept in the spool's file
of refused records, never dropped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from enum import Enum

import asyncpg

from ..observability import NodeMetrics
from .pools import ManagedPool
from .records import COLUMNS, Record, to_copy_row
from .spool import Spool, SpoolFull

__all__ = ["BatchOutcome", "BatchWriter", "copy_fresh", "insert_idempotent", "is_transient"]

log = logging.getLogger("bizra_node.store")

_STAGE = ("CREATE TEMP TABLE IF NOT EXISTS validations_stage "
          "(LIKE validations INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
_MERGE = "INSERT INTO validations SELECT * FROM validations_stage ON CONFLICT DO NOTHING"
_TRANSIENT_CLASSES = ("08", "53", "57", "58", "40")
_TRANSIENT_STATES = frozenset({"55P03", "55006"})


class BatchOutcome(Enum):
    """Where a batch's records are after one attempt."""

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


class BatchWriter:
    """Writes one batch and counts what became of its records
    (``write_records_total{outcome}``). ``on_down`` hears of a failure that says
    PostgreSQL is not reachable (the caller stops trying it until a probe succeeds)."""

    def __init__(self, spool: Spool, metrics: NodeMetrics,
                 on_down: Callable[[BaseException], None]) -> None:
        self._spool = spool
        self._metrics = metrics
        self._on_down = on_down

    async def write(self, pool: ManagedPool, batch: list[Record]) -> BatchOutcome:
        """COPY; after a failure that is not a connection problem (e.g. a constraint),
        once more the idempotent way; the spool when PostgreSQL is down."""
        try:
            await copy_fresh(pool, batch)
            self._metrics.write_records.inc(("written",), len(batch))
            return BatchOutcome.WRITTEN
        except Exception as exc:
            if is_transient(exc):
                return self._down(exc, batch)
            first = exc
        try:
            added = await insert_idempotent(pool, batch)
        except Exception as exc:
            if is_transient(exc):
                return self._down(exc, batch)
            self.keep_refused(batch, f"{type(first).__name__}; then {type(exc).__name__}")
            return BatchOutcome.SPOOLED
        self.count_added(added, len(batch), "written")
        return BatchOutcome.WRITTEN

    def to_spool(self, batch: list[Record]) -> BatchOutcome:
        try:
            self._spool.append(batch)
            self._metrics.write_records.inc(("spooled",), len(batch))
            return BatchOutcome.SPOOLED
        except (SpoolFull, OSError) as exc:
            self._metrics.write_records.inc(("rejected",), len(batch))
            log.error("write-behind: spool cannot take %d records: %s", len(batch), exc)
            return BatchOutcome.LOST

    def keep_refused(self, batch: list[Record], why: str) -> None:
        """A batch PostgreSQL refuses (not for being down): kept in the spool's file of
        refused records for an operator, counted as rejected."""
        path = self._spool.write_rejected(batch)
        self._metrics.write_records.inc(("rejected",), len(batch))
        log.error("write-behind: PostgreSQL refused a batch (%s); kept in %s", why, path.name)

    def count_added(self, added: int, size: int, outcome: str) -> None:
        """An idempotent insert of ``size`` records added ``added``: the rest were there."""
        self._metrics.write_records.inc((outcome,), added)
        if added < size:
            self._metrics.write_records.inc(("duplicate",), size - added)

    def _down(self, exc: BaseException, batch: list[Record]) -> BatchOutcome:
        self._on_down(exc)
        return self.to_spool(batch)
