"""ValidationService: asks upstreams, proves what they say, builds results.

One upstream round trip per validation where the protocol allows: the calls a
validation needs go out as one JSON-RPC batch, and the pool's ``verify`` hook proves
the answers before anything is built from them (validation/prover.py, docs/trust.md):

* a transaction: its hash and sender recomputed, its inclusion and receipt proven
  against its block's transaction and receipt tries (one rebuild per block, memoised),
  the block linked by parent hashes to the anchor;
* a block: its header hash, transactions and withdrawals roots, the link to the anchor;
* an account: an EIP-1186 proof against the stateRoot of a verified header at the
  current head, the code against the proven codeHash.

A failed check blames the upstream that gave the answer and the pool asks another;
when none answers honestly, the result is ``valid: false`` naming the check and the
upstream, and it is never cached. An upstream that will not give the account's proof
is passed over for one that does; when none does, the account is the upstreams' word,
``valid: null`` with ``verification.level: unverified`` (never ``true``), or, with
TRUST_REQUIRE=proven, a 503 UNPROVEN. A transaction of a type the node has no encoding
for (Arbitrum's 0x64-0x6A) is ``valid: null``, ``unverified``, with
``verification.unproven`` naming the type, under either TRUST_REQUIRE: no upstream
could prove it; what is not proven about a block or transaction beside such a one is
said in ``verification.unproven`` too (prover.py). Every result carries ``verification``.

The ``*_answer`` methods are what the API serves: they consult the TieredCache
first (validation -> cache, validation -> chain) and return encoded bytes; only on a
miss is a result computed by the ``validate_*`` methods (which always ask upstream
and are the only ones that call the recorder). The ``*_hit`` methods are the
synchronous hit path. Head and finality come from the ChainView.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from ..cache import Compute, Entry, TieredCache, TtlPolicy, outgrown
from ..errors import IntegrityFailure, ProofUnavailable, UpstreamError, UpstreamUnavailable
from ..jsonrpc import RpcError
from .answer import (
    BLOCK_NOT_FOUND,
    TX_NOT_FOUND,
    Answer,
    account_entry,
    block_entry,
    transaction_entry,
)
from .chain_view import ChainView
from .convert import to_account, to_block, to_transaction
from .inputs import MAX_BLOCK_NUMBER, is_uint
from .prover import Proof, Prover, integrity, missing, unproven, withheld
from .questions import AccountQuestion, BlockQuestion, StateQuestion, TransactionQuestion
from .trust import Failure, Level, TrustError, Unprovable, Verification
from .types import AccountResult, BlockResult, TransactionResult
from .upstreams import Upstreams, need, unavailable

__all__ = ["Recorder", "ValidationService", "now_iso"]

log = logging.getLogger("bizra_node.validation")

Recorder = Callable[[str, str, Any], "Awaitable[None] | None"]
"""Called with (kind, subject, result) after each validation (never on a cache hit);
must not block. Returns None when the record is only queued (DURABILITY=async), or an
awaitable that completes once it is durable (local: in the fsynced local log; sync:
committed in PostgreSQL): the validation is answered after it."""

def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_Result = TypeVar("_Result", TransactionResult, BlockResult, AccountResult)


def _failed(exc: IntegrityFailure) -> Verification:
    return Verification(level=Level.UNVERIFIED, failure=Failure(
        check=exc.check, upstream=exc.upstream, message=exc.message[:300]))


def _valid(proof: Proof) -> bool | None:
    """true when something was proven (``verification`` says what, and ``unproven``
    what not); null when nothing could be (a type the node cannot encode)."""
    return True if proof.checks else None


def _error(exc: IntegrityFailure) -> str:
    return f"integrity check failed: {exc.check} (upstream {exc.upstream}): {exc.message[:200]}"


class ValidationService:
    def __init__(self, upstreams: Upstreams, chain: ChainView, prover: Prover, *,
                 network_id: int, recorder: Recorder | None = None,
                 cache: TieredCache | None = None, require_proven: bool = False) -> None:
        self._up = upstreams
        self.chain = chain
        self._cache = cache
        self._policy = cache.policy if cache is not None else TtlPolicy()
        self.network_id = network_id
        self._recorder = recorder
        self.prover = prover
        """Built once by the caller (app/network.py) and shared with /rpc's proofs and the logs."""
        self.require_proven = require_proven
        """TRUST_REQUIRE=proven: an account no upstream proves is a 503, not valid: null."""

    # Each validation is one sequence: fetch (one batch, ``questions.py``), verify (the
    # pool's verify hook: the prover's checks, so a failed check blames the upstream that
    # answered and the pool asks another), then the typed result from the answers and
    # the Proof. The hook runs inside the pool's call; the prover may make more pool
    # calls from it (the block of a transaction, the headers linking it to the anchor),
    # each checked by hooks of their own.

    # --- transaction -------------------------------------------------------------
    async def validate_transaction(self, tx_hash: str) -> TransactionResult:
        question = TransactionQuestion(tx_hash, self.chain.finality_calls())
        want = bytes.fromhex(tx_hash[2:])
        proof = Proof()

        async def verify(raw: list[Any], upstream: str) -> None:
            proof.reset()
            got = question.read(raw)
            tx, receipt = got.tx, got.receipt
            if isinstance(tx, dict) and isinstance(receipt, RpcError):
                raise withheld(f"the receipt of transaction {tx_hash}", receipt)
            if tx is None or isinstance(tx, RpcError) or isinstance(receipt, RpcError):
                return  # not found (nothing to prove) or an error (a 503 below)
            try:
                await self.prover.transaction(proof, tx, receipt, want=want,
                                              network_id=self.network_id)
            except TrustError as exc:
                raise integrity(exc) from None
            except Unprovable as exc:
                proof.cannot(exc)

        try:
            answers = question.read(await self._up.batch(question.calls, verify=verify))
        except IntegrityFailure as exc:
            return await self._invalid(TransactionResult, "transaction", tx_hash, exc)
        except ProofUnavailable as exc:  # no upstream gives its receipt: a 503 either way
            if self.require_proven:
                raise unproven(exc) from None
            raw = exc.answers or []
            need(raw[1] if len(raw) > 1 else None, "eth_getTransactionReceipt")
            raise unavailable("eth_getTransactionReceipt failed") from None
        tx = need(answers.tx, "eth_getTransactionByHash")
        receipt = need(answers.receipt, "eth_getTransactionReceipt")
        try:
            head = self.chain.head_of(answers.head)
            if tx is None:
                result = TransactionResult(valid=False, error=TX_NOT_FOUND,
                                           validated_at=now_iso(), network_id=self.network_id,
                                           verification=proof.verification)
            else:
                mined = proof.mined_at is not None or (proof.unproven is not None
                                                       and receipt is not None)
                data = to_transaction(tx, receipt if mined else None, head=head,
                                      finalized_at=self.chain.finalized_at(head,
                                                                           answers.finality),
                                      timestamp=proof.mined_at)
                result = TransactionResult(valid=_valid(proof), data=data,
                                           validated_at=now_iso(), network_id=self.network_id,
                                           verification=proof.verification)
        except (KeyError, ValueError, TypeError) as exc:
            raise unavailable("malformed transaction data", error=type(exc).__name__) from None
        await self._record("transaction", tx_hash, result)
        return result

    # --- block -------------------------------------------------------------------
    async def validate_block(self, ref: int | str) -> BlockResult:
        tag = hex(ref) if isinstance(ref, int) else ref
        pinned: int | None = None
        if ref == "latest":  # the node's head (the head rule), not the answering upstream's
            pinned = await self.chain.head()
            tag = hex(pinned)
        question = BlockQuestion(tag, self.chain.finality_calls(),
                                 by_number=isinstance(ref, int))
        proof = Proof()

        async def verify(raw: list[Any], upstream: str) -> None:
            proof.reset()
            got = question.read(raw)
            block = got.block
            if block is None or isinstance(block, RpcError):
                return
            receipts = got.receipts if isinstance(got.receipts, list) else None
            try:
                await self.prover.answered_block(proof, block, receipts,
                                               number=ref if isinstance(ref, int) else pinned)
            except TrustError as exc:
                raise integrity(exc) from None

        try:
            answers = question.read(await self._up.batch(question.calls, verify=verify))
        except IntegrityFailure as exc:
            return await self._invalid(BlockResult, "block", str(ref), exc)
        block = need(answers.block, "eth_getBlockByNumber")
        try:
            head = self.chain.head_of(answers.head)
            if block is None:
                result = BlockResult(valid=False, error=BLOCK_NOT_FOUND,
                                     validated_at=now_iso(), network_id=self.network_id,
                                     verification=proof.verification)
            else:
                data = to_block(block, finalized_at=self.chain.finalized_at(head,
                                                                            answers.finality))
                result = BlockResult(valid=True, data=data, validated_at=now_iso(),
                                     network_id=self.network_id,
                                     verification=proof.verification)
        except (KeyError, ValueError, TypeError) as exc:
            raise unavailable("malformed block data", error=type(exc).__name__) from None
        await self._record("block", str(ref), result)
        return result

    # --- address -----------------------------------------------------------------
    async def validate_address(self, address: str) -> AccountResult:
        head = await self.chain.head()
        at = hex(min(head, MAX_BLOCK_NUMBER))
        question = AccountQuestion(address, at)
        want = bytes.fromhex(address[2:])
        proof = Proof()

        async def verify(raw: list[Any], upstream: str) -> None:
            proof.reset()
            got = question.read(raw)
            if isinstance(got.code, RpcError):
                return  # the code itself failed: a 503 below
            if isinstance(got.header, RpcError):
                raise withheld(f"the header of block {head}", got.header)
            if got.header is None:  # it has not got the block (yet): not a refusal
                raise missing(f"block {head}", upstream)
            if got.proof is None or isinstance(got.proof, RpcError):
                raise withheld(f"the eth_getProof of block {head}", got.proof)
            try:
                await self.prover.account(proof, got.header, got.proof, want, number=head,
                                          code=got.code)
            except TrustError as exc:
                raise integrity(exc) from None

        try:
            answers = question.read(await self._up.batch(question.calls, verify=verify))
        except IntegrityFailure as exc:
            return await self._invalid(AccountResult, "address", address, exc)
        except ProofUnavailable as exc:  # no upstream proves it
            if self.require_proven:
                raise unproven(exc) from None
            return await self._unproven_address(address, at, head)
        code = need(answers.code, "eth_getCode")
        account = proof.account
        if account is None:  # the hook accepted the answers without proving the account
            raise unavailable("eth_getCode failed")
        try:
            data = to_account(address, hex(account.balance), hex(account.nonce), code, head)
        except (KeyError, ValueError, TypeError) as exc:
            raise unavailable("malformed account data", error=type(exc).__name__) from None
        result = AccountResult(valid=True, data=data, validated_at=now_iso(),
                               network_id=self.network_id, verification=proof.verification)
        await self._record("address", address, result)
        return result

    async def _unproven_address(self, address: str, at: str, head: int) -> AccountResult:
        """When no upstream would prove the account: their word, and the answer says so
        in ``valid`` itself (null: neither proven valid nor shown invalid) and in
        ``verification.level`` (unverified)."""
        question = StateQuestion(address, at)
        answers = question.read(await self._up.batch(question.calls))
        balance = need(answers.balance, "eth_getBalance")
        nonce = need(answers.nonce, "eth_getTransactionCount")
        code = need(answers.code, "eth_getCode")
        try:
            data = to_account(address, balance, nonce, code, head)
        except (KeyError, ValueError, TypeError) as exc:
            raise unavailable("malformed account data", error=type(exc).__name__) from None
        result = AccountResult(valid=None, data=data, validated_at=now_iso(),
                               network_id=self.network_id,
                               verification=Verification(level=Level.UNVERIFIED))
        await self._record("address", address, result)
        return result

    async def _invalid(self, make: type[_Result], kind: str, subject: str,
                       exc: IntegrityFailure) -> _Result:
        """The answer when no upstream's answer passed the checks: ``valid: false``
        naming the check and the upstream, recorded, never cached."""
        result = make(valid=False, error=_error(exc), validated_at=now_iso(),
                      network_id=self.network_id, verification=_failed(exc))
        await self._record(kind, subject, result)
        return result

    async def _record(self, kind: str, subject: str, result: Any) -> None:
        """Record the validation; in the durable modes, answer only once it is durable."""
        if self._recorder is not None:
            waiter = self._recorder(kind, subject, result)
            if waiter is not None:
                await waiter

    # --- cached answers (what the API serves) ---------------------------------------------
    # The hit path: synchronous, no coroutine, no I/O. Each returns the answer when
    # L1 holds it (and, where it matters, the head is fresh), else None. Keys are the
    # canonical subjects (lower-case hash, block number, EIP-55 address): L1 only
    # ever holds keys that passed validation, so a hit under the caller's raw input
    # proves the input valid, and anything else goes the full way (and is checked).
    # An entry computed as not final whose block is final by now (here or on another
    # worker of the node) is not served: it is computed again, and says final.
    def _hit_view(self) -> tuple[TieredCache, int] | None:
        """The cache and the head, when both may serve a hit without awaiting (the head
        may be the last one while no upstream answers: ChainView.serving_head)."""
        cache = self._cache
        head = self.chain.serving_head() if cache is not None else None
        return None if cache is None or head is None else (cache, head)

    def transaction_hit(self, tx_hash: str) -> Answer | None:
        view = self._hit_view()
        if view is None:
            return None
        cache, head = view
        entry = cache.get("transaction", tx_hash)
        if entry is None:
            return None
        if entry.number < 0:
            return Answer(entry)
        if not entry.final and outgrown(entry, self.chain.known_finalized()):
            return None
        return Answer.serve(entry, head)

    def block_hit(self, subject: str) -> Answer | None:
        entry = self._cache.get("block", subject) if self._cache is not None else None
        if entry is None or (not entry.final
                             and outgrown(entry, self.chain.known_finalized())):
            return None
        return Answer(entry)

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
        return Answer.serve(entry, await self._serving_head())

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
        return await self._cache.fetch(kind, subject, compute, self._serving_head,
                                       self.chain.known_finalized())

    async def _serving_head(self) -> int:
        """The head cached answers are checked against and counted from: the chain
        view's serving head (the last one while no upstream answers), else asked; when
        asking finds no upstream answering, the last head after all (ChainView.serving_head)."""
        head = self.chain.serving_head()
        if head is not None:
            return head
        try:
            return await self.chain.head()
        except (UpstreamError, UpstreamUnavailable, TimeoutError):
            head = self.chain.serving_head()
            if head is None:
                raise
            return head

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
