"""The caching JSON-RPC endpoint's domain: which calls may pass, which answers may be
kept, and for how long.

A web3 client can point at the node as its JSON-RPC URL. Allowed calls go upstream
(one batch per client batch); answers that cannot change are cached like validation
answers, by finality:

- content-addressed or constant: ``eth_chainId``, ``net_version``,
  ``eth_getBlockByHash`` -> long (TTL_FINAL);
- a transaction or receipt by hash: long once its block is final, TTL_RECENT while
  mined but not final, never while pending or unknown;
- a block by number, or state (``eth_getBalance``, ``eth_call``, ...) at an explicit
  block number: long at or below the finalized block, TTL_RECENT up to the head;
- ``eth_blockNumber`` and reads at ``latest``: TTL_HEAD, and only until the head moves;
- anything else (gas prices, logs, estimates, pending state): not cached.

Methods that would sign with the upstream's keys, administer it or reach into its
debug API are refused.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from ..cache import NEVER, Entry, TieredCache, Ttl, TtlPolicy
from ..jsonrpc import Call, RpcError
from .chain_view import ChainView
from .upstreams import Upstreams

__all__ = ["MAX_BATCH", "RpcFailed", "RpcService", "method_allowed", "rpc_ttl"]

MAX_BATCH = 100
_ALLOWED_PREFIXES = ("eth_", "net_", "web3_")
_REFUSED = frozenset({
    "eth_sendTransaction", "eth_sign", "eth_signTransaction", "eth_signTypedData",
    "eth_signTypedData_v3", "eth_signTypedData_v4", "eth_accounts", "eth_coinbase",
    "eth_submitWork", "eth_submitHashrate", "eth_subscribe", "eth_unsubscribe",
})
_CONSTANT = frozenset({"eth_chainId", "net_version"})
_BY_TX_HASH = frozenset({"eth_getTransactionByHash", "eth_getTransactionReceipt"})
_STATE_AT_BLOCK = {  # method -> index of its block parameter
    "eth_getBalance": 1, "eth_getCode": 1, "eth_getTransactionCount": 1,
    "eth_getStorageAt": 2, "eth_call": 1, "eth_getBlockByNumber": 0,
    "eth_getBlockTransactionCountByNumber": 0,
}
_HEAD_TAGS = frozenset({"latest"})


def method_allowed(method: str) -> bool:
    return method.startswith(_ALLOWED_PREFIXES) and method not in _REFUSED


def cacheable(method: str) -> bool:
    """Whether answers of ``method`` may ever be cached (the exact TTL needs the answer)."""
    return (method in _CONSTANT or method in _BY_TX_HASH or method in _STATE_AT_BLOCK
            or method in ("eth_getBlockByHash", "eth_blockNumber"))


def _block_param(params: list[Any], index: int) -> int | str | None:
    """The block a call reads at: an int, 'latest', or None (not cacheable)."""
    value = params[index] if len(params) > index else "latest"
    if isinstance(value, str):
        if value in _HEAD_TAGS:
            return value
        if value.startswith("0x") and len(value) <= 18:
            try:
                return int(value, 16)
            except ValueError:
                return None
    return None  # pending / safe / finalized / EIP-1898 objects: not cached


def rpc_ttl(method: str, params: list[Any], result: Any, *, head: int, finalized: int,
            policy: TtlPolicy) -> Ttl:
    """How long an answer may be served from cache (NEVER: not at all)."""
    if result is None:
        return NEVER
    if method in _CONSTANT or method == "eth_getBlockByHash":
        return policy.lasting()
    if method == "eth_blockNumber":
        return Ttl(policy.head, moving=True)
    if method in _BY_TX_HASH:
        number = result.get("blockNumber") if isinstance(result, dict) else None
        if not isinstance(number, str):
            return NEVER  # pending
        return policy.lasting() if int(number, 16) <= finalized else Ttl(policy.recent)
    index = _STATE_AT_BLOCK.get(method)
    if index is None:
        return NEVER
    block = _block_param(params, index)
    if block is None:
        return NEVER
    if block == "latest":
        return Ttl(policy.head, moving=True)
    assert isinstance(block, int)
    if block <= finalized:
        return policy.lasting()
    return Ttl(policy.recent) if block <= head else NEVER


class RpcFailed(Exception):
    """The upstream answered this call with a JSON-RPC error (never cached)."""

    def __init__(self, error: RpcError) -> None:
        super().__init__(error.message)
        self.error = error


class RpcService:
    """Answers allowed calls from cache or upstream. Answers are encoded result bytes
    (what goes after ``"result":``), or an RpcError value. Heads seen in answers
    (eth_blockNumber) reach the chain view, and are answered by its rule: the head
    never goes backwards."""

    def __init__(self, upstreams: Upstreams, chain: ChainView, *,
                 cache: TieredCache | None = None) -> None:
        self._up = upstreams
        self._chain = chain
        self._cache = cache
        self._policy = cache.policy if cache is not None else TtlPolicy()

    @staticmethod
    def subject(call: Call) -> str:
        return call.method + ":" + orjson.dumps(call.params).decode()

    def _seen(self, call: Call, result: Any) -> Any:
        """``result`` as the node answers it: an eth_blockNumber answer goes through the
        chain view (observed, and never below a head already reported)."""
        if call.method == "eth_blockNumber" and type(result) is str:
            try:
                return hex(self._chain.observe_head(int(result, 16)))
            except ValueError:
                return result
        return result

    async def _entry(self, call: Call, result: Any) -> Entry:
        head = await self._chain.head()
        ttl = rpc_ttl(call.method, list(call.params), result, head=head,
                      finalized=await self._chain.finalized(), policy=self._policy)
        return Entry(body=orjson.dumps(result),
                     expires=time.time() + ttl.seconds if ttl.seconds > 0 else 0.0,
                     final=ttl.final, moving=ttl.moving, head=head)

    async def answer(self, calls: list[Call]) -> list[bytes | RpcError]:
        """One answer per call, in order; cached ones without an upstream trip, the
        rest in one upstream batch. A lone cacheable call shares an in-flight call
        with identical concurrent requests (singleflight)."""
        cache = self._cache
        if cache is None:
            results = await self._up.batch(calls) if calls else []
            return [r if isinstance(r, RpcError) else orjson.dumps(self._seen(c, r))
                    for c, r in zip(calls, results, strict=True)]
        if len(calls) == 1 and cacheable(calls[0].method):
            call = calls[0]
            subject = self.subject(call)
            entry = cache.get("rpc", subject)
            if entry is None:
                try:
                    entry = await cache.fetch("rpc", subject, lambda _: self._compute(call),
                                              self._chain.head)
                except RpcFailed as exc:
                    return [exc.error]
            return [entry.body]
        answers: list[bytes | RpcError | None] = [None] * len(calls)
        missing: list[int] = []
        for i, call in enumerate(calls):
            entry = cache.get("rpc", self.subject(call)) if cacheable(call.method) else None
            if entry is None:
                missing.append(i)
            else:
                answers[i] = entry.body
        if missing:
            results = await self._up.batch([calls[i] for i in missing])
            for i, result in zip(missing, results, strict=True):
                if isinstance(result, RpcError):
                    answers[i] = result
                    continue
                call = calls[i]
                result = self._seen(call, result)
                if cacheable(call.method):
                    entry = await self._entry(call, result)
                    if entry.expires > 0:
                        cache.put("rpc", self.subject(call), entry)
                    answers[i] = entry.body
                else:
                    answers[i] = orjson.dumps(result)
        return [a if a is not None else b"null" for a in answers]

    async def _compute(self, call: Call) -> Entry:
        (result,) = await self._up.batch([call])
        if isinstance(result, RpcError):
            raise RpcFailed(result)
        return await self._entry(call, self._seen(call, result))
