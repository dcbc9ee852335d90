"""ValidationService: asks upstreams, checks what they say, builds results.

One upstream round trip per validation where the protocol allows: the calls a
validation needs go out as one JSON-RPC batch. A transaction's timestamp is its
block's: taken from ``blockTimestamp`` when the upstream includes it (anvil, recent
geth), else from the block header, fetched once per block hash and memoised.

The ``*_answer`` methods are what the API serves: they consult the TieredCache
first (validation -> cache, validation -> chain) and return encoded bytes; only on a
miss is a result computed by the ``validate_*`` methods (which always ask upstream
and are the only ones that call the recorder). The ``*_hit`` methods are the
synchronous hit path. Head and finality come from the ChainView.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from ..cache import Compute, Entry, TieredCache, TtlPolicy
from ..jsonrpc import Call
from .answer import (
    BLOCK_NOT_FOUND,
    TX_NOT_FOUND,
    Answer,
    account_entry,
    block_entry,
    transaction_entry,
)
from .chain_view import ChainView, Upstreams, need, unavailable
from .convert import hex_int, to_account, to_block, to_transaction
from .inputs import is_uint
from .integrity import IntegrityError, check_block, check_transaction
from .types import AccountResult, BlockResult, TransactionResult

__all__ = ["Recorder", "ValidationService", "now_iso"]

log = logging.getLogger("bizra_node.validation")

_HEADER_MEMO_SIZE = 4096


def _inline_timestamp(tx: dict[str, Any], receipt: dict[str, Any]) -> int | None:
    """Newer nodes (anvil, geth >= 1.16) put ``blockTimestamp`` on the transaction or
    receipt, which saves the header round trip."""
    for value in (tx.get("blockTimestamp"), receipt.get("blockTimestamp")):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.startswith("0x"):
            return int(value, 16)
    return None


Recorder = Callable[[str, str, Any], "Awaitable[None] | None"]
"""Called with (kind, subject, result) after each validation (never on a cache hit);
must not block. Returns None when the record is only queued (DURABILITY=async), or an
awaitable that completes once it is durable (local: in the fsynced local log; sync:
committed in PostgreSQL): the validation is answered after it."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ValidationService:
    def __init__(self, upstreams: Upstreams, chain: ChainView, *, network_id: int,
                 recorder: Recorder | None = None, cache: TieredCache | None = None) -> None:
        self._up = upstreams
        self.chain = chain
        self._cache = cache
        self._policy = cache.policy if cache is not None else TtlPolicy()
        self.network_id = network_id
        self._recorder = recorder
        self._header_ts: OrderedDict[str, int] = OrderedDict()

    # --- transaction -------------------------------------------------------------
    async def _timestamp(self, block_hash: str) -> int:
        ts = self._header_ts.get(block_hash)
        if ts is not None:
            return ts
        (header,) = await self._up.batch([Call("eth_getBlockByHash", (block_hash, False))])
        header = need(header, "eth_getBlockByHash")
        if not isinstance(header, dict) or str(header.get("hash", "")).lower() != block_hash:
            raise IntegrityError("upstream returned a different block for the transaction")
        ts = hex_int(header["timestamp"])
        self._header_ts[block_hash] = ts
        if len(self._header_ts) > _HEADER_MEMO_SIZE:
            self._header_ts.popitem(last=False)
        return ts

    async def validate_transaction(self, tx_hash: str) -> TransactionResult:
        calls = [Call("eth_getTransactionByHash", (tx_hash,)),
                 Call("eth_getTransactionReceipt", (tx_hash,)),
                 Call("eth_blockNumber"), *self.chain.finality_calls()]
        raw = await self._up.batch(calls)
        tx = need(raw[0], "eth_getTransactionByHash")
        receipt = need(raw[1], "eth_getTransactionReceipt")
        try:
            head = self.chain.head_of(raw[2])
            if tx is None:
                result = TransactionResult(valid=False, error=TX_NOT_FOUND,
                                           validated_at=now_iso(), network_id=self.network_id)
            else:
                if not isinstance(tx, dict) or not (receipt is None or isinstance(receipt, dict)):
                    raise IntegrityError("transaction or receipt is not an object")
                check_transaction(tx, receipt, tx_hash)
                block_hash = tx.get("blockHash")
                ts = None
                if block_hash and receipt is not None:
                    ts = _inline_timestamp(tx, receipt)
                    if ts is None:
                        ts = await self._timestamp(str(block_hash).lower())
                data = to_transaction(tx, receipt, head=head,
                                      finalized_at=self.chain.finalized_at(head, raw[3:]),
                                      timestamp=ts)
                result = TransactionResult(valid=True, data=data, validated_at=now_iso(),
                                           network_id=self.network_id)
        except IntegrityError as exc:
            result = TransactionResult(valid=False, error=f"integrity check failed: {exc}",
                                       validated_at=now_iso(), network_id=self.network_id)
        except (KeyError, ValueError, TypeError) as exc:
            raise unavailable("malformed transaction data", error=type(exc).__name__) from None
        waiter = self._record("transaction", tx_hash, result)
        if waiter is not None:
            await waiter
        return result

    # --- block -------------------------------------------------------------------
    async def validate_block(self, ref: int | str) -> BlockResult:
        tag = hex(ref) if isinstance(ref, int) else ref
        calls = [Call("eth_getBlockByNumber", (tag, False)), Call("eth_blockNumber"),
                 *self.chain.finality_calls()]
        raw = await self._up.batch(calls)
        block = need(raw[0], "eth_getBlockByNumber")
        try:
            head = self.chain.head_of(raw[1])
            if block is None:
                result = BlockResult(valid=False, error=BLOCK_NOT_FOUND,
                                     validated_at=now_iso(), network_id=self.network_id)
            else:
                if not isinstance(block, dict):
                    raise IntegrityError("block is not an object")
                check_block(block, ref if isinstance(ref, int) else None)
                data = to_block(block, finalized_at=self.chain.finalized_at(head, raw[2:]))
                result = BlockResult(valid=True, data=data, validated_at=now_iso(),
                                     network_id=self.network_id)
        except IntegrityError as exc:
            result = BlockResult(valid=False, error=f"integrity check failed: {exc}",
                                 validated_at=now_iso(), network_id=self.network_id)
        except (KeyError, ValueError, TypeError) as exc:
            raise unavailable("malformed block data", error=type(exc).__name__) from None
        waiter = self._record("block", str(ref), result)
        if waiter is not None:
            await waiter
        return result

    # --- address -----------------------------------------------------------------
    async def validate_address(self, address: str) -> AccountResult:
        calls = [Call("eth_getBalance", (address, "latest")),
                 Call("eth_getTransactionCount", (address, "latest")),
                 Call("eth_getCode", (address, "latest")), Call("eth_blockNumber")]
        raw = await self._up.batch(calls)
        balance, nonce, code = (need(raw[i], calls[i].method) for i in range(3))
        try:
            head = self.chain.head_of(raw[3])
            data = to_account(address, balance, nonce, code, head)
        except (KeyError, ValueError, TypeError) as exc:
            raise unavailable("malformed account data", error=type(exc).__name__) from None
        result = AccountResult(valid=True, data=data, validated_at=now_iso(),
                               network_id=self.network_id)
        waiter = self._record("address", address, result)
        if waiter is not None:
            await waiter
        return result

    def _record(self, kind: str, subject: str, result: Any) -> Awaitable[None] | None:
        return self._recorder(kind, subject, result) if self._recorder is not None else None

    # --- cached answers (what the API serves) ---------------------------------------------
    # The hit path: synchronous, no coroutine, no I/O. Each returns the answer when
    # L1 holds it (and, where it matters, the head is fresh), else None. Keys are the
    # canonical subjects (lower-case hash, block number, EIP-55 address): L1 only
    # ever holds keys that passed validation, so a hit under the caller's raw input
    # proves the input valid, and anything else goes the full way (and is checked).
    def _hit_view(self) -> tuple[TieredCache, int] | None:
        """The cache and the head, when both may serve a hit without awaiting."""
        cache = self._cache
        head = self.chain.fresh_head() if cache is not None else None
        return None if cache is None or head is None else (cache, head)

    def transaction_hit(self, tx_hash: str) -> Answer | None:
        view = self._hit_view()
        if view is None:
            return None
        cache, head = view
        entry = cache.get("transaction", tx_hash)
        if entry is None:
            return None
        return Answer(entry) if entry.number < 0 else Answer.serve(entry, head)

    def block_hit(self, subject: str) -> Answer | None:
        entry = self._cache.get("block", subject) if self._cache is not None else None
        return None if entry is None else Answer(entry)

    def address_hit(self, address: str) -> Answer | None:
        view = self._hit_view()
        if view is None:
            return None
        cache, head = view
        entry = cache.get_at("address", address, head)
        return None if entry is None else Answer(entry)

    async def transaction_answer(self, tx_hash: str) -> Answer:
        answer = self.transaction_hit(tx_hash)
        if answer is not None:
            return answer
        entry = await self._fetch("transaction", tx_hash, self._compute_transaction)
        if entry.number < 0:
            return Answer(entry)
        if self._cache is None:  # just computed: the head it saw is the one to count from
            return Answer.serve(entry, self.chain.best_head)
        return Answer.serve(entry, await self.chain.head())

    async def block_answer(self, ref: int | str) -> Answer:
        subject = str(ref)
        answer = self.block_hit(subject)
        if answer is not None:
            return answer
        entry = await self._fetch("block", subject, self._compute_block)
        return Answer(entry)

    async def address_answer(self, address: str) -> Answer:
        entry = await self._fetch("address", address, self._compute_address)
        return Answer(entry)

    async def _fetch(self, kind: str, subject: str, compute: Compute) -> Entry:
        if self._cache is None:
            return await compute(subject)
        return await self._cache.fetch(kind, subject, compute, self.chain.head)

    async def _compute_transaction(self, tx_hash: str) -> Entry:
        result = await self.validate_transaction(tx_hash)
        return transaction_entry(result, self.chain.best_head, self._policy)

    async def _compute_block(self, subject: str) -> Entry:
        ref: int | str = int(subject) if is_uint(subject) else subject
        result = await self.validate_block(ref)
        return block_entry(result, isinstance(ref, str), self.chain.best_head, self._policy)

    async def _compute_address(self, address: str) -> Entry:
        result = await self.validate_address(address)
        return account_entry(result, self.chain.best_head, self._policy)
