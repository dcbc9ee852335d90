"""A block's body against its header: each list altered under an intact header is
caught by its root."""

from __future__ import annotations

from typing import Any

import pytest

from bizra_node.validation.trust import (
    EMPTY_TRIE_ROOT,
    Check,
    Unprovable,
    header_hash,
    prove_block,
    receipts_root,
    transaction_hash,
    transactions_root,
    withdrawals_root,
)

from .conftest import Chain, clone, fails


def _block(devnet: Chain, number: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return devnet.block(number), devnet.call("eth_getBlockReceipts", hex(number))


@pytest.mark.parametrize("size", [1, 100, 1000])
def test_big_blocks_prove(trust_chain: Chain, size: int) -> None:
    block, receipts = _block(trust_chain, trust_chain.manifest.big_blocks[size])
    proven = prove_block(block, receipts)
    assert len(proven.tx_hashes) == len(proven.receipts or ()) == size
    assert ["0x" + h.hex() for h in proven.tx_hashes] == [tx["hash"] for tx in block["transactions"]]
    assert proven.checks == (Check.HEADER_HASH, Check.TRANSACTIONS_ROOT, Check.WITHDRAWALS_ROOT,
                             Check.RECEIPTS_ROOT)


def test_root_functions(trust_chain: Chain) -> None:
    block, receipts = _block(trust_chain, trust_chain.manifest.big_blocks[100])
    assert "0x" + transactions_root(block["transactions"]).hex() == block["transactionsRoot"]
    assert "0x" + receipts_root(receipts).hex() == block["receiptsRoot"]
    assert "0x" + withdrawals_root(block["withdrawals"]).hex() == block["withdrawalsRoot"]


def test_without_receipts(trust_chain: Chain) -> None:
    block, _ = _block(trust_chain, trust_chain.manifest.big_blocks[100])
    proven = prove_block(block)
    assert proven.receipts is None and Check.RECEIPTS_ROOT not in proven.checks


def test_blob_blocks_need_the_anvil_allowance(trust_chain: Chain) -> None:
    """anvil 1.7.1 roots blob transactions in their pooled form (foundry#15132): the
    canonical check refuses its blocks; the explicit allowance accepts them."""
    block, receipts = _block(trust_chain, trust_chain.manifest.mixed_block)
    fails(Check.TRANSACTIONS_ROOT, prove_block, block, receipts)
    proven = prove_block(block, receipts, pooled_blob_leaves=True)
    assert len(proven.tx_hashes) == 9
    stripped = clone(block)
    for tx in stripped["transactions"]:
        tx.pop("blobs", None)
    fails(Check.TRANSACTIONS_ROOT, prove_block, stripped, receipts, pooled_blob_leaves=True)


@pytest.mark.parametrize("alter", ["drop", "swap", "foreign", "edit", "duplicate"])
def test_altered_transaction_list(trust_chain: Chain, alter: str) -> None:
    block, receipts = _block(trust_chain, trust_chain.manifest.big_blocks[100])
    txs = block["transactions"]
    if alter == "drop":
        del txs[17]
    elif alter == "swap":
        txs[3], txs[4] = txs[4], txs[3]
    elif alter == "foreign":  # a genuine transaction of another block
        txs[50] = trust_chain.call("eth_getTransactionByHash", trust_chain.manifest.txs["legacy"])
    elif alter == "edit":  # a changed value, re-hashed so the list looks consistent
        txs[9]["value"] = hex(int(txs[9]["value"], 16) + 10**18)
        txs[9]["hash"] = "0x" + transaction_hash(txs[9]).hex()
    else:
        txs.append(txs[0])
    fails(Check.TRANSACTIONS_ROOT, prove_block, block, receipts)


def test_hashes_only_cannot_be_proven(trust_chain: Chain) -> None:
    block = trust_chain.block(trust_chain.manifest.big_blocks[1], full=False)
    err = fails(Check.TRANSACTIONS_ROOT, prove_block, block)
    assert "full transactions" in err.message


@pytest.mark.parametrize("alter", ["status", "log", "gas", "drop", "bloom"])
def test_altered_receipts(trust_chain: Chain, alter: str) -> None:
    block, receipts = _block(trust_chain, trust_chain.manifest.big_blocks[100])
    logged = next(r for r in receipts if r["logs"])
    if alter == "status":
        receipts[0]["status"] = "0x0"
    elif alter == "log":
        logged["logs"].pop()
    elif alter == "gas":
        receipts[5]["cumulativeGasUsed"] = hex(int(receipts[5]["cumulativeGasUsed"], 16) - 1)
    elif alter == "drop":
        receipts.pop()
    else:
        logged["logsBloom"] = "0x" + "00" * 256
    fails(Check.RECEIPTS_ROOT, prove_block, block, receipts)


def test_altered_withdrawals(trust_chain: Chain) -> None:
    block, receipts = _block(trust_chain, trust_chain.manifest.big_blocks[1])
    assert block["withdrawals"] == []
    block["withdrawals"].append({"index": "0x1", "validatorIndex": "0x2",
                                 "address": "0x" + "aa" * 20, "amount": "0x3b9aca00"})
    fails(Check.WITHDRAWALS_ROOT, prove_block, block, receipts)
    block["withdrawals"] = None
    fails(Check.WITHDRAWALS_ROOT, prove_block, block, receipts)
    block["withdrawals"] = [{"index": "0x1"}]
    fails(Check.WITHDRAWALS_ROOT, prove_block, block, receipts)


def test_withdrawals_without_a_withdrawals_root(trust_chain: Chain) -> None:
    """A pre-Shanghai header (fork fields from withdrawalsRoot on dropped, re-hashed)
    cannot carry withdrawals."""
    block, _ = _block(trust_chain, trust_chain.manifest.big_blocks[1])
    for field in ("withdrawalsRoot", "blobGasUsed", "excessBlobGas", "parentBeaconBlockRoot",
                  "requestsHash"):
        del block[field]
    block["hash"] = "0x" + header_hash(block).hex()
    assert Check.WITHDRAWALS_ROOT not in prove_block(block).checks
    block["withdrawals"] = [{"index": "0x1", "validatorIndex": "0x2",
                             "address": "0x" + "aa" * 20, "amount": "0x1"}]
    fails(Check.WITHDRAWALS_ROOT, prove_block, block)


def test_withdrawals_root_of_nothing_is_the_empty_trie() -> None:
    assert withdrawals_root([]) == EMPTY_TRIE_ROOT


def test_another_block_than_asked(trust_chain: Chain) -> None:
    block, _ = _block(trust_chain, 3)
    fails(Check.HEADER_HASH, prove_block, block, expected_hash=b"\x02" * 32)
    fails(Check.HEADER_HASH, prove_block, "block")
    fails(Check.TRANSACTIONS_ROOT, prove_block, {**block, "transactions": None})
    fails(Check.RECEIPTS_ROOT, prove_block, block, "receipts")  # type: ignore[arg-type]


FORGED = "0x" + "cd" * 32


@pytest.mark.parametrize("number", ["mixed", 100])
def test_a_served_transaction_hash_must_be_the_computed_one(trust_chain: Chain,
                                                             number: Any) -> None:
    """The root proves the fields, not the hash written beside them: every type (the
    mixed block holds legacy, 2930, 1559, 4844 and 7702) is checked, the last one too."""
    m = trust_chain.manifest
    block, receipts = _block(trust_chain, m.mixed_block if number == "mixed"
                             else m.big_blocks[number])
    for i in (0, len(block["transactions"]) - 1):
        forged = clone(block)
        forged["transactions"][i]["hash"] = FORGED
        err = fails(Check.TX_HASH, prove_block, forged, receipts, pooled_blob_leaves=True)
        assert f"transaction {i} is served with hash {FORGED}" in err.message
    no_hash = clone(block)  # a hash left out is not a lie: the computed one is shown
    for tx in no_hash["transactions"]:
        del tx["hash"]
    proven = prove_block(no_hash, receipts, pooled_blob_leaves=True)
    assert ["0x" + h.hex() for h in proven.tx_hashes] == [t["hash"] for t in block["transactions"]]


@pytest.mark.parametrize("where", ["receipt", "log"])
def test_a_receipt_or_log_transaction_hash_must_be_the_computed_one(
        trust_chain: Chain, where: str) -> None:
    block, receipts = _block(trust_chain, trust_chain.manifest.big_blocks[100])
    i, logged = next((i, r) for i, r in enumerate(receipts) if r["logs"])
    if where == "receipt":
        logged["transactionHash"] = FORGED
    else:
        logged["logs"][-1]["transactionHash"] = FORGED
    err = fails(Check.RECEIPT_MISMATCH, prove_block, block, receipts)
    assert FORGED in err.message and block["transactions"][i]["hash"][2:] in err.message


def test_a_block_with_a_type_the_node_cannot_encode_is_unprovable(trust_chain: Chain) -> None:
    """Its transactions root cannot be rebuilt: Unprovable (served unverified), never a
    failed transactions_root (refused as a lie)."""
    block, receipts = _block(trust_chain, trust_chain.manifest.big_blocks[1])
    block["transactions"].append({**block["transactions"][0], "type": "0x6a"})
    with pytest.raises(Unprovable, match="0x6a"):
        prove_block(block, receipts)
