"""The local spool: where records wait while PostgreSQL cannot take them.

Files ``spool-<pid>-<ns>.bin`` under ``DATA_DIR/spool``; each holds frames of
``length (4 bytes) · crc32 (4 bytes) · msgpack list of records``. A writer appends to
one active file, which it holds an exclusive ``flock`` on; a file nobody holds a lock
on is pending, and whoever takes its lock may replay it (several workers may share a
DATA_DIR). A torn or corrupt frame (the machine died mid-write; frames are flushed to
the OS at once and fsynced by the writer each cycle) ends the file's readable part and
is reported in the log.

Replays insert with ON CONFLICT DO NOTHING, so a file replayed twice (a crash between
the commit and the unlink) still lands each record once.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import msgspec

from .records import Record

__all__ = ["REPLAYABLE", "Spool", "SpoolFull", "encode_frame"]

log = logging.getLogger("bizra_node.store")

_HEADER = struct.Struct(">II")
_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(list[tuple[bytes, str, str, int, bool, str | None, int | None,
                                             bytes, int]]).decode


REPLAYABLE = ("spool-*.bin", "journal-*.bin")
"""Files replayed into PostgreSQL once nobody holds their lock: the spool's, and the
local log's (journal.py) left by a worker that died."""


def encode_frame(records: list[Record]) -> bytes:
    """One frame: length, crc32, msgpack list of records."""
    payload = _encode(records)
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


class SpoolFull(Exception):
    """The spool reached WRITE_SPOOL_MAX_BYTES."""


class Spool:
    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
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
    def claim(self, path: Path) -> Iterator[list[list[Record]] | None]:
        """Lock a pending file and yield its frames; None if someone else holds it or it
        is gone. ``remove`` it inside the block once its records are safely stored."""
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
            yield list(_frames(handle.read(), path))
        finally:
            handle.close()

    def remove(self, path: Path) -> None:
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return
        self._bytes = max(self._bytes - size, 0)

    def write_rejected(self, records: list[Record]) -> Path:
        """Keep records PostgreSQL refused for a reason other than being unreachable."""
        path = self.folder / f"rejected-{os.getpid()}-{time.time_ns()}.bin"
        with open(path, "ab") as handle:
            handle.write(encode_frame(records))
        return path


def _frames(data: bytes, path: Path) -> Iterator[list[Record]]:
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, offset)
        start = offset + _HEADER.size
        payload = data[start:start + length]
        if len(payload) < length or zlib.crc32(payload) != crc:
            log.warning("spool: torn or corrupt frame skipped",
                        extra={"file": path.name, "offset": offset})
            return
        yield list(_decode(payload))
        offset = start + length
    if offset != len(data):
        log.warning("spool: torn frame header skipped", extra={"file": path.name})

