"""/rpc answers proven where the method allows (docs/trust.md, "The /rpc endpoint").

:meth:`RpcProofs.plan` takes the calls of one upstream batch ('latest' already pinned
to the head) and adds the calls their proofs need, in the same batch; the plan's
``verify`` is the pool's verify hook, so a liar is counted, taken out of rotation and
the batch asked of another upstream, exactly as for the REST validations. The checks
are the prover's (validation/prover.py), the same code the REST answers use:

* ``eth_getBalance``, ``eth_getTransactionCount``, ``eth_getCode``,
  ``eth_getStorageAt`` at a block number: ``eth_getProof`` (with the slot) and the
  header of that block go along; the header hash, the account proof against its
  stateRoot (the storage proof, the code hash) and the link to the anchor are checked,
  and the answer must be the proven value.
* ``eth_getTransactionByHash``, ``eth_getTransactionReceipt``: the other one of the
  pair goes along; the transaction (hash, signature, chain id) and, when mined, its
  inclusion and receipt against its block (the prover's per-block memo: one more round
  trip for a block not proven yet) and the link to the anchor.
* ``eth_getBlockByHash``, ``eth_getBlockByNumber`` (a number): header hash,
  transactions and withdrawals roots, the number asked for, the link; when the client
  asks for hashes only, the full block goes along and the hashes must be its
  transactions' (proven) hashes.

An upstream that answers one of these calls but withholds what its proof needs (the
eth_getProof, the header, the other one of the pair, the full block: an error, or a
null proof for a block it has) gets ``ProofUnavailable`` (prover.withheld): the pool asks
the next upstream. When none proves, :meth:`RpcPlan.unproven` keeps what could still be
proven about the batch's other calls; the withheld calls say ``unverified``.

``eth_getLogs`` is not forwarded at all: the node makes it from proven headers and
receipts (logs.py). Anything else (eth_call, gas prices, tags such as ``pending`` or
``safe``, EIP-1898 block objects) is forwarded unproven, and says so. What was proven is
:func:`verification_header`'s value of the ``X-Verification`` response header;
:func:`weakest` is a batch's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import orjson

from ..errors import ProofUnavailable
from ..jsonrpc import Call, RpcError, hex_number
from .prover import Proof, Prover, integrity, missing, withheld
from .trust import (
    Check,
    Level,
    TrustError,
    Unprovable,
    Verification,
    verification,
    verify_header,
)

__all__ = ["PROVEN_METHODS", "UNVERIFIED", "RpcPlan", "RpcProofs", "verification_header",
           "weakest"]

_STATE = frozenset({"eth_getBalance", "eth_getTransactionCount", "eth_getCode",
                    "eth_getStorageAt"})
_TX = frozenset({"eth_getTransactionByHash", "eth_getTransactionReceipt"})
_BLOCK = frozenset({"eth_getBlockByHash", "eth_getBlockByNumber"})
PROVEN_METHODS = _STATE | _TX | _BLOCK
"""Methods whose answers /rpc proves (at a block number, for the state methods)."""
UNVERIFIED = Level.UNVERIFIED.value
"""The header value of an answer nothing was proven about."""


def verification_header(v: Verification) -> str:
    """``<level>[; anchor=<source>; anchor-number=<n>; anchor-hash=<0x..>][; checks=a,b]
    [; unproven=<what and why>]``."""
    parts = [v.level.value]
    if v.anchor is not None:
        parts += [f"anchor={v.anchor.value}", f"anchor-number={v.anchor_number}",
                  f"anchor-hash={v.anchor_hash}"]
    if v.checks:
        parts.append("checks=" + ",".join(c.value for c in v.checks))
    if v.unproven:
        parts.append("unproven=" + v.unproven.replace(";", ","))
    return "; ".join(parts)


_ORDER = {level.value: rank for rank, level in enumerate(Level)}


def weakest(values: list[str]) -> str | None:
    """A batch's ``X-Verification``: the weakest level among its answers' values (just
    the level word: unverified < consistent < anchored); None when there are none."""
    levels = [v.split(";", 1)[0] for v in values]
    return min(levels, key=lambda v: _ORDER.get(v, -1)) if levels else None


def _data(value: Any, size: int) -> bytes | None:
    """``size`` bytes from a 0x-hex string, or None (the call is then not proven)."""
    if not isinstance(value, str) or len(value) != 2 + 2 * size or value[:2] not in ("0x", "0X"):
        return None
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        return None


def _key(call: Call) -> bytes:
    return call.method.encode() + orjson.dumps(call.params)


Step = Callable[[list[Any], Proof], Coroutine[Any, Any, None]]
"""Proves one call's answer from the batch's answers (by index); raises TrustError or
an UpstreamError (missing)."""


@dataclass(slots=True)
class _Item:
    index: int
    step: Step


class RpcPlan:
    """One batch: ``calls`` (the client's first, then what their proofs need), the
    ``verify`` hook, and afterwards what was proven about each of the client's calls."""

    def __init__(self, calls: list[Call]) -> None:
        self.asked = len(calls)
        self.calls = list(calls)
        self._where: dict[bytes, int] | None = None
        """Index by call, made when the first extra call is added."""
        self._items: list[_Item] = []
        self.proven: list[Verification | None] = [None] * len(calls)
        self.withheld: set[int] = set()
        """The client's calls whose proof the upstream would not give (ProofUnavailable)."""

    @property
    def proves(self) -> bool:
        return bool(self._items)

    def extra(self, call: Call) -> int:
        """The index of ``call`` in the batch (added once, shared by every call needing it)."""
        if self._where is None:
            self._where = {_key(c): i for i, c in enumerate(self.calls)}
        key = _key(call)
        at = self._where.get(key)
        if at is None:
            at = self._where[key] = len(self.calls)
            self.calls.append(call)
        return at

    def add(self, index: int, step: Step) -> None:
        self._items.append(_Item(index, step))

    def header(self, index: int) -> str:
        v = self.proven[index]
        return UNVERIFIED if v is None else verification_header(v)

    async def verify(self, raw: list[Any], upstream: str) -> None:
        """The pool's hook: every answer to prove, proven (concurrently: transactions
        of blocks not proven yet each fetch their block). A failed check is raised
        before anything missing (a liar is blamed even when another answer of its batch
        lacked something), each in call order."""
        self.proven = [None] * self.asked
        todo = [item for item in self._items
                if raw[item.index] is not None and not isinstance(raw[item.index], RpcError)]
        proofs = [Proof() for _ in todo]  # an error or nothing is passed on as it is
        if len(todo) == 1:
            outcomes: list[BaseException | None] = [await _run(todo[0].step, raw, proofs[0])]
        else:
            outcomes = await asyncio.gather(*(_run(item.step, raw, proof)
                                              for item, proof in zip(todo, proofs, strict=True)))
        for outcome in outcomes:
            if isinstance(outcome, TrustError):
                raise integrity(outcome) from None
        for outcome in outcomes:
            if outcome is not None and not isinstance(outcome, ProofUnavailable | Unprovable):
                raise outcome
        first: ProofUnavailable | None = None
        withheld_at: set[int] = set()
        for item, proof, outcome in zip(todo, proofs, outcomes, strict=True):
            if isinstance(outcome, ProofUnavailable):
                withheld_at.add(item.index)
                first = first or outcome
            elif isinstance(outcome, Unprovable):  # no upstream could prove it: said why
                self.proven[item.index] = verification([], unproven=outcome.reason)
            elif proof.checks:
                self.proven[item.index] = proof.verification
        if first is not None:  # what the rest of the batch proved goes along
            first.proven = (list(self.proven), withheld_at)
            raise first

    def unproven(self, exc: ProofUnavailable) -> None:
        """No upstream proved: what was proven about the answers of ``exc`` (the first
        withholding, whose answers are served) and which calls had a proof withheld."""
        proven, withheld_at = exc.proven if exc.proven is not None else ([None] * self.asked,
                                                                         set())
        self.proven = proven
        self.withheld = withheld_at


async def _run(step: Step, raw: list[Any], proof: Proof) -> BaseException | None:
    try:
        await step(raw, proof)
    except Exception as exc:  # raised by verify, in call order
        return exc
    return None


class RpcProofs:
    """Plans the proofs of /rpc calls with the REST validations' prover."""

    def __init__(self, prover: Prover, network_id: int) -> None:
        self.prover = prover
        self.network_id = network_id

    def plan(self, calls: list[Call]) -> RpcPlan:
        plan = RpcPlan(calls)
        for i, call in enumerate(calls):
            method = call.method
            if method in _STATE:
                self._state(plan, i, call)
            elif method in _TX:
                self._transaction(plan, i, call)
            elif method in _BLOCK:
                self._block(plan, i, call)
        return plan

    # --- accounts ----------------------------------------------------------------------
    def _state(self, plan: RpcPlan, i: int, call: Call) -> None:
        params = call.params
        storage = call.method == "eth_getStorageAt"
        at_index = 2 if storage else 1
        address = _data(params[0], 20) if params else None
        number = hex_number(params[at_index]) if len(params) > at_index else None
        slot: int | None = None
        if storage and len(params) > 1:
            slot_param = params[1]
            if isinstance(slot_param, str) and slot_param.startswith("0x") and \
                    2 < len(slot_param) <= 66:
                try:
                    slot = int(slot_param, 16)
                except ValueError:
                    slot = None
        if address is None or number is None or (storage and slot is None):
            return
        at = hex(number)
        keys = ["0x" + slot.to_bytes(32, "big").hex()] if slot is not None else []
        p = plan.extra(Call("eth_getProof", (params[0], keys, at)))
        h = plan.extra(Call("eth_getBlockByNumber", (at, False)))
        method = call.method

        async def step(raw: list[Any], proof: Proof) -> None:
            if isinstance(raw[h], RpcError):
                raise withheld(f"the header of block {number}", raw[h])
            if raw[h] is None:  # it has not got the block (yet): not a refusal
                raise missing(f"block {number}", "")
            if raw[p] is None or isinstance(raw[p], RpcError):
                raise withheld(f"the eth_getProof of block {number}", raw[p])
            answer = raw[i]
            kwargs: dict[str, Any] = {}
            if method == "eth_getBalance":
                kwargs["balance"] = _checked(answer, Check.ACCOUNT_PROOF, "balance")
            elif method == "eth_getTransactionCount":
                kwargs["nonce"] = _checked(answer, Check.ACCOUNT_PROOF, "nonce")
            elif method == "eth_getCode":
                kwargs["code"] = answer
            else:
                kwargs["slot"] = slot
                kwargs["value"] = _checked(answer, Check.STORAGE_PROOF, "storage value")
            await self.prover.account(proof, raw[h], raw[p], address, number=number, **kwargs)

        plan.add(i, step)

    # --- transactions ---------------------------------------------------------------------
    def _transaction(self, plan: RpcPlan, i: int, call: Call) -> None:
        want = _data(call.params[0], 32) if call.params else None
        if want is None:
            return
        t = plan.extra(Call("eth_getTransactionByHash", (call.params[0],)))
        r = plan.extra(Call("eth_getTransactionReceipt", (call.params[0],)))

        async def step(raw: list[Any], proof: Proof) -> None:
            tx, receipt = raw[t], raw[r]
            if isinstance(tx, RpcError) or isinstance(receipt, RpcError):
                raise withheld(f"transaction 0x{want.hex()} with its receipt",
                              tx if isinstance(tx, RpcError) else receipt)
            if tx is None:
                raise missing(f"transaction 0x{want.hex()} with its receipt", "")
            if isinstance(tx, dict) and tx.get("blockHash") and receipt is None:
                raise missing(f"the receipt of transaction 0x{want.hex()}", "")
            await self.prover.transaction(proof, tx, receipt, want=want,
                                          network_id=self.network_id)

        plan.add(i, step)

    # --- blocks -------------------------------------------------------------------------
    def _block(self, plan: RpcPlan, i: int, call: Call) -> None:
        params = call.params
        if not params:
            return
        by_hash = call.method == "eth_getBlockByHash"
        expected = _data(params[0], 32) if by_hash else None
        number = None if by_hash else hex_number(params[0])
        if expected is None and number is None:
            return  # a tag (pending, safe, ...): not proven
        full = len(params) > 1 and params[1] is True
        f = i if full else plan.extra(Call(call.method, (params[0], True)))

        async def step(raw: list[Any], proof: Proof) -> None:
            block = raw[f]
            if isinstance(block, RpcError):
                raise withheld(f"the full block {params[0]}", block)
            if block is None:
                raise missing(f"block {params[0]}", "")
            proven = await self.prover.answered_block(proof, block, None, number=number,
                                                    expected_hash=expected)
            if not full:
                _same_block(raw[i], block, None if proven is None else
                            [h.hex() for h in proven.tx_hashes])

        plan.add(i, step)


def _checked(answer: Any, check: Check, what: str) -> int:
    """An answer's quantity (up to 256 bits); a malformed one fails ``check``."""
    if isinstance(answer, str) and answer.startswith("0x") and 2 < len(answer) <= 66:
        try:
            return int(answer, 16)
        except ValueError:
            pass
    raise TrustError(check, f"the {what} answered is not a quantity")


def _same_block(answer: Any, full: dict[str, Any], tx_hashes: list[str] | None) -> None:
    """A block with transaction hashes is the proven full block: the same header (its
    hash recomputed), its transactions' hashes and its withdrawals. ``tx_hashes`` None:
    the full block's transactions could not be proven (a type the node cannot encode),
    so the hashes are compared with those it served, proving nothing more about them."""
    if not isinstance(answer, dict):
        raise TrustError(Check.HEADER_HASH, "the block is not an object")
    if verify_header(answer).hash.hex() != str(full.get("hash", ""))[2:].lower():
        raise TrustError(Check.HEADER_HASH, "the block is not the block its full form is")
    served = answer.get("transactions")
    if tx_hashes is None:
        tx_hashes = [str(t.get("hash", ""))[2:].lower() if isinstance(t, dict) else ""
                     for t in full.get("transactions") or []]
    if not isinstance(served, list) or \
            [str(x)[2:].lower() if isinstance(x, str) else None for x in served] != tx_hashes:
        raise TrustError(Check.TRANSACTIONS_ROOT, "the block's transaction hashes are not "
                                                  "those of its proven transactions")
    if answer.get("withdrawals") != full.get("withdrawals"):
        raise TrustError(Check.WITHDRAWALS_ROOT, "the block's withdrawals are not its proven "
                                                 "withdrawals")
