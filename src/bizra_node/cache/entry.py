"""What the cache holds for one key: an encoded answer and what it needs to be served.

An :class:`Entry` is built once, when an answer is computed, and is then served
as is: L1 holds the object, L2 holds it as msgpack (then through the codec).
Only the few per-request parts are filled in at serving time:

- ``number >= 0``: the answer counts confirmations from block ``number``; the
  served bytes are ``body + str(confirmations) + tail`` with the confirmations
  recomputed from the current head (never frozen in the cache).
- ``moving``: the answer describes the chain as of head ``head`` (an account's
  state, the ``latest`` block, a transaction not mined yet); it is valid only
  while the chain head has not moved past ``head``.
- ``block``: the highest block the answer depends on (the transaction's block, the
  block itself, the block state was read at, the head for answers "as of now"); a
  reorg above it leaves the answer standing, one at or below it drops the entry.
- ``proof``: what was proven about the answer, as /rpc's ``X-Verification`` header
  value (validation/rpc_proofs.py), served with the answer on a hit as it was on the
  miss; empty for the other kinds.
"""

from __future__ import annotations

import math
import re

import msgspec

__all__ = ["Entry", "EntryError", "check_entry", "decode_entry", "encode_entry"]


class Entry(msgspec.Struct, array_like=True, gc=False):
    body: bytes
    """The encoded answer (up to the splice point when ``number >= 0``)."""
    expires: float
    """Unix time after which the entry is not served (<= now: not cached at all)."""
    final: bool = False
    """The answer can no longer change (final block or transaction)."""
    moving: bool = False
    head: int = 0
    """Chain head the answer was computed at."""
    number: int = -1
    """Block number confirmations are counted from; -1: nothing to splice."""
    tail: bytes = b""
    etag: str = ""
    """Entity tag for resource answers (strong for final ones, weak otherwise)."""
    block: int = -1
    """The highest block number the answer depends on; -1: none (a constant)."""
    proof: str = ""
    """/rpc: the X-Verification header value of the answer ("": none said)."""

    @property
    def size(self) -> int:
        """Bytes this entry holds, for L1's byte bound (payload plus object overhead)."""
        return len(self.body) + len(self.tail) + len(self.etag) + len(self.proof) + 160


class EntryError(ValueError):
    """Bytes that are not an encoded Entry."""


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Entry)


def encode_entry(entry: Entry) -> bytes:
    return _encoder.encode(entry)


_ETAG = re.compile(rb'(?:W/)?"[\x21\x23-\x7e]*"')
"""An entity tag as RFC 9110 spells it (it goes into a response header as is)."""
_PROOF = re.compile(r"[a-z0-9_=;,. x-]{0,600}")
"""What an X-Verification value may hold (it goes into a response header as is)."""


def check_entry(entry: Entry) -> str | None:
    """What is wrong with an entry's shape (None: nothing). Types are checked by the
    decoder; this checks what the types allow but the node never writes."""
    if not entry.body:
        return "empty body"
    if not math.isfinite(entry.expires):
        return "expiry not finite"
    if entry.number < -1 or entry.head < 0 or entry.block < -1:
        return "negative block number"
    if entry.number < 0 and entry.tail:
        return "a tail without a splice point"
    if entry.etag and not _ETAG.fullmatch(entry.etag.encode("utf-8", "replace")):
        return "malformed etag"
    if entry.proof and not _PROOF.fullmatch(entry.proof):
        return "malformed proof"
    return None


def decode_entry(data: bytes) -> Entry:
    """An Entry of the right types and shape; raises EntryError for anything else."""
    try:
        entry = _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise EntryError(f"not a cache entry: {str(exc)[:100]}") from None
    problem = check_entry(entry)
    if problem is not None:
        raise EntryError(f"not a cache entry: {problem}")
    return entry
