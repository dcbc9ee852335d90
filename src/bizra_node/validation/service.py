"""ValidationService: asks upstreams, checks what they say, builds results.

One upstream round trip per validation where the protocol allows: the calls a
validation needs go out as one JSON-RPC batch. A transaction's timestamp is its
block's: taken from ``blockTimestamp`` when the upstream includes it (anvil, recent
geth), else from the block header, fetched once per block hash and memoised.

The ``*_answer`` methods are what the API serves: they consult the TieredCache
first (validation -> cache -> chain) and return encoded bytes; only on a miss is a
result computed by the ``validate_*`` methods (which always ask upstream and are
the only ones that call the recorder).

The chain head (needed to count confirmations and to check moving entries) is
cached for TTL_HEAD and refreshed ahead of time: a request that finds it in its
last half-life (HEAD_REFRESH_AHEAD) starts one refresh in the background and is
served at once, so a hit never waits for an upstream round trip while traffic
keeps the head fresh (measured by `bench suite`: without it, every TTL_HEAD the
hits arriving during one upstream round trip waited for it, which set the p99 of
the hit path).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from ..cache import Compute, Entry, TieredCache, TtlPolicy
from ..chain import Call, RpcError
from ..errors import UpstreamUnavailable
from .answer import (
    BLOCK_NOT_FOUND,
    TX_NOT_FOUND,
    Answer,
    account_entry,
    block_entry,
    transaction_entry,
)
from .convert import hex_int, to_account, to_block, to_transaction
from .integrity import IntegrityError, check_block, check_transaction
from .types import AccountResult, BlockResult, TransactionResult

__all__ = ["Recorder", "Upstreams", "ValidationService"]

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


class Upstreams(Protocol):
    """What the service needs from the chain layer."""

    async def batch(self, calls: list[Call], *, timeout: float | None = None) -> list[Any]: ...


Recorder = Callable[[str, str, Any], None]
"""Called with (kind, subject, result) after each validation; must not block."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _unavailable(reason: str, **details: Any) -> UpstreamUnavailable:
    return UpstreamUnavailable(f"upstream could not answer: {reason}", {"reason": reason, **details})


def _need(value: Any, what: str) -> Any:
    """Raise 503 for a JSON-RPC error object in place of a result."""
    if isinstance(value, RpcError):
        raise _unavailable(f"{what} failed", rpcCode=value.code, rpcMessage=value.message[:200])
    return value


