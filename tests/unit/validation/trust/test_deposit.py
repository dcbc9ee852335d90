"""OP-stack deposits (type 0x7E): real deposits hash to their known hashes, every hashed
field is proven and nothing else is, no signature is ever claimed, deposit receipts
encode as op-geth roots them, and a block of a deposit and signed transactions proves
(tests/fixtures/opstack/README.md says where each answer comes from)."""

from __future__ import annotations

from typing import Any

import pytest
import rlp
from eth_hash.auto import keccak

from bizra_node.validation.trust import (
    EMPTY_TRIE_ROOT,
    Check,
    decode_receipt,
    decode_transaction,
    encode_receipt,
    header_hash,
    prove_block,
    prove_transaction,
    recover_sender,
    verify_transaction,
)
from bizra_node.validation.trust.block import OP_WITHDRAWALS_ROOT
from tests.support.rollup import CHAIN, DEPOSITS, DOC, OP_MAINNET, mixed_block

from .conftest import Chain, clone, fails

EMPTY_TRIE_ROOT_HEX = "0x" + EMPTY_TRIE_ROOT.hex()


def _deposit(i: int = 0) -> dict[str, Any]:
    return clone(DEPOSITS[i])


@pytest.mark.parametrize("i", range(len(DEPOSITS)))
def test_real_deposits_hash_to_their_known_hashes(i: int) -> None:
    tx = _deposit(i)
    verified = verify_transaction(tx, OP_MAINNET, expected_hash=bytes.fromhex(tx["hash"][2:]))
    assert "0x" + verified.hash.hex() == tx["hash"]
    assert verified.checks == (Check.TX_FIELDS, Check.TX_HASH, Check.DEPOSIT_NO_SIGNATURE)
    assert Check.TX_SIGNATURE not in verified.checks
    assert "0x" + verified.sender.hex() == tx["from"]
    assert verified.chain_id is None
    assert decode_transaction(tx).encoding[0] == 0x7E


@pytest.mark.parametrize("field, value", [
    ("sourceHash", "0x" + "11" * 32),
    ("from", "0x" + "22" * 20),
    ("to", "0x" + "33" * 20),
    ("to", None),
    ("mint", "0x1"),
    ("value", "0x1"),
    ("gas", "0xf4241"),
    ("isSystemTx", True),
    ("input", "0x00"),
])
def test_every_hashed_field_is_proven(field: str, value: Any) -> None:
    tx = _deposit()
    tx[field] = value
    fails(Check.TX_HASH, verify_transaction, tx, OP_MAINNET)


def test_the_json_nonce_is_not_in_the_hash() -> None:
    """op-geth's ``nonce`` of a deposit is informational: no check can catch it."""
    tx = _deposit()
    tx["nonce"] = "0x1"
    verify_transaction(tx, OP_MAINNET)
    del tx["nonce"]
    verify_transaction(tx, OP_MAINNET)


def test_absent_mint_and_system_flag_encode_as_zero() -> None:
    tx = _deposit()
    assert tx["mint"] == "0x0" and "isSystemTx" not in tx
    without = {k: v for k, v in tx.items() if k != "mint"}
    with_flag = {**tx, "isSystemTx": False}
    assert decode_transaction(without).encoding == decode_transaction(with_flag).encoding \
        == decode_transaction(tx).encoding


@pytest.mark.parametrize("field", ["v", "r", "s", "yParity"])
def test_a_deposit_claiming_a_signature_is_malformed(field: str) -> None:
    tx = _deposit()
    tx[field] = "0x1"
    fails(Check.TX_FIELDS, verify_transaction, tx, OP_MAINNET)


@pytest.mark.parametrize("field, value", [("sourceHash", None), ("from", None),
                                          ("sourceHash", "0x12"), ("isSystemTx", "0x1"),
                                          ("gas", None)])
def test_malformed_deposits(field: str, value: Any) -> None:
    tx = _deposit()
    tx[field] = value
    fails(Check.TX_FIELDS, verify_transaction, tx, OP_MAINNET)


def test_no_sender_is_recovered_from_a_deposit() -> None:
    fails(Check.TX_SIGNATURE, recover_sender, _deposit())
    with pytest.raises(ValueError):
        _ = decode_transaction(_deposit()).nonce


def test_a_real_bedrock_block_with_its_deposit() -> None:
    block = clone(DOC["block"]["block"])
    proven = prove_block(block, expected_hash=bytes.fromhex(block["hash"][2:]))
    assert proven.checks == (Check.HEADER_HASH, Check.TRANSACTIONS_ROOT)
    assert ["0x" + h.hex() for h in proven.tx_hashes] == [block["transactions"][0]["hash"]]
    block["transactions"][0]["mint"] = "0x1"
    block["transactions"][0].pop("hash")
    fails(Check.TRANSACTIONS_ROOT, prove_block, block)


def test_canyon_deposit_receipt_encoding() -> None:
    """depositNonce and depositReceiptVersion are in the trie encoding from Canyon on."""
    case = DOC["depositReceipts"][0]
    receipt = decode_receipt(case["receipt"])
    assert receipt.encoding == b"\x7e" + bytes.fromhex(case["rlp"][2:])
    assert (receipt.deposit_nonce, receipt.deposit_receipt_version) == (4012991, 1)


