"""DURABILITY on a real PostgreSQL: what a validation's answer waits for.

local: the record is in the fsynced local log (group commit: many records, few fsyncs)
before the answer; it then reaches PostgreSQL and its log segment goes; a log left by a
worker that died is replayed at the next start, each record once. sync: the answer
waits for the commit, and is a 503 while PostgreSQL cannot take the record (kept in the
spool, replayed later)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import asyncpg
import pytest

from bizra_node.app import store_config
from bizra_node.errors import StoreUnavailable
from bizra_node.observability import NodeMetrics
from bizra_node.store import Store
from bizra_node.store.records import make_record
from bizra_node.store.spool import encode_frame
from tests.integration.store.conftest import result, store_settings, subject, wait_for
from tests.support.postgres import PgCluster


async def subjects_in(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return {r["subject"] for r in await conn.fetch("SELECT subject FROM validations")}
    finally:
        await conn.close()


def segment_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("journal-*.bin"))


def journal_files(folder: Path) -> list[Path]:
    return segment_files(folder / "spool")


async def test_local_answers_after_the_fsync_and_groups_commits(pg_dsn: str,
                                                                 tmp_path: Path) -> None:
    store = Store(store_config(store_settings(pg_dsn, tmp_path, durability="local")),
                  NodeMetrics())
    await store.start()
    try:
        waiters = [store.recorder("transaction", subject(i), result(i)) for i in range(300)]
        assert all(w is not None for w in waiters)
        await asyncio.gather(*waiters)
        journal = store.writer.journal
        assert journal is not None and journal.committed == 300
        assert journal.commits < 100  # group commit: far fewer fsyncs than records
        files = journal_files(tmp_path)
        assert files and files[0].stat().st_size > 0  # on disk before the answers went on
        await wait_for(lambda: store.metrics.write_records.get(("written",)) == 300)
    finally:
        await store.stop()
    assert len(await subjects_in(pg_dsn)) == 300
    assert journal_files(tmp_path) == []  # every record reached PostgreSQL: the log went


async def test_a_log_left_by_a_dead_worker_is_replayed_once(pg_dsn: str,
                                                           tmp_path: Path) -> None:
    records = [make_record("transaction", subject(i), result(i)) for i in range(50)]
    (tmp_path / "spool").mkdir(parents=True)
    # a dead worker's log: half of it had reached PostgreSQL before it died
    first = Store(store_config(store_settings(pg_dsn, tmp_path / "other", durability="async")),
                  NodeMetrics())
    await first.start()
    assert first.primary is not None
    from bizra_node.store.batches import insert_idempotent
    await insert_idempotent(first.primary, records[:25])
    await first.stop()
    orphan = tmp_path / "spool" / f"journal-999999-{time.time_ns()}.bin"
    orphan.write_bytes(encode_frame(records[:30]) + encode_frame(records[30:]))
    store = Store(store_config(store_settings(pg_dsn, tmp_path, durability="async")),
                  NodeMetrics())
    await store.start()
    try:
        await wait_for(lambda: not orphan.exists())
    finally:
        await store.stop()
    conn = await asyncpg.connect(pg_dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM validations") == 50
    finally:
        await conn.close()
    assert store.metrics.write_records.get(("replayed",)) == 25
    assert store.metrics.write_records.get(("duplicate",)) == 25


async def test_sync_answers_after_the_commit(pg_dsn: str, tmp_path: Path) -> None:
    store = Store(store_config(store_settings(pg_dsn, tmp_path, durability="sync")),
                  NodeMetrics())
    await store.start()
    try:
        for i in range(3):
            waiter = store.recorder("block", str(i), result(i))
            assert waiter is not None
            await waiter
            assert str(i) in await subjects_in(pg_dsn)  # committed before the answer
        waiters = [store.recorder("block", str(i), result(i)) for i in range(3, 200)]
        await asyncio.gather(*waiters)
        assert len(await subjects_in(pg_dsn)) == 200
    finally:
        await store.stop()


@pytest.mark.slow
async def test_sync_is_a_503_while_postgresql_cannot_commit(own_cluster: PgCluster,
                                                            tmp_path: Path) -> None:
    dsn = await own_cluster.create_database("bizra")
    settings = store_settings(dsn, tmp_path, durability="sync", db_connect_timeout=2.0,
                              db_acquire_timeout=2.0, db_query_timeout=5.0)
    store = Store(store_config(settings), NodeMetrics())
    await store.start()
    try:
        waiter = store.recorder("block", "1", result(1))
        assert waiter is not None
        await waiter
        own_cluster.stop()
        waiter = store.recorder("block", "2", result(2))
        assert waiter is not None
        with pytest.raises(StoreUnavailable) as err:
            await waiter
        assert err.value.http_status == 503 and err.value.details == {
            "reason": "not_recorded", "kept": True}
        own_cluster.start()
        await wait_for(lambda: store.metrics.write_records.get(("replayed",)) >= 1, timeout=60)
    finally:
        await store.stop()
    assert await subjects_in(dsn) == {"1", "2"}


def test_the_journal_files_are_locked_while_their_worker_lives(tmp_path: Path) -> None:
    import fcntl

    from bizra_node.store.journal import Segment

    segment = Segment(tmp_path / f"journal-{os.getpid()}-1.bin")
    with open(segment.path, "rb") as other, pytest.raises(BlockingIOError):
        fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    segment.sealed = True
    segment.release(0)
    assert not segment.path.exists()


async def test_log_segments_rotate_and_go_once_released(tmp_path: Path) -> None:
    from bizra_node.store.journal import Journal, Segment

    got: list[tuple[int, Segment]] = []

    def sink(records: list[object], segment: Segment) -> None:
        got.append((len(records), segment))

    journal = Journal(tmp_path, sink, commit_interval=0, segment_bytes=1)  # type: ignore[arg-type]
    journal.start()
    try:
        for i in range(3):
            await journal.append(make_record("block", str(i), result(i)))
        segments = [s for _, s in got]
        assert len({id(s) for s in segments}) == 3  # each commit filled its segment
        assert len(segment_files(tmp_path)) == 3  # none released yet
        for n, segment in got:
            segment.release(n)
        assert len(segment_files(tmp_path)) == 1  # the active one stays
    finally:
        await journal.stop()
    assert segment_files(tmp_path) == []  # sealed at stop, nothing outstanding
