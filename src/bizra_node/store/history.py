"""History of validations: filtered, newest first, keyset-paginated.

The keyset is (validated_at, id), descending, which the indexes of migration 0001
serve directly (the cursor codec is in ``bizra_node.history``).
Results are read as raw JSON bytes (see pools.py) and spliced into the answer as
``msgspec.Raw``: nothing is decoded and encoded again.

Reads go to a healthy replica when one is configured (ReplicaRouter), else to the
primary; a replica that fails a read is skipped and the read is done on the primary.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec

from ..errors import StoreUnavailable
from ..history import HistoryItem, HistoryPage, HistoryQuery, Reorged, encode_cursor
from ..observability import NodeMetrics
from .batches import is_transient
from .pools import ManagedPool
from .records import from_us, to_us
from .replicas import ReplicaRouter

__all__ = ["HistoryReader", "build_sql"]


def build_sql(q: HistoryQuery) -> tuple[str, list[Any]]:
    where: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if q.network_id is not None:
        where.append(f"network_id = {arg(q.network_id)}")
    if q.kind is not None:
        where.append(f"kind = {arg(q.kind)}")
    if q.subject is not None:
        where.append(f"subject = {arg(q.subject)}")
    if q.valid is not None:
        where.append("valid" if q.valid else "NOT valid")  # literal: the partial index applies
    if q.reorged is not None:
        where.append("reorged_at IS NOT NULL" if q.reorged else "reorged_at IS NULL")
    if q.since is not None:
        where.append(f"validated_at >= {arg(q.since)}")
    if q.until is not None:
        where.append(f"validated_at < {arg(q.until)}")
    if q.after is not None:
        at, rid = q.after
        where.append(f"(validated_at, id) < ({arg(from_us(at))}, {arg(uuid.UUID(bytes=rid))})")
    sql = ("SELECT id, kind, subject, network_id, valid, status, block_number, validated_at, "
           "result, reorged_at, reorg_fork, replaced_by FROM validations")
    if where:
        sql += " WHERE " + " AND ".join(where)
    # The same order, spelled with the equality-filtered column first, names the index to
    # walk: a time-only order lets the planner walk the time index and filter, which
    # reads every newer row of other kinds first (it assumes matches are spread evenly).
    lead = "subject, " if q.subject is not None else "kind, " if q.kind is not None else ""
    sql += f" ORDER BY {lead}validated_at DESC, id DESC LIMIT {arg(q.limit + 1)}"
    return sql, args


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def to_page(rows: list[Any], limit: int) -> HistoryPage:
    items = [HistoryItem(id=str(r["id"]), kind=r["kind"], subject=r["subject"],
                         network_id=r["network_id"], valid=r["valid"], status=r["status"],
                         block_number=r["block_number"], validated_at=_iso(r["validated_at"]),
                         result=msgspec.Raw(r["result"]),
                         reorged=None if r["reorged_at"] is None else Reorged(
                             at=_iso(r["reorged_at"]), fork=r["reorg_fork"],
                             replaced_by=r["replaced_by"]))
             for r in rows[:limit]]
    cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        cursor = encode_cursor(to_us(last["validated_at"]), last["id"].bytes)
    return HistoryPage(items=items, next_cursor=cursor)


class HistoryReader:
    def __init__(self, get_pool: Callable[[], ManagedPool | None], router: ReplicaRouter | None,
                 metrics: NodeMetrics) -> None:
        self._get_pool = get_pool
        self._router = router
        self._metrics = metrics
        metrics.db_reads.preset(("primary",), ("replica",))

    async def query(self, q: HistoryQuery) -> HistoryPage:
        sql, args = build_sql(q)
        replica = self._router.pick() if self._router is not None else None
        if replica is not None and replica.pool is not None and self._router is not None:
            try:
                rows = await replica.pool.fetch("history", sql, *args)
                self._metrics.db_reads.inc(("replica",))
                return to_page(rows, q.limit)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                self._router.mark_failed(replica, exc)
        pool = self._get_pool()
        if pool is None:
            raise StoreUnavailable("the validation history is not available right now",
                                   {"reason": "database_unavailable"})
        try:
            rows = await pool.fetch("history", sql, *args)
        except Exception as exc:
            if not is_transient(exc):
                raise
            raise StoreUnavailable("the validation history is not available right now",
                                   {"reason": "database_unavailable"}) from None
        self._metrics.db_reads.inc(("primary",))
        return to_page(rows, q.limit)
