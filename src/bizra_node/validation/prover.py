"""The service's side of verification: what to ask upstreams for, and which checks make
an answer good, from a trusted block hash down (see docs/trust.md).

* A **block** is proven once per hash and memoised (bounded LRU): its full transaction
  list and its receipts (``eth_getBlockReceipts``, else the receipts one by one) are
  checked against the header's roots, so one rebuild serves every transaction in it.
* A **header** is proven canonical by the chain view (parent links to the anchor).
* The proof steps of an answer (:meth:`Prover.transaction`, :meth:`Prover.answered_block`,
  :meth:`Prover.account`) are shared by the REST validations and /rpc (rpc_proofs.py):
  one way to prove each kind of answer, collecting what ran into a :class:`Proof`.
* **Prove or ask another**: an upstream that answers a provable call but will not give
  what its proof needs (eth_getProof withheld or failing, the header or receipt that goes
  with it withheld) gets :func:`withheld`, a ``ProofUnavailable`` the pool counts under
  check=proof_unavailable before it asks the next upstream; the answer is served
  unproven (labelled ``unverified``, REST ``valid: null``) only when no upstream proves,
  and refused instead with TRUST_REQUIRE=proven (:func:`unproven`).
* **Unprovable**: a transaction type the node has no encoding for (Arbitrum's
  0x64-0x6A, any other it does not know) is neither proven nor refused. The transaction
  itself is served ``unverified`` with ``verification.unproven`` naming the type; a
  block holding one has its header proven and linked but not its transactions or
  receipts, and a known-type transaction in such a block its hash and signature but
  not its inclusion, each said in ``unproven``. A liar could make any block such a one
  by retyping one of its transactions, so a block is taken as unprovable only when no
  upstream gives it in a form that proves (the others are asked first, as after a
  refused proof, without spending the retry budget); the verdict is then memoised by
  block hash. A transaction answer whose own type is unknown is taken as it comes.
* A failed check is an :class:`IntegrityFailure` raised inside the pool's ``verify``
  hook, so the upstream that gave the answer is blamed and the calls go to another
  one. Proofs fetched on the way (a block, headers) are checked by their own hooks; when
  no upstream can give them, the answer is *unavailable*, never blamed on the upstream
  whose answer was being checked.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import (
    IntegrityFailure,
    ProofUnavailable,
    Unproven,
    UpstreamError,
    UpstreamUnavailable,
)
from ..jsonrpc import Call, RpcError
from .chain_view import ChainView
from .trust import (
    Anchor,
    AnchorSource,
    Check,
    Header,
    ProvenAccount,
    ProvenBlock,
    TrustError,
    Unprovable,
    Verification,
    prove_block,
    prove_transaction,
    verification,
    verify_account_proof,
    verify_code,
    verify_header,
    verify_storage_proof,
    verify_transaction,
)
from .upstreams import Upstreams

__all__ = ["Proof", "Prover", "block_weight", "integrity", "missing", "unproven", "withheld"]

log = logging.getLogger("bizra_node.validation")


def integrity(exc: TrustError) -> IntegrityFailure:
    return IntegrityFailure(exc.check.value, exc.message)


def missing(what: str, upstream: str) -> UpstreamError:
    """An upstream that does not have (yet) what a check needs: not a lie, so it is not
    blamed; the pool asks the next one."""
    return UpstreamError(f"upstream does not have {what}", kind="missing", upstream=upstream)


def withheld(what: str, answer: Any = None) -> ProofUnavailable:
    """An upstream that answered a provable call but not with ``what`` its proof needs
    (``answer``: the error or null it gave instead): the pool asks the next upstream."""
    how = f" ({answer.code}: {answer.message[:100]})" if isinstance(answer, RpcError) else \
        " (null)" if answer is None else ""
    return ProofUnavailable(f"upstream would not give {what}{how}")


def unproven(exc: ProofUnavailable) -> Unproven:
    """TRUST_REQUIRE=proven: the refusal of an answer no upstream would prove."""
    return Unproven("no upstream would prove the answer (TRUST_REQUIRE=proven)",
                    {"reason": Check.PROOF_UNAVAILABLE.value, "upstream": exc.upstream,
                     "message": exc.message[:300]})


BLOCKS_PER_BATCH = 10
"""Blocks asked for in one JSON-RPC batch by :meth:`Prover.blocks` (two calls each): a
busy mainnet block with its receipts is about 1 MB, so a batch stays well under
UPSTREAM_MAX_RESPONSE_BYTES."""
BATCHES_AT_ONCE = 8
"""Batches of blocks (or of headers) :meth:`Prover.blocks` and logs.py have in flight
at once: a long range is asked in waves, not all at the same moment."""


def block_weight(block: ProvenBlock) -> int:
    """Estimated bytes a proven block holds in memory: its receipts' encodings twice
    (the encoding and the decoded logs), 100 bytes per transaction hash and 1 KB for
    the header and the rest. Bounds the memo by size, not count: a mainnet block's
    receipts run to hundreds of KB, a devnet block's to hundreds of bytes."""
    receipts = block.receipts or ()
    return 1024 + 100 * len(block.tx_hashes) + 2 * sum(len(r.encoding) for r in receipts)


