"""What the workers of one node have shown, shared between them: the highest head
and the highest finalized block (number and hash).

Each granian worker has its own chain view; a client that opens a new connection
may reach another worker. So that no connection is told less than another was (a
head below a receipt's block, ``finalized: false`` after ``finalized: true``), every
worker publishes each higher number it shows here, and reads it before it answers.

**Where.** ``bizra-node serve`` makes the file before granian starts the workers
(:func:`create_heads_file`: a fresh private directory, in /dev/shm when there is
one, mode 0700, the file 0600) and names it in HEADS_FILE; each worker maps it
(:meth:`SharedHeads.open`), and refuses it (HeadsFileError; the worker then answers
on its own, app.open_heads) when it is not a regular file of the node's own user
that no other user may read or write, in a directory no other user may write, or
when it was made for another network. What is read from it is not
otherwise authenticated: a MAC would need a key every worker holds, and whoever
can write the file as the node's user can as well read that key from a worker's
environment or memory. The file is in the node's own trust boundary, like its
memory; it is not on disk and ends with the node (``serve`` removes it).

**Cost.** A worker reads the head with one 8-byte load from the mapped page
(``words[HEAD]``, a memoryview of unsigned 64-bit words: a few hundred ns more per
hit on a loaded 2-core machine, nothing measurable over HTTP; ``bizra-node bench
heads``, docs/performance.md). Raising it takes an exclusive ``flock`` (released by
the kernel if its holder dies), and is done only when the number is higher than the
shared one, so about once per block per worker. Redis pub/sub would be ~160-190 µs
from publish to receipt and exists only with REDIS_URL.

**Layout** (64-bit little-endian words on one page)::

    word 0   magic b"BZHEADS1"
    word 1   network id
    word 2   HEAD: the highest block number a worker has shown as the head (or in
             an answer)
    word 3   FINAL: the number of the finalized record below, written after it
    words 4-9   the finalized record: number, 32-byte hash, check (the first 8
             bytes of its BLAKE2b), so a reader that meets it half-written (a
             writer killed mid-write, or a weakly ordered CPU) sees a bad check
             and ignores it

An aligned 8-byte store or load is single-copy atomic on x86-64 and AArch64
(CPython's memoryview copies one item with a fixed-size memcpy, one instruction),
so HEAD and FINAL are never read half-written; the record is not one word, hence
its check.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import mmap
import os
import stat
import struct
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["FINAL", "HEAD", "HeadsFileError", "SharedHeads", "create_heads_file",
           "remove_heads_file"]

log = logging.getLogger("bizra_node.validation")

MAGIC = b"BZHEADS1"
SIZE = mmap.PAGESIZE
HEAD = 2
"""Word index of the highest head shown."""
FINAL = 3
"""Word index of the finalized record's number (written after the record)."""
_RECORD = 32
_RECORD_FORMAT = struct.Struct("<Q32s8s")
_MAX = (1 << 63) - 1
"""Numbers above this are not shared (no chain is that long; a liar's number is not
worth a word)."""
_LOCK_WAIT = 0.002
"""Seconds a writer tries for the lock before it gives up (and says so): a worker
frozen while holding it must not stall every other worker's event loop."""


class HeadsFileError(ValueError):
    """HEADS_FILE names something that is not a heads file made by ``serve``."""


