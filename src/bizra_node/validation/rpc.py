"""The JSON-RPC endpoint's domain: which calls may pass, which the node answers
itself, which answers may be kept and for how long, and the consistency promise.

A web3 client can point at the node as its JSON-RPC URL. Allowed calls go upstream
(one batch per client batch); answers that cannot change are cached like validation
answers, by finality:

- content-addressed: ``eth_getBlockByHash`` -> long (TTL_FINAL);
- a transaction or receipt by hash: long once its block is final, TTL_RECENT while
  mined but not final, never while pending or unknown;
- a block by number, or state (``eth_getBalance``, ``eth_call``, ...) at an explicit
  block number: long at or below the finalized block, TTL_RECENT up to the head;
- reads at ``latest``: TTL_HEAD, and only until the head moves;
- anything else (gas prices, logs, estimates, ``pending`` state): never cached.

The node answers itself: ``eth_blockNumber`` (the chain view's head),
``eth_accounts`` (``[]``: it holds no keys), ``eth_chainId`` and ``net_version`` (the
configured network, BIZRA_NETWORK_ID: never an upstream's word, which a liar or a
misconfigured upstream could get wrong), the filter methods (filters.py) and, with
proofs on, ``eth_getLogs`` (made from proven headers and receipts: logs.py).

**Consistency.** Reads at ``latest`` are asked at the chain view's head as an
explicit block number ("pinned"), so what an answer says and the head it is stamped
with agree, whichever upstream answers; every block number an answer shows (a
receipt's, a block's, a log's) reaches the chain view, so no later ``latest`` answer
is older (read-your-writes, monotonic reads). A pinned read no upstream can answer
(the head came from a node since replaced) is asked once more at ``latest`` and not
cached.

**Proof.** With :class:`~.rpc_proofs.RpcProofs`, the answers of the methods it can
prove (balance, nonce, code, storage at a block number; transactions and receipts;
blocks) are proven in the pool's verify hook before anything is cached; each answer
carries what was proven (``Entry.proof``, the ``X-Verification`` header of a single
call, served on hits as on misses). When no upstream's answers pass, the calls get
INTEGRITY_FAILED (-32099) naming the check and the upstream, and nothing is cached.
An upstream that will not give a proof is passed over for one that does (prover.py,
"prove or ask another"); when none does, the answers are served labelled
``unverified`` and not cached, or, with TRUST_REQUIRE=proven, the refused calls get
-32099 with ``data.reason`` ``proof_unavailable`` (the batch's other calls are served).

Methods that would sign with the upstream's keys, administer it or reach into its
debug API are refused.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from ..cache import Entry, TieredCache, TtlPolicy
from ..errors import IntegrityFailure, NodeError, ProofUnavailable
from ..jsonrpc import INTEGRITY_FAILED, LIMIT_EXCEEDED, Call, RpcError, RpcLimits
from .chain_view import ChainView
from .filters import FilterService, RpcFailed, resolve_block
from .logs import ProvenLogs
from .prover import unproven
from .rpc_policy import (
    CACHEABLE_METHODS,
    NETWORK_METHODS,
    SUBSCRIBE_METHODS,
    depends_on,
    pinned,
    rpc_ttl,
    seen_block,
)
from .rpc_proofs import UNVERIFIED, RpcProofs, verification_header
from .trust import Unprovable, verification
from .upstreams import Upstreams

__all__ = ["RpcFailed", "RpcService"]

_ACCOUNTS = b"[]"
_HTTP_SUBSCRIBE = RpcError(-32001, "notifications not supported: subscribe over a WebSocket "
                                   "connection to /rpc")


class RpcService:
    """Answers allowed calls from the node itself, from cache or upstream. Answers are
    encoded result bytes (what goes after ``"result":``), or an RpcError value."""

    def __init__(self, upstreams: Upstreams, chain: ChainView, *,
                 cache: TieredCache | None = None, filters: FilterService | None = None,
                 limits: RpcLimits | None = None, proofs: RpcProofs | None = None,
                 network_id: int, require_proven: bool = False,
                 logs: ProvenLogs | None = None) -> None:
        self._up = upstreams
        self._network = {"eth_chainId": b'"%s"' % hex(network_id).encode(),
                         "net_version": b'"%d"' % network_id}
        """The configured network's answers (encoded), never an upstream's."""
        self.logs = logs
        """eth_getLogs answered from proven headers and receipts (logs.py), when set."""
        self._proofs = proofs
        self.require_proven = require_proven
        """TRUST_REQUIRE=proven: a provable answer no upstream proves is refused."""
        self._chain = chain
        self._cache = cache
        self._policy = cache.policy if cache is not None else TtlPolicy()
        self.limits = limits or RpcLimits()
        self.filters = filters or FilterService(upstreams, chain, limits=self.limits)

    @staticmethod
    def subject(call: Call) -> str:
        return call.method + ":" + orjson.dumps(call.params).decode()

    # --- the fast lane -------------------------------------------------------------------
    def hit(self, method: str, params: list[Any]) -> tuple[bytes, str] | None:
        """The answer from memory and what was proven about it (the X-Verification
        value), without awaiting, or None (the full path answers). ``method`` must be
        one of FAST_METHODS (the caller checked)."""
        chain = self._chain
        if method == "eth_blockNumber":
            head = chain.fresh_head()
            return None if head is None else (b'"%s"' % hex(head).encode(), UNVERIFIED)
        if method == "eth_accounts":
            return _ACCOUNTS, UNVERIFIED
        if method in NETWORK_METHODS:
            return self._network[method], UNVERIFIED
        cache = self._cache
        if cache is None or method not in CACHEABLE_METHODS:
            return None
        subject = method + ":" + orjson.dumps(params).decode()
        head = chain.fresh_head()
        entry = cache.get("rpc", subject) if head is None else cache.get_at("rpc", subject, head)
        if entry is None:
            return None
        if entry.head > chain.best_head:
            chain.observe_block(entry.head)
        return entry.body, entry.proof or UNVERIFIED

    # --- the full path ---------------------------------------------------------------------
    async def answer(self, calls: list[Call], proofs: list[str] | None = None
                     ) -> list[bytes | RpcError]:
        """One answer per call, in order: the node's own first, then cached ones, the
        rest in one upstream batch. A lone cacheable call shares an in-flight call
        with identical concurrent requests (singleflight). ``proofs``, if given, is
        filled with each answer's X-Verification value."""
        answers: list[bytes | RpcError | None] = [None] * len(calls)
        said = [UNVERIFIED] * len(calls)
        forward: list[int] = []
        for i, call in enumerate(calls):
            if call.method == "eth_getLogs" and self.logs is not None:
                answers[i], said[i] = await self._proven_logs(call)
                continue
            own = await self._own(call)
            if own is not None:
                answers[i] = own
                continue
            entry = self._cached(call)
            if entry is not None:
                answers[i] = entry.body
                said[i] = entry.proof or UNVERIFIED
            else:
                forward.append(i)
        if len(forward) == 1 and self._cache is not None and calls[forward[0]].method in CACHEABLE_METHODS:
            answers[forward[0]], said[forward[0]] = await self._fetch_one(calls[forward[0]])
        elif forward:
            for i, answer in zip(forward, await self._forward([calls[i] for i in forward]),
                                 strict=True):
                if isinstance(answer, Entry):
                    answers[i], said[i] = answer.body, answer.proof
                else:
                    answers[i] = answer
        if proofs is not None:
            proofs[:] = said
        return [a if a is not None else b"null" for a in answers]

    async def _own(self, call: Call) -> bytes | RpcError | None:
        """What the node answers itself (or refuses); None for everything else."""
        method = call.method
        if method == "eth_blockNumber":
            try:
                return b'"%s"' % hex(await self._chain.head()).encode()
            except NodeError as exc:
                return RpcError(exc.jsonrpc_code, exc.message, exc.details)
        if method == "eth_accounts":
            return _ACCOUNTS
        if method in NETWORK_METHODS:
            return self._network[method]
        if method in SUBSCRIBE_METHODS:
            return _HTTP_SUBSCRIBE
        if method == "eth_getLogs":
            return await self._logs_range(call)
        if self.filters.serves(method):
            try:
                return orjson.dumps(await self.filters.call(method, list(call.params)))
            except RpcFailed as exc:
                return exc.error
            except NodeError as exc:
                return RpcError(exc.jsonrpc_code, exc.message, exc.details)
        return None

    async def _proven_logs(self, call: Call) -> tuple[bytes | RpcError, str]:
        """eth_getLogs made by the node from proven receipts (never the upstream's)."""
        assert self.logs is not None
        if not call.params:
            return RpcError(-32602, "invalid params: eth_getLogs takes a filter object"), \
                UNVERIFIED
        try:
            found, proven = await self.logs.get_logs(call.params[0])
        except Unprovable as exc:  # a block the node cannot rebuild: the upstream's logs
            (answer,) = await self._forward([call], store=False)
            if isinstance(answer, RpcError):
                return answer, UNVERIFIED
            return answer.body, verification_header(verification([], unproven=(
                f"logs not proven: a block of the range holds a {exc.reason}")))
        except RpcFailed as exc:
            return exc.error, UNVERIFIED
        except IntegrityFailure as exc:
            return _integrity_error(exc), UNVERIFIED
        except NodeError as exc:
            return RpcError(exc.jsonrpc_code, exc.message, exc.details), UNVERIFIED
        seen = seen_block(found)
        if seen > self._chain.best_head:
            self._chain.observe_block(seen)
        return orjson.dumps(found), verification_header(proven)

    async def _logs_range(self, call: Call) -> RpcError | None:
        """eth_getLogs over more than RPC_MAX_LOGS_RANGE blocks is refused (-32005)."""
        params = call.params
        if not params or not isinstance(params[0], dict) or "blockHash" in params[0]:
            return None
        try:
            low = await resolve_block(self._chain, params[0].get("fromBlock", "latest"))
            high = await resolve_block(self._chain, params[0].get("toBlock", "latest"))
        except (RpcFailed, NodeError):
            return None  # the upstream says what is wrong with it
        limit = self.limits.max_logs_range
        if high - low + 1 > limit:
            return RpcError(LIMIT_EXCEEDED, f"block range too large: at most {limit} blocks "
                            "per eth_getLogs", {"limit": limit, "from": low, "to": high})
        return None

    def _cached(self, call: Call) -> Entry | None:
        cache = self._cache
        if cache is None or call.method not in CACHEABLE_METHODS:
            return None
        subject = self.subject(call)
        head = self._chain.fresh_head()
        entry = cache.get("rpc", subject) if head is None else cache.get_at("rpc", subject, head)
        if entry is not None and entry.head > self._chain.best_head:
            self._chain.observe_block(entry.head)
        return entry

    async def _fetch_one(self, call: Call) -> tuple[bytes | RpcError, str]:
        assert self._cache is not None
        try:
            entry = await self._cache.fetch("rpc", self.subject(call),
                                            lambda _: self._compute(call), self._chain.head)
        except RpcFailed as exc:
            return exc.error, UNVERIFIED
        except NodeError as exc:
            return RpcError(exc.jsonrpc_code, exc.message, exc.details), UNVERIFIED
        if entry.head > self._chain.best_head:
            self._chain.observe_block(entry.head)
        return entry.body, entry.proof or UNVERIFIED

    async def _compute(self, call: Call) -> Entry:
        (answer,) = await self._forward([call], store=False)
        if isinstance(answer, RpcError):
            raise RpcFailed(answer)
        return answer

    async def _forward(self, calls: list[Call], *, store: bool = True
                       ) -> list[Entry | RpcError]:
        """Upstream answers in call order, 'latest' pinned to the head, proven where
        the method allows: Entry values (put in the cache on the way when cacheable and
        ``store``; ``expires`` 0: not cacheable) or RpcError values."""
        mark = self._cache.reorg_mark if self._cache is not None else 0
        refusal: ProofUnavailable | None = None
        try:
            head = await self._chain.head()
            pins = [pinned(c, head) for c in calls]
            asked = [p or c for p, c in zip(pins, calls, strict=True)]
            plan = self._proofs.plan(asked) if self._proofs is not None else None
            if plan is not None and plan.proves:
                try:
                    results = (await self._up.batch(plan.calls, verify=plan.verify))[:len(calls)]
                except ProofUnavailable as exc:  # no upstream proves: served as it is
                    if exc.answers is None:
                        raise
                    refusal = exc
                    plan.unproven(exc)
                    results = exc.answers[:len(calls)]
            else:
                results = await self._up.batch(asked)
        except IntegrityFailure as exc:
            return [_integrity_error(exc)] * len(calls)
        except NodeError as exc:
            return [RpcError(exc.jsonrpc_code, exc.message, exc.details)] * len(calls)
        lost = {i for i, (p, r) in enumerate(zip(pins, results, strict=True))
                if p is not None and isinstance(r, RpcError) and r.lagging}
        if lost:  # no upstream has the pinned block: ask at 'latest', cache nothing
            order = sorted(lost)
            try:
                again = await self._up.batch([calls[i] for i in order])
            except NodeError:
                again = [results[i] for i in order]
            for i, result in zip(order, again, strict=True):
                results[i] = result
        out: list[Entry | RpcError] = []
        finalized: int | None = None
        for i, (call, result) in enumerate(zip(calls, results, strict=True)):
            if isinstance(result, RpcError):
                out.append(result)
                continue
            if refusal is not None and self.require_proven and plan is not None and \
                    i in plan.withheld:
                error = unproven(refusal)
                out.append(RpcError(error.jsonrpc_code, error.message, error.details))
                continue
            seen = seen_block(result)
            if seen > self._chain.best_head:
                self._chain.observe_block(seen)
            proof = plan.header(i) if plan is not None and i not in lost else UNVERIFIED
            if self._cache is None or call.method not in CACHEABLE_METHODS or i in lost or \
                    refusal is not None:  # (unproven: asked again next time, not cached)
                out.append(Entry(body=orjson.dumps(result), expires=0.0, proof=proof))
                continue
            if finalized is None:
                finalized = await self._chain.finalized()
            entry = self._entry(call, result, head if pins[i] is not None else max(head, seen),
                                finalized, proof)
            if store and entry.expires > 0:
                self._cache.put("rpc", self.subject(call), entry, since=mark)
            out.append(entry)
        return out

    def _entry(self, call: Call, result: Any, head: int, finalized: int, proof: str) -> Entry:
        """The cache entry of an answer; ``head``: the head it was asked at (the pinned
        block), which is what a moving entry is served against."""
        ttl = rpc_ttl(call.method, list(call.params), result, head=head, finalized=finalized,
                      policy=self._policy)
        return Entry(body=orjson.dumps(result),
                     expires=time.time() + ttl.seconds if ttl.seconds > 0 else 0.0,
                     final=ttl.final, moving=ttl.moving, head=head,
                     block=depends_on(call, result, head, ttl.moving), proof=proof)


def _integrity_error(exc: IntegrityFailure) -> RpcError:
    """No upstream gave answers that passed the checks: the error, never an answer."""
    return RpcError(INTEGRITY_FAILED, "integrity check failed",
                    {"check": exc.check, "upstream": exc.upstream, "message": exc.message[:300]})