def _bytes32(hex_hash: str) -> bytes:
    return bytes.fromhex(hex_hash[2:])


class Proof:
    """What a verify hook proved about the answers it accepted: the checks that ran, the
    anchor the answer is linked to, and what the proof established, by name."""

    __slots__ = ("account", "anchor", "checks", "mined_at", "unproven")

    def __init__(self) -> None:
        self.checks: list[Check] = []
        self.anchor: Anchor | None = None
        self.mined_at: int | None = None
        """A transaction proven mined: its block's timestamp (from the proven header)."""
        self.account: ProvenAccount | None = None
        """An account proven by its EIP-1186 proof."""
        self.unproven: str | None = None
        """What could not be proven, and why (Unprovable's reason)."""

    def reset(self) -> None:
        self.checks.clear()
        self.anchor = None
        self.mined_at = None
        self.account = None
        self.unproven = None

    def cannot(self, exc: Unprovable) -> None:
        """Nothing about the answer can be proven: it is served unverified, saying why."""
        self.checks.clear()
        self.anchor = None
        self.unproven = exc.reason

    def linked(self, anchor: Anchor | None) -> None:
        self.anchor = anchor
        if anchor is not None:
            self.checks.append(Check.PARENT_LINK)

    @property
    def verification(self) -> Verification:
        return verification(self.checks, self.anchor, unproven=self.unproven)


UNPROVABLE = "unprovable"
"""The UpstreamError kind of a block given with a transaction type the node cannot
encode (the pool asks the next upstream without spending its retry budget)."""


class _Unprovable:
    """Blocks an upstream gave holding a transaction type the node cannot encode: that
    upstream's answer is passed over (not a lie: nobody is blamed) so another may give
    a form that proves; when none does, the block's Unprovable is raised and memoised."""

    __slots__ = ("seen",)

    def __init__(self) -> None:
        self.seen: dict[bytes, Unprovable] = {}

    @contextmanager
    def asking_another(self, upstream: str, block_hash: bytes) -> Iterator[None]:
        """Around a block's proof: a failed check is the upstream's integrity failure,
        an unprovable block makes the pool ask the next upstream."""
        try:
            yield
        except TrustError as exc:
            raise integrity(exc) from None
        except Unprovable as exc:
            self.seen[block_hash] = exc
            raise UpstreamError(f"upstream gave a block the node cannot prove: {exc.reason}",
                                kind=UNPROVABLE, upstream=upstream) from None

    async def batch(self, upstreams: Upstreams, prover: Prover, calls: list[Call],
                    verify: Callable[[list[Any], str], Awaitable[None]]) -> None:
        """The pool's batch; Unprovable (remembered by ``prover``) when no upstream
        proved and one gave a block holding a type the node cannot encode."""
        try:
            await upstreams.batch(calls, verify=verify)
        except UpstreamUnavailable:
            if not self.seen:
                raise
            for block_hash, exc in self.seen.items():
                prover.unprovable(block_hash, exc.reason)
            raise next(iter(self.seen.values())) from None