def test_regolith_deposit_receipt_leaves_the_nonce_out_of_the_trie() -> None:
    """op-geth's Receipts.EncodeIndex: a deposit receipt without a version is rooted
    as any typed receipt, its depositNonce (in the stored RLP) left out."""
    case = DOC["depositReceipts"][1]
    stored = rlp.decode(bytes.fromhex(case["rlp"][2:]))
    assert len(stored) == 5
    receipt = decode_receipt(case["receipt"])
    assert receipt.deposit_nonce == 4012991 and receipt.deposit_receipt_version is None
    assert receipt.encoding == b"\x7e" + rlp.encode(stored[:4])


def test_a_version_without_a_nonce_is_malformed() -> None:
    receipt = clone(DOC["depositReceipts"][0]["receipt"])
    del receipt["depositNonce"]
    fails(Check.RECEIPTS_ROOT, encode_receipt, receipt)


def test_a_block_of_a_deposit_and_a_signed_transaction(trust_chain: Chain) -> None:
    block, receipts = mixed_block(trust_chain)
    proven = prove_block(block, receipts)
    assert proven.checks == (Check.HEADER_HASH, Check.TRANSACTIONS_ROOT, Check.RECEIPTS_ROOT)
    deposit = prove_transaction(block["transactions"][0], proven, OP_MAINNET,
                                receipt_json=receipts[0])
    assert Check.DEPOSIT_NO_SIGNATURE in deposit.checks
    assert Check.TX_SIGNATURE not in deposit.checks
    assert {Check.NOT_IN_BLOCK, Check.RECEIPT_MISMATCH} <= set(deposit.checks)
    assert deposit.gas_used == 46913
    signed = prove_transaction(block["transactions"][1], proven, CHAIN, receipt_json=receipts[1])
    assert Check.TX_SIGNATURE in signed.checks and signed.index == 1


@pytest.mark.parametrize("edit", [{"depositNonce": "0x1"}, {"depositReceiptVersion": "0x2"},
                                  {"status": "0x0"}])
def test_a_deposit_receipt_edited_is_caught(trust_chain: Chain, edit: dict[str, str]) -> None:
    block, receipts = mixed_block(trust_chain)
    proven = prove_block(block, receipts)
    fails(Check.RECEIPT_MISMATCH, prove_transaction, block["transactions"][0], proven,
          OP_MAINNET, receipt_json={**receipts[0], **edit})
    receipts[0].update(edit)
    fails(Check.RECEIPTS_ROOT, prove_block, block, receipts)


def test_a_deposit_call_creates_nothing(trust_chain: Chain) -> None:
    block, receipts = mixed_block(trust_chain)
    proven = prove_block(block, receipts)
    fails(Check.RECEIPT_MISMATCH, prove_transaction, block["transactions"][0], proven,
          OP_MAINNET, receipt_json={**receipts[0], "contractAddress": "0x" + "44" * 20})


def test_a_deposit_creation_address_comes_from_the_deposit_nonce(trust_chain: Chain) -> None:
    """op-geth's DeriveFields: create(from, depositNonce), not the JSON nonce."""
    block, receipts = mixed_block(trust_chain, creation=True)
    proven = prove_block(block, receipts)
    tx = block["transactions"][0]
    assert prove_transaction(tx, proven, OP_MAINNET, receipt_json=receipts[0]).tx.signed.to is None
    other = "0x" + keccak(rlp.encode([bytes.fromhex(tx["from"][2:]), 4012992]))[12:].hex()
    fails(Check.RECEIPT_MISMATCH, prove_transaction, tx, proven, OP_MAINNET,
          receipt_json={**receipts[0], "contractAddress": other})


def test_an_isthmus_withdrawals_root_is_said_unproven(trust_chain: Chain) -> None:
    """From Isthmus on an OP-stack header's withdrawalsRoot is the message passer's
    storage root over no withdrawals (a block built for the test, said so in
    tests/support/rollup.py): left unchecked and said so, never a failed check."""
    storage_root = "0x" + "5a" * 32
    block, receipts = mixed_block(trust_chain, withdrawals_root=storage_root)
    proven = prove_block(block, receipts)
    assert Check.WITHDRAWALS_ROOT not in proven.checks and Check.RECEIPTS_ROOT in proven.checks
    assert proven.unproven == OP_WITHDRAWALS_ROOT
    with_withdrawals = clone(block)
    with_withdrawals["withdrawals"] = [{"index": "0x0", "validatorIndex": "0x0",
                                        "address": "0x" + "11" * 20, "amount": "0x1"}]
    fails(Check.WITHDRAWALS_ROOT, prove_block, with_withdrawals, receipts)
    empty_root, _ = mixed_block(trust_chain, withdrawals_root=EMPTY_TRIE_ROOT_HEX)
    assert Check.WITHDRAWALS_ROOT in prove_block(empty_root).checks


def test_a_withdrawals_root_over_no_withdrawals_is_a_lie_without_a_deposit(
        trust_chain: Chain) -> None:
    """Only a block whose proven transactions start with a deposit (none on L1) is
    taken as OP-stack's."""
    block = trust_chain.block(trust_chain.manifest.big_blocks[1])
    assert block["withdrawalsRoot"] == EMPTY_TRIE_ROOT_HEX
    block["withdrawalsRoot"] = "0x" + "5a" * 32
    block["hash"] = "0x" + header_hash(block).hex()
    fails(Check.WITHDRAWALS_ROOT, prove_block, block)
