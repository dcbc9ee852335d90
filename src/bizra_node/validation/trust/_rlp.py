"""RLP encoding of bytes, non-negative ints and nested lists, for the hot path.

The ``rlp`` library infers a serializer for every item it encodes; these structures
are only ever bytes, ints and lists, and skipping the inference makes encoding several
times faster (measured by `bizra-node bench trust`). Tests check it gives the
library's bytes on random structures; decoding uses the library.
"""

from __future__ import annotations

from typing import Any

__all__ = ["encode", "encode_bytes", "encode_list_payload"]


def _length_prefix(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes((offset + length,))
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((offset + 55 + len(size),)) + size


def encode_bytes(data: bytes) -> bytes:
    if len(data) == 1 and data[0] < 0x80:
        return data
    return _length_prefix(len(data), 0x80) + data


def encode_list_payload(payload: bytes) -> bytes:
    """A list whose items are already encoded and joined."""
    return _length_prefix(len(payload), 0xC0) + payload


def encode(item: Any) -> bytes:
    """rlp(item) for bytes, ints >= 0 and (nested) lists or tuples of them."""
    if isinstance(item, bytes):
        return encode_bytes(item)
    if isinstance(item, int):
        if item < 0:
            raise ValueError("RLP cannot encode a negative integer")
        if item == 0:
            return b"\x80"
        if item < 0x80:
            return bytes((item,))
        data = item.to_bytes((item.bit_length() + 7) // 8, "big")
        return _length_prefix(len(data), 0x80) + data
    if isinstance(item, list | tuple):
        return encode_list_payload(b"".join([encode(x) for x in item]))
    raise TypeError(f"RLP cannot encode {type(item).__name__}")