class Prover:
    def __init__(self, upstreams: Upstreams, chain: ChainView, *, memo_blocks: int = 256,
                 memo_bytes: int = 64 << 20, pooled_blob_leaves: bool = False) -> None:
        self._up = upstreams
        self._chain = chain
        self._memo: OrderedDict[bytes, ProvenBlock] = OrderedDict()
        self._memo_max = memo_blocks
        self._unprovable: OrderedDict[bytes, str] = OrderedDict()
        """Blocks no upstream could give in a provable form, with the reason (bounded
        like the memo)."""
        self._memo_bytes_max = memo_bytes
        self.memo_bytes = 0
        """The memo's estimated size (:func:`block_weight` summed)."""
        self._inflight: dict[bytes, asyncio.Task[ProvenBlock]] = {}
        self.pooled_blob_leaves = pooled_blob_leaves
        self._block_receipts = True
        """Whether upstreams answer eth_getBlockReceipts (else receipts one by one)."""
        self._prefetching: asyncio.Task[ProvenBlock] | None = None
        self._waiting: Header | None = None

    def prefetch(self, header: Header) -> None:
        """Prove a new head's block in the background (its transactions are then
        answered in one round trip); a head listener of the HeaderChain (app/network.py). One at
        a time, so a busy upstream is never asked for more than one block at once; a
        head that comes meanwhile waits, and only the newest waiting one is proven next."""
        if header.hash in self._memo:
            return
        if self._prefetching is not None:
            self._waiting = header
            return
        task = asyncio.ensure_future(self.block(header.hash))
        self._prefetching = task

        def done(t: asyncio.Task[ProvenBlock]) -> None:
            self._prefetching = None
            if not t.cancelled() and t.exception() is not None:
                log.debug("prefetch of block %d failed: %s", header.number, t.exception())
            waiting, self._waiting = self._waiting, None
            if waiting is not None and not t.cancelled():
                self.prefetch(waiting)
        task.add_done_callback(done)

    async def close(self) -> None:
        self._waiting = None
        task = self._prefetching
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # --- blocks ---------------------------------------------------------------------
    async def block(self, block_hash: bytes) -> ProvenBlock:
        """The block with this hash, its transactions and receipts proven against its
        header (memoised; concurrent callers share one fetch). Raises
        UpstreamUnavailable when no upstream gives a block that proves."""
        proven = self._memo.get(block_hash)
        if proven is not None:
            self._memo.move_to_end(block_hash)
            return proven
        self._known_unprovable(block_hash)
        task = self._inflight.get(block_hash)
        if task is None:
            task = asyncio.ensure_future(self._fetch_block(block_hash))
            self._inflight[block_hash] = task
            task.add_done_callback(lambda _: self._inflight.pop(block_hash, None))
        return await asyncio.shield(task)

    async def _fetch_block(self, block_hash: bytes) -> ProvenBlock:
        h = "0x" + block_hash.hex()
        calls = [Call("eth_getBlockByHash", (h, True))]
        if self._block_receipts:
            calls.append(Call("eth_getBlockReceipts", (h,)))
        proven: list[ProvenBlock] = []

        async def verify(answers: list[Any], upstream: str) -> None:
            block = answers[0]
            if block is None or isinstance(block, RpcError):
                raise missing(f"block 0x{block_hash.hex()}", upstream)
            receipts = answers[1] if len(answers) > 1 else None
            if receipts is None or isinstance(receipts, RpcError):
                receipts = await self._receipts_one_by_one(block)
            if isinstance(receipts, list) and any(r is None for r in receipts):
                raise missing(f"receipts of block 0x{block_hash.hex()}", upstream)
            with unprovable.asking_another(upstream, block_hash):
                proven.append(prove_block(block, receipts, expected_hash=block_hash,
                                          pooled_blob_leaves=self.pooled_blob_leaves))

        unprovable = _Unprovable()
        await unprovable.batch(self._up, self, calls, verify)
        self.remember(proven[0])
        return proven[0]

    async def blocks(self, hashes: list[bytes], *, keep: bool = True) -> list[ProvenBlock]:
        """The blocks with these hashes, proven with their receipts as :meth:`block`
        does, in order; those not memoised are asked in JSON-RPC batches of
        BLOCKS_PER_BATCH blocks (the full block and eth_getBlockReceipts each),
        BATCHES_AT_ONCE batches concurrently. A batch the pool's
        upstreams answer without eth_getBlockReceipts falls back to :meth:`block`.
        ``keep=False``: blocks fetched here are not memoised (a scan over a range must
        not push out the blocks whose transactions are being asked for)."""
        found: dict[bytes, ProvenBlock] = {}
        todo: list[bytes] = []
        for h in dict.fromkeys(hashes):
            memo = self._memo.get(h)
            if memo is not None:
                found[h] = memo
            else:
                self._known_unprovable(h)
                todo.append(h)
        if todo and self._block_receipts:
            chunks = [todo[i:i + BLOCKS_PER_BATCH] for i in range(0, len(todo), BLOCKS_PER_BATCH)]
            gate = asyncio.Semaphore(BATCHES_AT_ONCE)

            async def one(chunk: list[bytes]) -> dict[bytes, ProvenBlock]:
                async with gate:
                    return await self._fetch_blocks(chunk, keep=keep)

            for got in await asyncio.gather(*(one(c) for c in chunks)):
                found.update(got)
        rest = [h for h in todo if h not in found]
        if rest:
            for h, proven in zip(rest, await asyncio.gather(*(self.block(h) for h in rest)),
                                 strict=True):
                found[h] = proven
        return [found[h] for h in hashes]

    async def _fetch_blocks(self, chunk: list[bytes], *, keep: bool
                            ) -> dict[bytes, ProvenBlock]:
        calls: list[Call] = []
        for h in chunk:
            x = "0x" + h.hex()
            calls += [Call("eth_getBlockByHash", (x, True)), Call("eth_getBlockReceipts", (x,))]
        out: dict[bytes, ProvenBlock] = {}

        async def verify(answers: list[Any], upstream: str) -> None:
            out.clear()
            for k, h in enumerate(chunk):
                block, receipts = answers[2 * k], answers[2 * k + 1]
                if block is None or isinstance(block, RpcError):
                    raise missing(f"block 0x{h.hex()}", upstream)
                if isinstance(receipts, RpcError):
                    continue  # no eth_getBlockReceipts here: blocks() asks one by one
                if not isinstance(receipts, list) or any(r is None for r in receipts):
                    raise missing(f"receipts of block 0x{h.hex()}", upstream)
                with unprovable.asking_another(upstream, h):
                    out[h] = prove_block(block, receipts, expected_hash=h,
                                         pooled_blob_leaves=self.pooled_blob_leaves)

        unprovable = _Unprovable()
        await unprovable.batch(self._up, self, calls, verify)
        if keep:
            for proven in out.values():
                self.remember(proven)
        return dict(out)

    def _known_unprovable(self, block_hash: bytes) -> None:
        reason = self._unprovable.get(block_hash)
        if reason is not None:
            self._unprovable.move_to_end(block_hash)
            raise Unprovable(reason)

    def unprovable(self, block_hash: bytes, reason: str) -> None:
        """Remember that no upstream could give this block in a provable form."""
        self._unprovable[block_hash] = reason
        self._unprovable.move_to_end(block_hash)
        if len(self._unprovable) > self._memo_max:
            self._unprovable.popitem(last=False)

    def remember(self, block: ProvenBlock) -> None:
        """Keep a block proven with its receipts (by any path) for its transactions."""
        if block.receipts is None:
            return
        memo = self._memo
        key = block.header.hash
        old = memo.get(key)
        if old is not None:
            self.memo_bytes -= block_weight(old)
        memo[key] = block
        memo.move_to_end(key)
        self.memo_bytes += block_weight(block)
        while len(memo) > 1 and (len(memo) > self._memo_max
                                 or self.memo_bytes > self._memo_bytes_max):
            _, dropped = memo.popitem(last=False)
            self.memo_bytes -= block_weight(dropped)

    async def _receipts_one_by_one(self, block: dict[str, Any]) -> list[Any]:
        """For upstreams without eth_getBlockReceipts: one batch of receipts by hash."""
        if self._block_receipts:
            self._block_receipts = False
            log.info("upstream has no eth_getBlockReceipts: receipts asked one by one")
        hashes = [t["hash"] if isinstance(t, dict) else t for t in block.get("transactions", [])]
        if not hashes:
            return []
        return await self._up.batch([Call("eth_getTransactionReceipt", (x,)) for x in hashes])

    # --- the proof steps of answers (REST and /rpc) ----------------------------------
    async def transaction(self, proof: Proof, tx: Any, receipt: Any, *, want: bytes,
                          network_id: int) -> None:
        """A transaction answer (and its receipt): mined (a block hash and a receipt),
        proven against its block (memoised) and linked to the anchor, and
        ``proof.mined_at`` set; else the transaction alone (hash, signature, chain id).
        A mined transaction whose block cannot be proven (a type the node cannot encode
        in it): the transaction alone, ``proof.unproven`` saying so and
        ``proof.mined_at`` None. Raises TrustError, or Unprovable when the transaction's
        own type is one the node cannot encode."""
        if not isinstance(tx, dict) or not (receipt is None or isinstance(receipt, dict)):
            raise TrustError(Check.TX_FIELDS, "transaction or receipt is not an object")
        block_hash = tx.get("blockHash")
        if block_hash and receipt is not None:
            try:
                block = await self.block(_bytes32(str(block_hash)))
            except Unprovable as exc:
                proof.checks.extend(verify_transaction(tx, network_id, expected_hash=want).checks)
                proof.unproven = f"inclusion and receipt not proven: its block holds a {exc.reason}"
                proof.mined_at = None
                return
            try:
                proven = prove_transaction(tx, block, network_id, receipt_json=receipt,
                                           expected_hash=want)
            except Unprovable as exc:  # every transaction of a proven block has a known type
                raise TrustError(Check.NOT_IN_BLOCK, "the transaction claims a type its proven "
                                                     f"block does not hold ({exc.reason})") from None
            proof.checks.extend(proven.checks)
            proof.linked(await self.link(block.header))
            proof.mined_at = block.header.timestamp
        else:  # pending: the transaction itself, nothing to anchor it to yet
            proof.checks.extend(verify_transaction(tx, network_id, expected_hash=want).checks)

    async def answered_block(self, proof: Proof, block: Any, receipts: list[Any] | None, *,
                           number: int | None = None,
                           expected_hash: bytes | None = None) -> ProvenBlock | None:
        """A full block answer (and its receipts, then remembered): header hash,
        transactions, withdrawals (and receipts) roots, the number asked for, the link
        to the anchor. A block holding a transaction type the node cannot encode, as
        every upstream gives it (:meth:`block`): its header and link only,
        ``proof.unproven`` saying so, and None returned. Raises TrustError (also when
        another upstream gives the block in a form that proves)."""
        try:
            proven = prove_block(block, receipts, expected_hash=expected_hash,
                                 pooled_blob_leaves=self.pooled_blob_leaves)
        except Unprovable as exc:
            await self._header_only(proof, block, exc, number, expected_hash)
            return None
        self._asked(proven.header, number)
        proof.checks.extend(proven.checks)
        proof.unproven = proven.unproven
        proof.linked(await self.link(proven.header))
        if receipts is not None:
            self.remember(proven)
        return proven

    async def _header_only(self, proof: Proof, block: Any, served: Unprovable,
                           number: int | None, expected_hash: bytes | None) -> None:
        """A block answer holding a type the node cannot encode: its header and link,
        if no upstream gives the block in a form that proves (else the answer lied)."""
        header = verify_header(block, expected_hash=expected_hash)
        self._asked(header, number)
        try:
            await self.block(header.hash)
        except Unprovable as exc:  # as every upstream gives it
            proof.checks.append(Check.HEADER_HASH)
            proof.unproven = ("transactions, withdrawals and receipts not proven: the block "
                              f"holds a {exc.reason}")
        else:
            raise TrustError(Check.TRANSACTIONS_ROOT, "the block's transactions are not those "
                             f"of the proven block with its hash: {served.reason}")
        proof.linked(await self.link(header))

    @staticmethod
    def _asked(header: Header, number: int | None) -> None:
        if number is not None and header.number != number:
            raise TrustError(Check.HEADER_HASH, f"asked for block {number}, the upstream "
                                                f"answered block {header.number}")

    async def account(self, proof: Proof, header_raw: Any, proof_raw: Any, address: bytes, *,
                      number: int, code: Any = None, balance: int | None = None,
                      nonce: int | None = None, slot: int | None = None,
                      value: int | None = None) -> ProvenAccount:
        """An account at block ``number`` through its EIP-1186 proof against the verified
        header's stateRoot: ``balance`` / ``nonce`` (other answers for the same block)
        must be the proven ones, ``code`` (hex) must have the proven codeHash, and the
        storage ``slot`` must be proven to hold ``value``; ``proof.account`` set. Raises
        TrustError."""
        header = verify_header(header_raw)
        if header.number != number:
            raise TrustError(Check.HEADER_HASH, f"asked for block {number}, the upstream "
                                                f"answered block {header.number}")
        account = verify_account_proof(header.state_root, proof_raw, address,
                                       balance=balance, nonce=nonce)
        proof.checks.extend((Check.HEADER_HASH, Check.ACCOUNT_PROOF))
        if code is not None:
            if not isinstance(code, str) or not code.startswith("0x"):
                raise TrustError(Check.CODE_HASH, "code is not hex")
            try:
                raw = bytes.fromhex(code[2:])
            except ValueError:
                raise TrustError(Check.CODE_HASH, "code is not hex") from None
            verify_code(account, raw)
            proof.checks.append(Check.CODE_HASH)
        if slot is not None:
            items = proof_raw.get("storageProof") if isinstance(proof_raw, dict) else None
            if not isinstance(items, list) or len(items) != 1:
                raise TrustError(Check.STORAGE_PROOF, "the proof has no storage proof "
                                                      "for the slot asked for")
            proven_slot, proven_value = verify_storage_proof(account, items[0])
            if proven_slot != slot:
                raise TrustError(Check.STORAGE_PROOF, f"the storage proof is for slot "
                                                      f"{proven_slot:#x}, not {slot:#x}")
            if value is not None and value != proven_value:
                raise TrustError(Check.STORAGE_PROOF, f"slot {slot:#x} is answered as "
                                                      f"{value:#x}, the proof proves "
                                                      f"{proven_value:#x}")
            proof.checks.append(Check.STORAGE_PROOF)
        proof.linked(await self.link(header))
        proof.account = account
        return account

    # --- headers --------------------------------------------------------------------
    async def link(self, header: Header) -> Anchor | None:
        """The anchor ``header`` is linked to, or None when no anchor is known, the
        header is beyond the walk limit, or it is above the anchor and no head the sync
        committee or a quorum of upstreams vouched for descends from it (chain_view.py:
        its answer is then ``consistent``). Raises TrustError(parent_link) when the header
        is not on the anchored chain. Headers fetched to link it are checked on their
        own; if none can be had the answer is unavailable, not blamed."""
        anchor = await self._chain.anchor()
        pinned = self._chain.anchors.source is AnchorSource.CHECKPOINT
        if anchor is None:
            if pinned:  # nothing is served unlinked to the pinned checkpoint
                raise UpstreamUnavailable("no anchor yet: no upstream serves the pinned "
                                          "checkpoint's block", {"reason": "no_anchor"})
            return None
        try:
            if not await self._chain.headers.prove(header, anchor):
                if pinned and header.number > anchor.number:
                    raise UpstreamUnavailable(
                        f"block {header.number} is past TRUST_WALK_LIMIT above the anchor "
                        f"{anchor.number}: not linked to the pinned checkpoint",
                        {"reason": "link_unavailable"})
                return None
            return anchor if await self._chain.vouches(header, anchor) else None
        except UpstreamUnavailable:
            raise
        except IntegrityFailure as exc:  # a header fetched on the way failed: not ours
            raise UpstreamUnavailable("could not fetch headers to link the answer",
                                      {"reason": "link_unavailable", "check": exc.check}
                                      ) from None

    @staticmethod
    def header(raw: Any) -> Header:
        try:
            return verify_header(raw)
        except TrustError as exc:
            raise integrity(exc) from None

