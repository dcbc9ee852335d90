"""RpcProofs' plans (which calls go along in the batch, shared; which calls are not
proven) and the X-Verification value. The checks themselves are tested against anvil
(tests/integration/validation/test_rpc_verified.py)."""

from __future__ import annotations

from typing import Any

import pytest

from bizra_node.errors import ProofUnavailable
from bizra_node.jsonrpc import Call
from bizra_node.validation import RpcProofs, verification_header, weakest
from bizra_node.validation.prover import Proof
from bizra_node.validation.rpc_proofs import RpcPlan
from bizra_node.validation.trust import (
    Anchor,
    AnchorSource,
    Check,
    Level,
    Unprovable,
    verification,
)

ADDRESS = "0x" + "11" * 20
HASH = "0x" + "22" * 32


class _NoProver:
    """Planning never touches the prover (only verify does)."""


def plan(*calls: Call) -> Any:
    return RpcProofs(_NoProver(), 1).plan(list(calls))  # type: ignore[arg-type]


def test_state_calls_bring_a_proof_and_the_header_shared_by_block() -> None:
    p = plan(Call("eth_getBalance", (ADDRESS, "0x10")),
             Call("eth_getTransactionCount", (ADDRESS, "0x10")),
             Call("eth_getStorageAt", (ADDRESS, "0x1", "0x10")))
    assert p.proves and p.asked == 3
    assert p.calls[3:] == [Call("eth_getProof", (ADDRESS, [], "0x10")),
                           Call("eth_getBlockByNumber", ("0x10", False)),
                           Call("eth_getProof", (ADDRESS, ["0x" + "00" * 31 + "01"], "0x10"))]


def test_transactions_bring_the_other_of_the_pair_and_blocks_their_full_form() -> None:
    p = plan(Call("eth_getTransactionReceipt", (HASH,)),
             Call("eth_getBlockByNumber", ("0x5", False)),
             Call("eth_getBlockByHash", (HASH, True)))
    assert p.calls[3:] == [Call("eth_getTransactionByHash", (HASH,)),
                           Call("eth_getBlockByNumber", ("0x5", True))]


@pytest.mark.parametrize("call", [
    Call("eth_call", ({"to": ADDRESS}, "0x1")), Call("eth_gasPrice"),
    Call("eth_getBalance", (ADDRESS, "pending")), Call("eth_getBalance", (ADDRESS,)),
    Call("eth_getBalance", (ADDRESS, {"blockHash": HASH})), Call("eth_getBalance", ("0x12", "0x1")),
    Call("eth_getStorageAt", (ADDRESS, "zz", "0x1")), Call("eth_getTransactionByHash", ("0x12",)),
    Call("eth_getBlockByNumber", ("safe", False)), Call("eth_getBlockByNumber", ()),
])
def test_what_cannot_be_proven_is_forwarded_as_it_is(call: Call) -> None:
    p = plan(call)
    assert not p.proves and p.calls == [call] and p.header(0) == "unverified"


def test_the_header_value() -> None:
    anchor = Anchor(26, b"\xab" * 32, AnchorSource.QUORUM)
    anchored = verification([Check.HEADER_HASH, Check.ACCOUNT_PROOF, Check.PARENT_LINK], anchor)
    assert verification_header(anchored) == (
        "anchored; anchor=quorum; anchor-number=26; anchor-hash=0x" + "ab" * 32
        + "; checks=header_hash,account_proof,parent_link")
    consistent = verification([Check.TX_HASH, Check.TX_SIGNATURE])
    assert consistent.level is Level.CONSISTENT
    assert verification_header(consistent) == "consistent; checks=tx_hash,tx_signature"
    assert verification_header(verification([])) == "unverified"


def test_a_batch_is_labelled_with_its_weakest_level() -> None:
    anchored = "anchored; anchor=quorum; anchor-number=2; anchor-hash=0xab; checks=header_hash"
    assert weakest([anchored, anchored]) == "anchored"
    assert weakest([anchored, "consistent; checks=tx_hash"]) == "consistent"
    assert weakest(["consistent; checks=tx_hash", "unverified", anchored]) == "unverified"
    assert weakest([]) is None


def test_a_refused_proof_keeps_what_else_was_proven_and_which_calls_were_refused() -> None:
    p = plan(Call("eth_getBalance", (ADDRESS, "0x10")), Call("eth_chainId"))
    exc = ProofUnavailable("no proof")
    p.unproven(exc)  # the hook filled nothing: every call unverified, none known refused
    assert p.withheld == set() and [p.header(0), p.header(1)] == ["unverified"] * 2
    exc.proven = ([verification([Check.HEADER_HASH]), None], {0})
    p.unproven(exc)
    assert p.withheld == {0} and p.header(0) == "consistent; checks=header_hash"


async def test_a_type_no_upstream_can_prove_is_served_unverified_not_refused() -> None:
    """A step that meets a transaction type the node cannot encode (Unprovable): that
    call says unverified, the batch's other calls keep what they proved, nothing is
    raised (no upstream is blamed or passed over)."""
    p = RpcPlan([Call("eth_getTransactionByHash", (HASH,)), Call("eth_chainId")])

    async def unprovable(raw: list[Any], proof: Proof) -> None:
        raise Unprovable("transaction type 0x6a (an Arbitrum type): the node has no encoding")

    async def proven(raw: list[Any], proof: Proof) -> None:
        proof.checks.append(Check.TX_HASH)

    p.add(0, unprovable)
    p.add(1, proven)
    await p.verify([{"type": "0x6a"}, "0x1"], "up")
    assert [p.header(0), p.header(1)] == [
        "unverified; unproven=transaction type 0x6a (an Arbitrum type): the node has no "
        "encoding", "consistent; checks=tx_hash"]


def test_the_header_says_what_was_not_proven() -> None:
    v = verification([Check.HEADER_HASH], unproven="transactions not proven; type 0x6a")
    assert verification_header(v) == (
        "consistent; checks=header_hash; unproven=transactions not proven, type 0x6a")
    assert verification_header(verification([], unproven="type 0x6a")) == \
        "unverified; unproven=type 0x6a"
