"""The spool file: frames, torn tails, the size cap and claiming between processes."""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest

from bizra_node.store import Spool
from bizra_node.store.records import make_record
from bizra_node.store.spool import SpoolFull
from bizra_node.validation import BlockResult
from tests.support.spool import read_frames


def records(n: int, start: int = 0) -> list:  # type: ignore[type-arg]
    return [make_record("block", str(i), BlockResult(valid=True, validated_at="2024-05-01T00:00:00Z",
                                                     network_id=1)) for i in range(start, start + n)]


def test_append_seal_claim_remove(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20)
    spool.append(records(3))
    spool.append(records(2, 3))
    spool.append([])
    assert spool.has_active and spool.bytes > 0
    assert spool.pending() == []  # the active file is not replayable yet
    spool.sync()
    spool.seal()
    (path,) = spool.pending()
    with spool.claim(path) as found:
        assert found is not None and found.damage == []
        assert [len(f) for f in found.frames] == [3, 2]
        assert found.frames[1][0][2] == "3"
        spool.remove(path)
    assert spool.bytes == 0 and not path.exists()
    with spool.claim(path) as frames:
        assert frames is None  # gone


def test_a_file_locked_by_another_writer_is_not_claimed(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20)
    other = Spool(tmp_path, 1 << 20)
    other.append(records(1))  # other holds its active file locked
    (path,) = spool.pending()
    with spool.claim(path) as frames:
        assert frames is None
    other.seal()
    with spool.claim(path) as found:
        assert found is not None and len(found.frames) == 1


def test_torn_tail_and_corrupt_frame_are_skipped(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20)
    spool.append(records(4))
    spool.append(records(4, 4))
    spool.seal()
    (path,) = spool.pending()
    data = path.read_bytes()
    path.write_bytes(data[:-7])  # the process died while writing the second frame
    assert [len(f) for f in read_frames(path)] == [4]
    path.write_bytes(data + b"\x00\x00")  # a torn header
    assert [len(f) for f in read_frames(path)] == [4, 4]
    corrupt = bytearray(data)
    corrupt[30] ^= 0xFF  # the first frame's payload: the reader resynchronises on the second
    path.write_bytes(bytes(corrupt))
    assert [f[0][2] for f in read_frames(path)] == ["4"]


def test_a_damaged_file_goes_to_quarantine(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", 1 << 20)
    spool.append(records(4))
    spool.append(records(4, 4))
    spool.seal()
    (path,) = spool.pending()
    data = path.read_bytes()[:-3]
    path.write_bytes(data)
    with spool.claim(path) as found:
        assert found is not None and found.records == 4 and found.records_skipped == 4
        kept = spool.quarantine(path, found)
    assert kept == tmp_path / "quarantine" / path.name and kept.read_bytes() == data
    assert spool.pending() == [] and spool.refresh() == 0


def test_cap_and_rejected_file(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20)
    spool.max_bytes = 400
    spool.append(records(1))
    with pytest.raises(SpoolFull):
        spool.append(records(50))
    kept = spool.write_rejected(records(2))
    assert kept.name.startswith("rejected-") and len(read_frames(kept)[0]) == 2
    assert kept not in spool.pending()
    again = Spool(tmp_path, 1 << 20)
    assert again.bytes == spool.bytes  # measured from the folder
    assert fcntl is not None
