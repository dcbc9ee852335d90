"""Results as cache entries, and cache entries as answers.

A result is encoded once, when it is computed, into an :class:`Entry` that the
cache keeps as bytes. Serving an entry fills in only what differs per request:
a transaction's confirmations (from the current head; the encoded bytes are cut
at the confirmations value, so no re-encoding) and, in the API, the request id.
"""

from __future__ import annotations

import hashlib
import time

import msgspec

from ..cache import NEVER, Entry, Ttl, TtlPolicy
from .types import AccountResult, BlockResult, TransactionResult

__all__ = [
    "BLOCK_NOT_FOUND",
    "TX_NOT_FOUND",
    "Answer",
    "account_entry",
    "block_entry",
    "transaction_entry",
]

TX_NOT_FOUND = "Transaction not found"
BLOCK_NOT_FOUND = "Block not found"

_encode = msgspec.json.Encoder().encode
_CONFIRMATIONS = b',"confirmations":'


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def _strong(identity: str) -> str:
    return '"' + _digest(identity.encode()) + '"'


def _weak(data: bytes) -> str:
    return 'W/"' + _digest(data) + '"'


class Answer:
    """An encoded ValidationResult ready for the envelope, with what the resource
    routes need (finality, ETag). ``parts`` are the answer's bytes in order (the
    envelope joins them with its own in one go); the ETag is computed only when
    asked for."""

    __slots__ = ("_conf", "entry", "parts")

    def __init__(self, entry: Entry, parts: tuple[bytes, ...] | None = None,
                 conf: bytes = b"") -> None:
        self.entry = entry
        self.parts = parts if parts is not None else (entry.body,)
        self._conf = conf

    @property
    def body(self) -> bytes:
        return b"".join(self.parts)

    @property
    def final(self) -> bool:
        return self.entry.final

    @property
    def etag(self) -> str:
        """Final answers: a strong tag naming their identity. Others: a weak tag over
        their data (for transactions, together with the current confirmations)."""
        tag = self.entry.etag
        if self._conf and not self.entry.final:
            return _weak(tag.encode() + self._conf)
        return tag

    @classmethod
    def serve(cls, entry: Entry, head: int) -> Answer:
        """Splice the confirmations counted at ``head`` into a transaction entry."""
        n = head - entry.number + 1
        conf = b"%d" % (n if n > 1 else 1)
        return cls(entry, (entry.body, conf, entry.tail), conf)


def _entry(body: bytes, ttl: Ttl, head: int, *, etag: str, block: int, number: int = -1,
           tail: bytes = b"") -> Entry:
    """``block``: the highest block the answer depends on (a reorg at or below it drops
    the entry)."""
    expires = time.time() + ttl.seconds if ttl.seconds > 0 else 0.0
    return Entry(body=body, expires=expires, final=ttl.final, moving=ttl.moving, head=head,
                 number=number, tail=tail, etag=etag, block=block)


def transaction_entry(result: TransactionResult, head: int, policy: TtlPolicy) -> Entry:
    tx = result.data
    body = _encode(result)
    if tx is None:
        ttl = policy.transaction(found=False, mined=False, final=False) \
            if result.error == TX_NOT_FOUND else NEVER
        return _entry(body, ttl, head, block=head,
                      etag=_weak(b"null" + (result.error or "").encode()))
    mined = tx.block_number is not None
    ttl = policy.transaction(found=True, mined=mined, final=tx.finalized)
    if result.valid is None:  # unverified (a type the node cannot encode): never cached
        return _entry(body, NEVER, head, block=head, etag=_weak(_encode(tx)))
    if not mined:
        return _entry(body, ttl, head, block=head, etag=_weak(_encode(tx)))
    # cut the body at the confirmations value: served as body + digits + tail
    start = body.index(_CONFIRMATIONS) + len(_CONFIRMATIONS)
    end = body.index(b",", start)
    if tx.finalized:
        etag = _strong(f"tx:{tx.hash}:{tx.block_hash}")
    else:  # the weak tag's basis: the data without its confirmations
        etag = _digest(_encode(msgspec.structs.replace(tx, confirmations=0)))
    return _entry(body[:start], ttl, head, etag=etag, block=tx.block_number or 0,
                  number=tx.block_number or 0, tail=body[end:])


def block_entry(result: BlockResult, by_tag: bool, head: int, policy: TtlPolicy) -> Entry:
    body = _encode(result)
    block = result.data
    if block is None:
        ttl = policy.block(found=False, final=False, by_tag=by_tag) \
            if result.error == BLOCK_NOT_FOUND else NEVER
        return _entry(body, ttl, head, block=head,
                      etag=_weak(b"null" + (result.error or "").encode()))
    ttl = policy.block(found=True, final=block.finalized, by_tag=by_tag)
    depends = max(block.number, head) if by_tag else block.number
    if ttl.final:
        return _entry(body, ttl, head, block=depends, etag=_strong(f"block:{block.hash}"))
    return _entry(body, ttl, head, block=depends, etag=_weak(_encode(block)))


def account_entry(result: AccountResult, head: int, policy: TtlPolicy) -> Entry:
    """Unproven (``valid`` null): never cached, so the next request asks again (an
    upstream that proves may be back)."""
    body = _encode(result)
    at = result.data.block_number if result.data is not None else head
    ttl = NEVER if result.valid is None else policy.account()
    return _entry(body, ttl, head, block=max(at, head),
                  etag=_weak(_encode(result.data) + (result.error or "").encode()))
