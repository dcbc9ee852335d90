"""Upstream JSON-RPC objects as the node's result types, from recorded anvil answers:
status from the receipt, confirmations from the head, finality from the finalized
block, EIP-55 addresses, the effective gas price."""

from __future__ import annotations

import pytest

from bizra_node.validation.convert import hex_int, to_account, to_block, to_transaction
from tests.support.recorded_chain import RecordedChain

CHAIN = RecordedChain()
TX = CHAIN.manifest.txs["dynamic_fee"]


def test_a_quantity_is_0x_hex_only() -> None:
    assert hex_int("0x10") == 16
    for bad in ("10", 16, None, "0xzz"):
        with pytest.raises((ValueError, TypeError)):
            hex_int(bad)


def test_a_mined_transaction_counts_its_confirmations_and_says_final() -> None:
    tx = CHAIN.call("eth_getTransactionByHash", TX)
    receipt = CHAIN.call("eth_getTransactionReceipt", TX)
    number = int(tx["blockNumber"], 16)
    data = to_transaction(tx, receipt, head=number + 2, finalized_at=number, timestamp=1234)
    assert data.status == "confirmed" and data.block_number == number
    assert data.confirmations == 3 and data.finalized and data.timestamp == 1234
    assert data.gas_price == str(int(receipt["effectiveGasPrice"], 16))
    assert data.from_ != tx["from"] and data.from_.lower() == tx["from"].lower()  # EIP-55
    assert not to_transaction(tx, receipt, head=number, finalized_at=number - 1,
                              timestamp=1234).finalized
    failed = {**receipt, "status": "0x0"}
    assert to_transaction(tx, failed, head=number, finalized_at=0, timestamp=1).status == "failed"


def test_a_pending_transaction_has_no_block_and_no_confirmations() -> None:
    tx = CHAIN.call("eth_getTransactionByHash", TX)
    tx.update(blockHash=None, blockNumber=None)
    data = to_transaction(tx, None, head=100, finalized_at=90, timestamp=1234)
    assert data.status == "pending" and data.block_number is None and data.block_hash is None
    assert data.confirmations == 0 and not data.finalized and data.timestamp is None


def test_a_block_lists_its_transaction_hashes_and_finality() -> None:
    full = CHAIN.call("eth_getBlockByNumber", "0x3", True)
    block = to_block(full, finalized_at=3)
    assert block.number == 3 and block.finalized
    assert block.transactions == [t["hash"] for t in full["transactions"]]
    assert not to_block(full, finalized_at=2).finalized


def test_an_account_is_a_contract_when_it_has_code() -> None:
    account = to_account("0xAb", "0x10", "0x2", "0x6000", 7)
    assert (account.balance, account.nonce, account.is_contract, account.block_number) == \
        ("16", 2, True, 7)
    assert not to_account("0xAb", "0x0", "0x0", "0x", 7).is_contract
    with pytest.raises(ValueError):
        to_account("0xAb", "0x0", "0x0", None, 7)