def _shm_dir() -> str | None:
    """/dev/shm when this system has a writable one (memory, never written to disk)."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None


def _check_private_dir(path: Path) -> None:
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() \
            or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise HeadsFileError(f"HEADS_FILE: {path} must be a directory of this user that "
                             "no other user may write")


def create_heads_file(path: str, network_id: int) -> tuple[str, bool]:
    """Make the heads file (a fresh private directory when ``path`` is empty; else
    ``path``, replacing what is there, in a directory no other user may write);
    returns its path and whether its directory was made here (then
    :func:`remove_heads_file` removes it)."""
    made = not path
    if made:
        folder = Path(tempfile.mkdtemp(prefix="bizra-node-", dir=_shm_dir()))
        target = folder / "heads"
    else:
        target = Path(path)
        _check_private_dir(target.parent)
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
    fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600)
    try:
        os.ftruncate(fd, SIZE)
        os.pwrite(fd, MAGIC + struct.pack("<Q", network_id), 0)
    finally:
        os.close(fd)
    return str(target), made


def remove_heads_file(path: str, made: bool) -> None:
    """Delete the heads file of a finished run (and its directory if made here)."""
    with contextlib.suppress(OSError):
        os.remove(path)
    if made:
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(path))


def _check(number: int, block_hash: bytes) -> bytes:
    return hashlib.blake2b(struct.pack("<Q", number) + block_hash, digest_size=8).digest()


class SharedHeads:
    """One worker's mapping of the heads file."""

    __slots__ = ("_fd", "_map", "_stalls", "path", "words")

    def __init__(self, fd: int, path: str) -> None:
        self._fd = fd
        self.path = path
        self._map = mmap.mmap(fd, SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self.words = memoryview(self._map).cast("Q")
        """The file as 64-bit words: ``words[HEAD]`` is the hit path's one read."""
        self._stalls = 0

    @classmethod
    def open(cls, path: str, network_id: int) -> SharedHeads:
        """Map the heads file ``serve`` made; HeadsFileError when it is not one."""
        try:
            fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise HeadsFileError(f"HEADS_FILE: cannot open {path}: {exc.strerror}") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() \
                    or info.st_mode & 0o077 or info.st_size != SIZE:
                raise HeadsFileError(f"HEADS_FILE: {path} is not a heads file of this user "
                                     "(a regular file, mode 0600, made by `bizra-node serve`)")
            _check_private_dir(Path(path).parent)
            head = os.pread(fd, 16, 0)
            if head[:8] != MAGIC or struct.unpack("<Q", head[8:])[0] != network_id:
                raise HeadsFileError(f"HEADS_FILE: {path} was not made by `bizra-node serve` "
                                     f"for network {network_id}")
            return cls(fd, path)
        except BaseException:
            os.close(fd)
            raise

    # --- the head ---------------------------------------------------------------------
    @property
    def head(self) -> int:
        return int(self.words[HEAD])

    def raise_head(self, number: int) -> None:
        """Make the shared head at least ``number`` (compare-and-max under the lock)."""
        words = self.words
        if number <= words[HEAD] or number > _MAX:
            return
        with self._locked() as held:
            if held and number > words[HEAD]:
                words[HEAD] = number

    # --- finality ---------------------------------------------------------------------
    @property
    def final_number(self) -> int:
        """The finalized record's number (0 when none was published): one load."""
        return int(self.words[FINAL])

    def publish_finalized(self, number: int, block_hash: bytes) -> None:
        """Publish a finalized block (``block_hash`` 32 bytes, or empty when unknown)
        when it is higher than the one shared."""
        if number <= self.words[FINAL] or number > _MAX:
            return
        block_hash = block_hash.rjust(32, b"\0")[:32]
        with self._locked() as held:
            if held and number > self.words[FINAL]:
                self._map[_RECORD:_RECORD + _RECORD_FORMAT.size] = _RECORD_FORMAT.pack(
                    number, block_hash, _check(number, block_hash))
                self.words[FINAL] = number

    def finalized(self) -> tuple[int, bytes] | None:
        """The finalized record (number, hash; the hash all zeros when unknown), or None
        when there is none or it does not read whole (half-written: ask again later)."""
        number, block_hash, check = _RECORD_FORMAT.unpack_from(self._map, _RECORD)
        if number == 0 or check != _check(number, block_hash):
            return None
        return number, block_hash

    # --- internals --------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[bool]:
        """Yields True while holding the file's exclusive lock, or False when it could
        not be had within _LOCK_WAIT (the write is skipped, and said)."""
        deadline = time.monotonic() + _LOCK_WAIT
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self._stalls += 1
                    if self._stalls in (1, 100, 10_000):
                        log.warning("heads file %s: lock not had within %.0f ms (%d times); "
                                    "a number was not shared", self.path, _LOCK_WAIT * 1000,
                                    self._stalls)
                    yield False
                    return
                time.sleep(0)
        try:
            yield True
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self.words.release()
        self._map.close()
        os.close(self._fd)
