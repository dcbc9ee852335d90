"""Entry: the msgpack record stored in L2."""

from __future__ import annotations

import pytest

from bizra_node.cache import Entry, EntryError, decode_entry, encode_entry


def test_round_trip() -> None:
    entry = Entry(body=b'{"a":', expires=1.5e9, final=True, moving=False, head=10, number=7,
                  tail=b"}", etag='"x"')
    assert decode_entry(encode_entry(entry)) == entry
    assert entry.size > len(b'{"a":') + 1


def test_defaults_round_trip() -> None:
    entry = Entry(body=b"{}", expires=0.0)
    assert decode_entry(encode_entry(entry)) == entry


@pytest.mark.parametrize("data", [b"", b"\x93\x01", b"{}", b"\xc1", b"\x92\xc4\x01a\xa1x"])
def test_garbage_is_entry_error(data: bytes) -> None:
    with pytest.raises(EntryError):
        decode_entry(data)


def test_the_proof_round_trips_and_only_a_header_safe_one_is_read_back() -> None:
    said = ("anchored; anchor=first-use; anchor-number=26; anchor-hash=0x" + "ab" * 32
            + "; checks=header_hash,account_proof,parent_link")
    entry = Entry(body=b"1", expires=1.0, proof=said)
    assert decode_entry(encode_entry(entry)).proof == said
    assert entry.size == Entry(body=b"1", expires=1.0).size + len(said)
    for bad in ("anchored\r\nset-cookie: x=1", "UNVERIFIED", "a" * 601):
        with pytest.raises(EntryError, match="malformed proof"):
            decode_entry(encode_entry(Entry(body=b"1", expires=1.0, proof=bad)))
