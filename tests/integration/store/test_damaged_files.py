"""Damaged local log and spool files, replayed into a real PostgreSQL.

While the node was down, 16 bytes of garbage went into the middle of a local-log
segment and the last 5 bytes of a spool file were cut. The replay skips the damaged
frames, resynchronises on the next intact one, lands every record of every intact
frame (none of the garbage), and keeps the damaged files, byte for byte, under
DATA_DIR/quarantine/ with one log line each saying what was skipped."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import asyncpg
import pytest

from bizra_node.app import store_config
from bizra_node.observability import NodeMetrics
from bizra_node.store import Record, Store
from bizra_node.store.records import make_record
from bizra_node.store.spool import encode_frame
from tests.integration.store.conftest import result, store_settings, subject, wait_for


async def subjects_in(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return [r["subject"] for r in await conn.fetch("SELECT subject FROM validations")]
    finally:
        await conn.close()


def frames_of(first: int, count: int, size: int) -> list[list[Record]]:
    return [[make_record("transaction", subject(first + f * size + i), result(i))
             for i in range(size)] for f in range(count)]


async def test_damaged_log_and_spool_land_every_intact_record(
        pg_dsn: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir(parents=True)
    log_frames = frames_of(0, 26, 10)  # 260 records, as in the report
    encoded = [encode_frame(f) for f in log_frames]
    data = bytearray(b"".join(encoded))
    middle = len(data) // 2
    data[middle:middle + 16] = bytes(range(0xA0, 0xB0))  # 16 bytes of garbage
    journal = spool_dir / f"journal-999999-{time.time_ns()}.bin"
    journal.write_bytes(bytes(data))
    spool_frames = frames_of(1000, 3, 7)
    spool_data = b"".join(encode_frame(f) for f in spool_frames)[:-5]  # 5 bytes cut
    spool = spool_dir / f"spool-999998-{time.time_ns()}.bin"
    spool.write_bytes(spool_data)

    # what must land: every frame the garbage does not touch; the spool's last frame is torn
    expected: set[str] = set()
    offset = skipped = 0
    for frame, raw in zip(log_frames, encoded, strict=True):
        if offset + len(raw) <= middle or offset >= middle + 16:
            expected |= {r[2] for r in frame}
        else:
            skipped += len(raw)
        offset += len(raw)
    assert len(expected) == 250  # the garbage falls inside one frame of 10
    expected |= {r[2] for f in spool_frames[:2] for r in f}

    caplog.set_level(logging.WARNING, logger="bizra_node.store")
    store = Store(store_config(store_settings(pg_dsn, tmp_path, durability="async")),
                  NodeMetrics())
    await store.start()
    try:
        await wait_for(lambda: not journal.exists() and not spool.exists())
    finally:
        await store.stop()
    landed = await subjects_in(pg_dsn)
    assert sorted(landed) == sorted(expected)  # every intact record, once; nothing else

    quarantine = tmp_path / "quarantine"
    assert (quarantine / journal.name).read_bytes() == bytes(data)  # the evidence, unchanged
    assert (quarantine / spool.name).read_bytes() == spool_data
    said = [r.getMessage() for r in caplog.records if "quarantine" in r.getMessage()]
    assert len(said) == 2, said
    (about_log,) = [m for m in said if journal.name in m]
    assert f"{skipped} bytes" in about_log and "about 10 records" in about_log
    assert "250 records" in about_log
    (about_spool,) = [m for m in said if spool.name in m]
    torn = len(encode_frame(spool_frames[2])) - 5
    assert f"{torn} bytes" in about_spool
    assert "7 records" in about_spool and "14 records" in about_spool
