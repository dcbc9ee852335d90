"""The frame format of the spool and the local log, and the reader that survives damage.

A file is a series of frames, each one append. Version 2 (written since the reader
resynchronises):

    magic (4 bytes, MAGIC) · payload length (4) · records (4) · crc32 of the payload (4)
    · crc32 of the 16 bytes before (4) · payload: msgpack list of records

Version 1 (files written before; still read): ``payload length (4) · crc32 (4) ·
payload``. All integers are big-endian. MAGIC starts with a byte >= 0x80, so it can
never be the first byte of a version-1 length (frames are far below 2 GiB): a frame's
first four bytes say its version.

Reading (``scan``): a frame whose checksums verify is landed; anything else (a frame
torn by a crash mid-write, bytes overwritten or cut by a failing disk or a person) is
skipped, and reading resumes at the next offset where an intact frame starts: the next
MAGIC whose header and payload verify, or, in a version-1 file, the next place where a
msgpack list of records begins behind a length and crc32 that verify. So damage costs
only the frames it touches. The header's own checksum makes its record count
trustworthy even when the payload is damaged: the reader can say how many records it
skipped (``Damage.records``; an estimate where the header itself was hit).
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass, field

import msgspec

from .records import Record

__all__ = ["MAGIC", "Damage", "Scan", "encode_frame", "scan"]

MAGIC = b"\xb1ZF\x02"
"""Marks the start of every version-2 frame (its last byte is the version)."""

_V2 = struct.Struct(">4sIIII")
_V2_SIGNED = 16
"""Bytes of the version-2 header its own crc32 covers (all but the crc32 itself)."""
_V1 = struct.Struct(">II")
_RECORD_START = re.compile(rb"\x99\xc4\x10")
"""A record as msgpack: a list of 9 (0x99) whose first item is 16 bytes (bin8, 0xc4 16)."""
_LIST_HEADERS = (1, 3, 5)
"""Sizes of a msgpack list header (fixarray, array16, array32), before the first record."""

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(list[tuple[bytes, str, str, int, bool, str | None, int | None,
                                             bytes, int]]).decode


def encode_frame(records: list[Record]) -> bytes:
    """One version-2 frame of ``records``."""
    payload = _encode(records)
    signed = MAGIC + struct.pack(">III", len(payload), len(records), zlib.crc32(payload))
    return signed + struct.pack(">I", zlib.crc32(signed)) + payload


@dataclass(frozen=True, slots=True)
class Damage:
    """One unreadable stretch of a file."""

    offset: int
    length: int
    """Bytes skipped."""
    records: int
    """Records in the frames skipped."""
    exact: bool
    """Whether ``records`` comes from verified headers; else a frame header was damaged
    (or the frames are version 1, whose headers carry no count) and it is an estimate:
    the places in the stretch where a record begins (a msgpack list of 9 whose first
    item is 16 bytes)."""


@dataclass(slots=True)
class Scan:
    """What a file holds: its intact frames, and what was skipped to get them."""

    frames: list[list[Record]] = field(default_factory=list)
    damage: list[Damage] = field(default_factory=list)

    @property
    def records(self) -> int:
        return sum(len(f) for f in self.frames)

    @property
    def bytes_skipped(self) -> int:
        return sum(d.length for d in self.damage)

    @property
    def records_skipped(self) -> int:
        return sum(d.records for d in self.damage)

    @property
    def exact(self) -> bool:
        """Whether ``records_skipped`` is a count, not an estimate."""
        return all(d.exact for d in self.damage)


def scan(data: bytes) -> Scan:
    """Every intact frame of ``data``, and every stretch skipped between them."""
    out = Scan()
    offset, end = 0, len(data)
    bad_from: int | None = None
    declared: int | None = 0
    while offset < end:
        frame, size, count = _frame_at(data, offset)
        if frame is not None:
            if bad_from is not None:
                out.damage.append(_damage(data, bad_from, offset, declared))
                bad_from, declared = None, 0
            out.frames.append(frame)
            offset += size
            continue
        if bad_from is None:
            bad_from = offset
        if count is None:
            declared = None
        elif declared is not None:
            declared += count
        offset = _resync(data, offset + 1)
    if bad_from is not None:
        out.damage.append(_damage(data, bad_from, end, declared))
    return out


def _damage(data: bytes, start: int, end: int, declared: int | None) -> Damage:
    if declared is not None:
        return Damage(start, end - start, declared, exact=True)
    found = sum(1 for _ in _RECORD_START.finditer(data, start, end))
    return Damage(start, end - start, found, exact=False)


def _frame_at(data: bytes, offset: int) -> tuple[list[Record] | None, int, int | None]:
    """(records, frame size, None) for an intact frame at ``offset``; (None, 0, its
    record count) for a version-2 frame whose header verifies but whose payload does
    not (damaged, or cut short); (None, 0, None) for anything else."""
    if data.startswith(MAGIC, offset):
        if offset + _V2.size > len(data):
            return None, 0, None
        _, length, count, crc, header_crc = _V2.unpack_from(data, offset)
        if zlib.crc32(memoryview(data)[offset:offset + _V2_SIGNED]) != header_crc:
            return None, 0, None
        records = _payload(data, offset + _V2.size, length, crc)
        if records is None or len(records) != count:
            return None, 0, count
        return records, _V2.size + length, None
    if offset + _V1.size > len(data):
        return None, 0, None
    length, crc = _V1.unpack_from(data, offset)
    records = _payload(data, offset + _V1.size, length, crc)
    return records, _V1.size + length, None


def _payload(data: bytes, start: int, length: int, crc: int) -> list[Record] | None:
    """The records of the ``length`` bytes at ``start`` if they are all there and their
    crc32 is ``crc``."""
    if start + length > len(data):
        return None
    payload = memoryview(data)[start:start + length]
    if zlib.crc32(payload) != crc:
        return None
    try:
        return list(_decode(payload))
    except msgspec.DecodeError:  # a checksum that verifies over bytes we never wrote
        return None


def _resync(data: bytes, offset: int) -> int:
    """The first offset at or after ``offset`` where a frame starts (else the end): a
    MAGIC whose header verifies, or a version-1 frame that verifies in front of a list
    of records (those carry no marker)."""
    end = len(data)
    while True:
        magic = data.find(MAGIC, offset)
        limit = end if magic < 0 else magic
        for match in _RECORD_START.finditer(data, offset, min(limit + _V1.size + 8, end)):
            for header in _LIST_HEADERS[::-1]:  # the earliest start first
                start = match.start() - header - _V1.size
                if offset <= start < limit and _frame_at(data, start)[0] is not None:
                    return start
        if magic < 0:
            return end
        found, _, count = _frame_at(data, magic)
        if found is not None or count is not None:
            return magic
        offset = magic + 1
