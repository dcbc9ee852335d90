"""The frame reader of the spool and the local log under damage.

Property: whatever bytes are overwritten or cut, at whatever offsets, every frame whose
bytes the damage does not touch is read back, and nothing is read back that was not
written (a frame either comes back exactly as written or not at all). Files of the
format before the sync marker (version 1) are still read, and resynchronised on too."""

from __future__ import annotations

import struct
import zlib

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bizra_node.store import Record
from bizra_node.store.frames import MAGIC, encode_frame, scan


def record(n: int, text: str = "") -> Record:
    return (n.to_bytes(16, "big"), "transaction", f"0x{n:064x}", 31337, n % 2 == 0,
            "confirmed" if n % 3 else None, n if n % 5 else None,
            b'{"valid":true,"note":"' + text.encode() + b'"}', 1_700_000_000_000_000 + n)


def encode_v1(records: list[Record]) -> bytes:
    """A frame as written before version 2: length, crc32, payload."""
    payload = msgspec.msgpack.encode(records)
    return struct.pack(">II", len(payload), zlib.crc32(payload)) + payload


def frames(sizes: list[int], text: str = "") -> list[list[Record]]:
    out, n = [], 0
    for size in sizes:
        out.append([record(n + i, text) for i in range(size)])
        n += size
    return out


def test_intact_file_reads_back() -> None:
    written = frames([1, 3, 200, 2])
    got = scan(b"".join(encode_frame(f) for f in written))
    assert got.frames == written and got.damage == []
    assert encode_frame(written[0]).startswith(MAGIC)


def test_damage_inside_a_payload_is_counted_exactly() -> None:
    written = frames([4, 6, 5])
    parts = [encode_frame(f) for f in written]
    data = bytearray(b"".join(parts))
    data[len(parts[0]) + 40] ^= 0xFF  # inside the second frame's payload
    got = scan(bytes(data))
    assert got.frames == [written[0], written[2]]
    (damage,) = got.damage
    assert (damage.offset, damage.length, damage.records, damage.exact) == (
        len(parts[0]), len(parts[1]), 6, True)


def test_a_damaged_header_is_skipped_and_its_records_estimated() -> None:
    written = frames([4, 6, 5])
    parts = [encode_frame(f) for f in written]
    data = bytearray(b"".join(parts))
    data[len(parts[0]) + 5] ^= 0x01  # the second frame's length
    got = scan(bytes(data))
    assert got.frames == [written[0], written[2]]
    (damage,) = got.damage
    assert (damage.length, damage.records, damage.exact) == (len(parts[1]), 6, False)


def test_a_cut_tail_says_what_it_held() -> None:
    written = frames([3, 7])
    data = b"".join(encode_frame(f) for f in written)[:-5]
    got = scan(data)
    assert got.frames == written[:1]
    assert (got.records_skipped, got.exact) == (7, True)


def test_version_1_files_are_read_and_resynchronised() -> None:
    written = frames([2, 5, 3, 4])
    parts = [encode_v1(f) for f in written]
    assert scan(b"".join(parts)).frames == written
    data = bytearray(b"".join(parts))
    data[len(parts[0]) + 2] ^= 0xFF  # the second frame's length
    got = scan(bytes(data))
    assert got.frames == [written[0], written[2], written[3]]
    assert got.bytes_skipped == len(parts[1])


def test_garbage_before_the_first_frame_and_between_files() -> None:
    written = frames([2, 2])
    data = b"\x00" * 7 + encode_frame(written[0]) + b"junk" + encode_frame(written[1])
    got = scan(data)
    assert got.frames == written
    assert [(d.offset, d.length) for d in got.damage] == [
        (0, 7), (7 + len(encode_frame(written[0])), 4)]


damage_ops = st.lists(
    st.one_of(
        st.tuples(st.just("overwrite"), st.floats(0, 1), st.binary(min_size=1, max_size=64)),
        st.tuples(st.just("cut"), st.floats(0, 1), st.just(b"")),
    ),
    min_size=1, max_size=4)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sizes=st.lists(st.integers(1, 12), min_size=1, max_size=12),
       text=st.text(max_size=40), version=st.sampled_from([1, 2]), ops=damage_ops)
def test_damage_never_loses_an_untouched_frame_nor_lands_garbage(
        sizes: list[int], text: str, version: int,
        ops: list[tuple[str, float, bytes]]) -> None:
    written = frames(sizes, text)
    encode = encode_frame if version == 2 else encode_v1
    parts = [encode(f) for f in written]
    data = bytearray(b"".join(parts))
    touched: list[tuple[int, int]] = []  # byte ranges the damage changed
    for op, where, garbage in ops:
        at = int(where * len(data))
        if op == "cut":
            touched.append((at, 1 << 62))
            del data[at:]
        else:
            end = min(at + len(garbage), len(data))
            data[at:end] = garbage[:end - at]
            touched.append((at, end))
    got = scan(bytes(data))

    offsets = [sum(len(p) for p in parts[:i]) for i in range(len(parts))]
    untouched = [f for f, start, part in zip(written, offsets, parts, strict=True)
                 if all(end <= start or at >= start + len(part) for at, end in touched)]
    landed = [tuple(f) for f in got.frames]
    assert all(f in written for f in got.frames), "a frame that was never written"
    assert len(set(landed)) == len(landed)
    assert [f for f in got.frames] == [f for f in written if f in got.frames]  # in order
    for frame in untouched:
        assert frame in got.frames, "an intact frame was lost"
    assert got.bytes_skipped + sum(len(parts[written.index(f)]) for f in got.frames) == len(data)
