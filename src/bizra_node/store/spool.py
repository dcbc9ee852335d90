"""The local spool: where records wait while PostgreSQL cannot take them.

Files ``spool-<pid>-<ns>.bin`` under ``DATA_DIR/spool``; each holds frames of
records, each with its length and checksums (frames.py). A writer appends to one
active file, which it holds an exclusive ``flock`` on; a file nobody holds a lock on is
pending, and whoever takes its lock may replay it (several workers may share a
DATA_DIR). A damaged frame (torn: the machine died mid-write; frames are flushed to the
OS at once and fsynced by the writer each cycle; or bytes overwritten or cut on disk)
is skipped and the reader resynchronises on the next intact one, so every intact
record still lands; the damaged file is then kept under ``DATA_DIR/quarantine/``
instead of deleted, with a log line saying what was skipped (``quarantine``).

Replays insert with ON CONFLICT DO NOTHING, so a file replayed twice (a crash between
the commit and the unlink) still lands each record once.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from .frames import Scan, encode_frame, scan
from .records import Record

__all__ = ["REPLAYABLE", "Spool", "SpoolFull", "encode_frame", "unwritable"]

log = logging.getLogger("bizra_node.store")


REPLAYABLE = ("spool-*.bin", "journal-*.bin")
"""Files replayed into PostgreSQL once nobody holds their lock: the spool's, and the
local log's (journal.py) left by a worker that died."""


def unwritable(folder: Path) -> str | None:
    """Why records could not be written under ``folder`` (made if missing), or None: a
    file is created, fsynced and deleted there. Checked before a node starts, so a
    read-only or missing DATA_DIR is one line at start, not a 503 on every cache miss."""
    probe = folder / f".probe-{os.getpid()}-{time.time_ns()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"probe")
            os.fsync(fd)
        finally:
            os.close(fd)
        probe.unlink()
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None


class SpoolFull(Exception):
    """The spool reached WRITE_SPOOL_MAX_BYTES."""


class Spool:
    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.quarantine_folder = folder.parent / "quarantine"
        """Where damaged files go once their intact records are stored."""
        self.max_bytes = max_bytes
        self._active: IO[bytes] | None = None
        self._active_path: Path | None = None
        self._dirty = False
        self.folder.mkdir(parents=True, exist_ok=True)
        self._bytes = self._measure()

    def _measure(self) -> int:
        total = 0
        for path in self.folder.glob("spool-*.bin"):
            with contextlib.suppress(FileNotFoundError):
                total += path.stat().st_size
        return total

    @property
    def bytes(self) -> int:
        """Bytes in spool files (this process's count; refreshed by ``refresh``)."""
        return self._bytes

    def refresh(self) -> int:
        self._bytes = self._measure()
        return self._bytes

    # --- writing ---------------------------------------------------------------------
    def append(self, records: list[Record]) -> None:
        """Write one frame to the active file (flushed to the OS, not fsynced)."""
        if not records:
            return
        frame = encode_frame(records)
        if self._bytes + len(frame) > self.max_bytes:
            raise SpoolFull(f"spool holds {self._bytes} bytes (cap {self.max_bytes})")
        if self._active is None:
            self._open()
        assert self._active is not None
        self._active.write(frame)
        self._active.flush()
        self._bytes += len(frame)
        self._dirty = True

    def _open(self) -> None:
        path = self.folder / f"spool-{os.getpid()}-{time.time_ns()}.bin"
        handle = open(path, "ab")  # noqa: SIM115 - lives until seal()
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        self._active, self._active_path = handle, path

    def sync(self) -> None:
        """fsync the active file (blocking: call in a thread)."""
        if self._active is not None and self._dirty:
            self._dirty = False
            os.fsync(self._active.fileno())

    def seal(self) -> None:
        """Close the active file so it becomes pending (replayable)."""
        if self._active is None:
            return
        handle, self._active, self._active_path = self._active, None, None
        handle.flush()
        os.fsync(handle.fileno())
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()
        self._dirty = False

    @property
    def has_active(self) -> bool:
        return self._active is not None

    # --- replaying -------------------------------------------------------------------
    def pending(self) -> list[Path]:
        """Spool and local-log files other than this writer's active one, oldest first
        (files another live process holds locked are skipped by ``claim``)."""
        paths = [p for pattern in REPLAYABLE for p in self.folder.glob(pattern)
                 if p != self._active_path]
        return sorted(paths, key=lambda p: int(p.stem.rsplit("-", 1)[-1]))

    @contextlib.contextmanager
    def claim(self, path: Path) -> Iterator[Scan | None]:
        """Lock a pending file and yield what it holds (its intact frames, and any damage
        skipped); None if someone else holds it or it is gone. ``remove`` it (or, when
        damaged, ``quarantine`` it) inside the block once its records are safely stored."""
        try:
            handle = open(path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            yield None
            return
        try:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield None
                return
            if not path.exists():  # replayed and removed by another process meanwhile
                yield None
                return
            yield scan(handle.read())
        finally:
            handle.close()

    def remove(self, path: Path) -> None:
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return
        self._bytes = max(self._bytes - size, 0)

    def quarantine(self, path: Path, found: Scan) -> Path:
        """Move a damaged file (its intact records stored) to the quarantine folder, kept
        as it was for whoever investigates, and say what was skipped."""
        self.quarantine_folder.mkdir(parents=True, exist_ok=True)
        target = self.quarantine_folder / path.name
        try:
            size = path.stat().st_size
            path.rename(target)
        except FileNotFoundError:
            return target
        self._bytes = max(self._bytes - size, 0)
        tail = found.damage[-1]
        where = ("cut short at its end" if len(found.damage) == 1 and
                 tail.offset + tail.length == size else
                 f"damaged in {len(found.damage)} place{'s' if len(found.damage) > 1 else ''}")
        records = (f"{found.records_skipped} records" if found.exact else
                   f"about {found.records_skipped} records: a frame header was damaged, "
                   "so they were counted by where records begin")
        log.warning(f"spool: {path.name} {where}: skipped {found.bytes_skipped} bytes "
                    f"({records}); stored {found.records} records of {len(found.frames)} "
                    f"intact frames; file moved to {target}",
                    extra={"file": path.name, "bytes_skipped": found.bytes_skipped,
                           "records_skipped": found.records_skipped,
                           "records_stored": found.records, "quarantine": str(target)})
        return target

    def write_rejected(self, records: list[Record]) -> Path:
        """Keep records PostgreSQL refused for a reason other than being unreachable."""
        path = self.folder / f"rejected-{os.getpid()}-{time.time_ns()}.bin"
        with open(path, "ab") as handle:
            handle.write(encode_frame(records))
        return path
