"""The local log of DURABILITY=local: a record is on disk before its answer goes out.

``append(record)`` returns a future that completes once the record is in the log and
fsynced. One committer task writes whatever has arrived as one frame (the spool's
format, frames.py) and fsyncs it in a thread: records arriving
during an fsync share the next one (group commit), and fsyncs are at least
``commit_interval`` apart, so under load one fsync serves many answers and at low load
an answer waits about one fsync. Then the records go on to the write-behind queue
(``sink``), each with the segment it is in.

The log is a series of segment files ``journal-<pid>-<ns>.bin`` in the spool folder,
each held under an exclusive ``flock`` while this process lives. A segment is closed
for writing after ``segment_bytes`` or ``segment_age`` s, and deleted once every record
in it is in PostgreSQL or in the spool (``Segment.release``, called by the writer). If
the process dies, its locks go with it and the segments it left are replayed like
spool files (``Spool.pending``), with ON CONFLICT DO NOTHING on the record ids: records
that had reached PostgreSQL are not written twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from ..errors import StoreUnavailable
from ..observability import NodeMetrics
from ..resilience import cancel_and_wait
from .frames import encode_frame
from .records import Record

__all__ = ["Journal", "Segment"]

log = logging.getLogger("bizra_node.store")

Sink = Callable[[list[Record], "Segment"], None]
"""Takes records just made durable, and the segment holding them."""


class Segment:
    """One file of the log; deleted once it is closed and all its records are released."""

    __slots__ = ("bytes", "handle", "opened", "outstanding", "path", "sealed")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: IO[bytes] | None = open(path, "ab")  # noqa: SIM115 - until deleted
        fcntl.flock(self.handle.fileno(), fcntl.LOCK_EX)
        self.opened = time.monotonic()
        self.bytes = 0
        self.outstanding = 0
        self.sealed = False

    def release(self, n: int = 1) -> None:
        """``n`` of this segment's records are now in PostgreSQL or in the spool."""
        self.outstanding -= n
        if self.sealed and self.outstanding <= 0:
            self.delete()

    def delete(self) -> None:
        if self.handle is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.handle.close()  # the lock goes with it
        self.handle = None


class Journal:
    def __init__(self, folder: Path, sink: Sink, *, metrics: NodeMetrics | None = None,
                 commit_interval: float = 0.002,
                 segment_bytes: int = 64 << 20, segment_age: float = 10.0) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self._sink = sink
        self._metrics = metrics
        if metrics is not None:
            metrics.journal_fsyncs.preset(())
        self.commit_interval = commit_interval
        self.segment_bytes = segment_bytes
        self.segment_age = segment_age
        self._pending: list[Record] = []
        self._group: asyncio.Future[None] | None = None
        self._wake = asyncio.Event()
        self._active: Segment | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.commits = 0
        """fsyncs done (each one a group commit)."""
        self.committed = 0
        """Records made durable."""

    # --- the request path -------------------------------------------------------------
    def append(self, record: Record) -> asyncio.Future[None]:
        """Log ``record``; the future completes once it is fsynced (or fails with
        StoreUnavailable when the disk cannot take it)."""
        if self._task is None:
            raise RuntimeError("the journal is not running")
        self._pending.append(record)
        group = self._group
        if group is None:
            group = self._group = asyncio.get_running_loop().create_future()
            self._wake.set()
        return group

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="journal")

    async def stop(self) -> None:
        """Commit what is pending, then stop (segments still holding records not yet
        in PostgreSQL stay on disk, to be replayed)."""
        if self._task is not None:
            self._closing = True
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 10.0)
            except TimeoutError:
                await cancel_and_wait(self._task)
            self._task = None
        if self._active is not None:
            self._seal(self._active)
            self._active = None

    # --- the committer ------------------------------------------------------------------
    async def _run(self) -> None:
        last = 0.0
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            wait = last + self.commit_interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            records, group = self._pending, self._group
            self._pending, self._group = [], None
            last = time.monotonic()
            try:
                segment = await self._commit(records)
            except Exception as exc:  # a disk that cannot take the log fails the answers
                log.error("local log: cannot write %d records: %s", len(records), exc)
                if group is not None and not group.done():
                    group.set_exception(StoreUnavailable(
                        "the validation could not be written to the local log "
                        "(DURABILITY=local)", {"reason": "local_log"}))
                    group.exception()  # answers that went away are not unretrieved errors
                continue
            if group is not None and not group.done():
                group.set_result(None)
            self._sink(records, segment)

    async def _commit(self, records: list[Record]) -> Segment:
        segment, new = self._segment()
        if new:  # the new file's name must survive a power cut too
            await asyncio.to_thread(_sync_folder, self.folder)
        assert segment.handle is not None
        frame = encode_frame(records)
        segment.handle.write(frame)
        segment.handle.flush()
        await asyncio.to_thread(os.fsync, segment.handle.fileno())
        segment.bytes += len(frame)
        segment.outstanding += len(records)
        self.commits += 1
        self.committed += len(records)
        if self._metrics is not None:
            self._metrics.journal_fsyncs.inc()
            self._metrics.write_records.inc(("journaled",), len(records))
        return segment

    def _segment(self) -> tuple[Segment, bool]:
        """The segment to write to, and whether it was just made."""
        active = self._active
        if active is not None and (active.bytes >= self.segment_bytes
                                   or time.monotonic() - active.opened >= self.segment_age):
            self._seal(active)
            active = None
        if active is not None:
            return active, False
        active = self._active = Segment(
            self.folder / f"journal-{os.getpid()}-{time.time_ns()}.bin")
        return active, True

    @staticmethod
    def _seal(segment: Segment) -> None:
        segment.sealed = True
        if segment.outstanding <= 0:
            segment.delete()


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