class ValidationService:
    def __init__(self, upstreams: Upstreams, *, network_id: int, finality_depth: int,
                 timeout: float | None = None, recorder: Recorder | None = None,
                 cache: TieredCache | None = None, head_refresh_ahead: float = 0.5) -> None:
        self._up = upstreams
        self._cache = cache
        self._policy = cache.policy if cache is not None else TtlPolicy()
        self.network_id = network_id
        self._finality_depth = finality_depth
        self._timeout = timeout
        self._recorder = recorder
        self._best_head = 0
        self._best_finalized = -1
        self._finalized_tag_works = True
        self._header_ts: OrderedDict[str, int] = OrderedDict()
        self._head_refresh: asyncio.Task[None] | None = None
        self._head_until = 0.0
        """Unix time until which ``_best_head`` may be served as the head (TTL_HEAD
        after it was last seen): kept here, not looked up in L1, on the hit path."""
        self._refresh_ahead = self._policy.head * head_refresh_ahead
        """Refresh the cached head when it has less than this left, s (0: never ahead)."""

    # --- head and finality ----------------------------------------------------------
    def _head(self, raw: Any) -> int:
        """The head never goes backwards, even when a lagging upstream answers."""
        head = hex_int(_need(raw, "eth_blockNumber"))
        if head > self._best_head:
            self._best_head = head
        if self._cache is not None:  # a fresh head, seen on the way: serve it for a while
            entry = self._head_entry(self._best_head)
            if self._cache.put("head", "head", entry):  # not when caching is off (L1 size 0)
                self._head_until = entry.expires
        return self._best_head

    def _finality_calls(self) -> list[Call]:
        if self._finalized_tag_works:
            return [Call("eth_getBlockByNumber", ("finalized", False))]
        return []

    def _finalized_at(self, head: int, raw: list[Any]) -> int:
        finalized = head - self._finality_depth
        if raw:
            value = raw[0]
            if isinstance(value, dict) and isinstance(value.get("number"), str):
                finalized = hex_int(value["number"])
            elif isinstance(value, RpcError):
                self._finalized_tag_works = False
        if finalized > self._best_finalized:
            self._best_finalized = finalized
        return finalized

    async def finalized(self) -> int:
        """The highest finalized block number known, refreshed at most every TTL_HEAD.
        Like the head, it never goes backwards."""
        if self._cache is None:
            return await self._compute_finalized()
        entry = self._cache.get("head", "finalized")
        if entry is None:
            entry = await self._cache.fetch("head", "finalized", self._finalized_entry)
        return max(entry.head, self._best_finalized)

    async def _compute_finalized(self) -> int:
        raw = await self._up.batch([Call("eth_blockNumber"), *self._finality_calls()],
                                   timeout=self._timeout)
        try:
            return self._finalized_at(self._head(raw[0]), raw[1:])
        except (ValueError, TypeError):
            raise _unavailable("malformed finalized block") from None

    async def _finalized_entry(self, _: str) -> Entry:
        return self._head_entry(await self._compute_finalized())

    async def block_number(self) -> int:
        (raw,) = await self._up.batch([Call("eth_blockNumber")], timeout=self._timeout)
        try:
            return self._head(raw)
        except (ValueError, TypeError):
            raise _unavailable("malformed eth_blockNumber") from None

    # --- transaction -------------------------------------------------------------
    async def _timestamp(self, block_hash: str) -> int:
        ts = self._header_ts.get(block_hash)
        if ts is not None:
            return ts
        (header,) = await self._up.batch([Call("eth_getBlockByHash", (block_hash, False))],
                                         timeout=self._timeout)
        header = _need(header, "eth_getBlockByHash")
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
                 Call("eth_blockNumber"), *self._finality_calls()]
        raw = await self._up.batch(calls, timeout=self._timeout)
        tx = _need(raw[0], "eth_getTransactionByHash")
        receipt = _need(raw[1], "eth_getTransactionReceipt")
        try:
            head = self._head(raw[2])
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
                                      finalized_at=self._finalized_at(head, raw[3:]),
                                      timestamp=ts)
                result = TransactionResult(valid=True, data=data, validated_at=now_iso(),
                                           network_id=self.network_id)
        except IntegrityError as exc:
            result = TransactionResult(valid=False, error=f"integrity check failed: {exc}",
                                       validated_at=now_iso(), network_id=self.network_id)
        except (KeyError, ValueError, TypeError) as exc:
            raise _unavailable("malformed transaction data", error=type(exc).__name__) from None
        self._record("transaction", tx_hash, result)
        return result

    # --- block -------------------------------------------------------------------
    async def validate_block(self, ref: int | str) -> BlockResult:
        tag = hex(ref) if isinstance(ref, int) else ref
        calls = [Call("eth_getBlockByNumber", (tag, False)), Call("eth_blockNumber"),
                 *self._finality_calls()]
        raw = await self._up.batch(calls, timeout=self._timeout)
        block = _need(raw[0], "eth_getBlockByNumber")
        try:
            head = self._head(raw[1])
            if block is None:
                result = BlockResult(valid=False, error=BLOCK_NOT_FOUND,
                                     validated_at=now_iso(), network_id=self.network_id)
            else:
                if not isinstance(block, dict):
                    raise IntegrityError("block is not an object")
                check_block(block, ref if isinstance(ref, int) else None)
                data = to_block(block, finalized_at=self._finalized_at(head, raw[2:]))
                result = BlockResult(valid=True, data=data, validated_at=now_iso(),
                                     network_id=self.network_id)
        except IntegrityError as exc:
            result = BlockResult(valid=False, error=f"integrity check failed: {exc}",
                                 validated_at=now_iso(), network_id=self.network_id)
        except (KeyError, ValueError, TypeError) as exc:
            raise _unavailable("malformed block data", error=type(exc).__name__) from None
        self._record("block", str(ref), result)
        return result

    # --- address -----------------------------------------------------------------
    async def validate_address(self, address: str) -> AccountResult:
        calls = [Call("eth_getBalance", (address, "latest")),
                 Call("eth_getTransactionCount", (address, "latest")),
                 Call("eth_getCode", (address, "latest")), Call("eth_blockNumber")]
        raw = await self._up.batch(calls, timeout=self._timeout)
        balance, nonce, code = (_need(raw[i], calls[i].method) for i in range(3))
        try:
            head = self._head(raw[3])
            data = to_account(address, balance, nonce, code, head)
        except (KeyError, ValueError, TypeError) as exc:
            raise _unavailable("malformed account data", error=type(exc).__name__) from None
        result = AccountResult(valid=True, data=data, validated_at=now_iso(),
                               network_id=self.network_id)
        self._record("address", address, result)
        return result

    def _record(self, kind: str, subject: str, result: Any) -> None:
        if self._recorder is not None:
            self._recorder(kind, subject, result)

    # --- cached answers (what the API serves) ---------------------------------------------
    async def head(self) -> int:
        """The chain head, from cache for up to TTL_HEAD; never goes backwards."""
        if self._cache is None:
            return await self.block_number()
        head = self._cached_head()
        if head is not None:
            return head
        # from L2 (another worker's) or upstream, one fetch per worker at a time
        entry = await self._cache.fetch("head", "head", self._compute_head)
        if entry.head > self._best_head:
            self._best_head = entry.head
        if entry.expires > self._head_until and self._cache.peek("head", "head") is entry:
            self._head_until = entry.expires  # an L2 answer L1 now holds
        return self._best_head

    def _cached_head(self) -> int | None:
        """The head while it is fresh (None once TTL_HEAD has passed); in its last
        part (HEAD_REFRESH_AHEAD), one background refresh is started and the
        current value is served meanwhile."""
        left = self._head_until - time.time()
        if left <= 0:
            return None
        if left < self._refresh_ahead and self._head_refresh is None:
            # its own (empty) context: not bound by the deadline of the request that
            # happened to start it
            self._head_refresh = asyncio.get_running_loop().create_task(
                self._refresh_head(), context=contextvars.Context())
        return self._best_head

    async def _refresh_head(self) -> None:
        try:
            await self.block_number()  # stores the fresh head in the cache on the way
        except Exception as exc:  # the next request past expiry asks (and reports) itself
            log.debug("head refresh failed: %s", exc)
        finally:
            self._head_refresh = None

    async def close(self) -> None:
        """Wait for a head refresh in flight (called when the node stops)."""
        task = self._head_refresh
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # The hit path: synchronous, no coroutine, no I/O. Each returns the answer when
    # L1 holds it (and, where it matters, the head is fresh), else None. Keys are the
    # canonical subjects (lower-case hash, block number, EIP-55 address): L1 only
    # ever holds keys that passed validation, so a hit under the caller's raw input
    # proves the input valid, and anything else goes the full way (and is checked).
    def _hit_view(self) -> tuple[TieredCache, int] | None:
        """The cache and the head, when both may serve a hit without awaiting."""
        cache = self._cache
        head = self._cached_head() if cache is not None else None
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
            return Answer.serve(entry, self._best_head)
        return Answer.serve(entry, await self.head())

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
        return await self._cache.fetch(kind, subject, compute, self.head)

    def _head_entry(self, head: int) -> Entry:
        return Entry(body=b"", expires=time.time() + self._policy.head, head=head)

    async def _compute_head(self, _: str) -> Entry:
        return self._head_entry(await self.block_number())

    async def _compute_transaction(self, tx_hash: str) -> Entry:
        result = await self.validate_transaction(tx_hash)
        return transaction_entry(result, self._best_head, self._policy)

    async def _compute_block(self, subject: str) -> Entry:
        ref: int | str = int(subject) if subject.isdigit() else subject
        result = await self.validate_block(ref)
        return block_entry(result, isinstance(ref, str), self._best_head, self._policy)

    async def _compute_address(self, address: str) -> Entry:
        result = await self.validate_address(address)
        return account_entry(result, self._best_head, self._policy)
