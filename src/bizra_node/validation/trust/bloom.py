"""The logs bloom of a header or receipt (yellow paper, section 4.3.1).

Each log adds its address and each of its topics: for a value ``v``, the three bits
``((h[i] << 8) | h[i + 1]) mod 2048`` for i = 0, 2, 4 of ``h = keccak(v)`` are set,
bit ``b`` counted from the low end of the 2048-bit big-endian number (byte
``255 - b // 8``, mask ``1 << b % 8``). A bloom has no false negatives: a block whose
proven bloom lacks a bit of a value has no log with that value, so it can be skipped
without looking at its receipts.
"""

from __future__ import annotations

from collections.abc import Iterable

from ._keccak import keccak

__all__ = ["BLOOM_BYTES", "bloom_add", "bloom_bits", "bloom_has", "bloom_has_any"]

BLOOM_BYTES = 256

Bits = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]
"""(byte index, mask) of each of a value's three bits."""


def bloom_bits(value: bytes) -> Bits:
    h = keccak(value)
    out = []
    for i in (0, 2, 4):
        bit = ((h[i] << 8) | h[i + 1]) & 2047
        out.append((BLOOM_BYTES - 1 - bit // 8, 1 << (bit % 8)))
    return (out[0], out[1], out[2])


def bloom_has(bloom: bytes, bits: Bits) -> bool:
    """Whether the bloom may contain the value of ``bits`` (False: certainly not)."""
    return all(bloom[at] & mask for at, mask in bits)


def bloom_has_any(bloom: bytes, alternatives: Iterable[Bits]) -> bool:
    return any(bloom_has(bloom, bits) for bits in alternatives)


def bloom_add(bloom: bytearray, value: bytes) -> None:
    """Set the value's three bits (to build a bloom, as a block producer does)."""
    for at, mask in bloom_bits(value):
        bloom[at] |= mask
