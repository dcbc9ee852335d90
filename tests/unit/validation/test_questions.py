"""Each validation's batch: the calls in the order the answers are read back by name."""

from __future__ import annotations

from bizra_node.jsonrpc import Call
from bizra_node.validation.questions import (
    AccountQuestion,
    BlockQuestion,
    StateQuestion,
    TransactionQuestion,
)

FINALITY = [Call("eth_getBlockByNumber", ("finalized", False))]


def test_a_transaction_is_asked_with_its_receipt_the_head_and_finality() -> None:
    q = TransactionQuestion("0xab", FINALITY)
    assert [c.method for c in q.calls] == ["eth_getTransactionByHash",
                                           "eth_getTransactionReceipt", "eth_blockNumber",
                                           "eth_getBlockByNumber"]
    got = q.read(["tx", "receipt", "0x5", "final"])
    assert (got.tx, got.receipt, got.head, got.finality) == ("tx", "receipt", "0x5", ["final"])


def test_a_block_by_number_brings_its_receipts_a_tag_does_not() -> None:
    by_number = BlockQuestion("0x7", FINALITY, by_number=True)
    assert [c.method for c in by_number.calls] == ["eth_getBlockByNumber",
                                                   "eth_getBlockReceipts", "eth_blockNumber",
                                                   "eth_getBlockByNumber"]
    got = by_number.read(["block", ["r"], "0x9", "final"])
    assert (got.block, got.receipts, got.head, got.finality) == ("block", ["r"], "0x9", ["final"])
    by_tag = BlockQuestion("latest", FINALITY, by_number=False)
    assert [c.method for c in by_tag.calls] == ["eth_getBlockByNumber", "eth_blockNumber",
                                                "eth_getBlockByNumber"]
    got = by_tag.read(["block", "0x9", "final"])
    assert (got.block, got.receipts, got.head, got.finality) == ("block", None, "0x9", ["final"])


def test_an_account_is_asked_at_one_block() -> None:
    q = AccountQuestion("0x" + "11" * 20, "0x3")
    assert all(c.params[-1] in ("0x3", False) for c in q.calls)
    assert q.calls[2].params == ("0x3", False)
    got = q.read(["proof", "0x", "header"])
    assert (got.proof, got.code, got.header) == ("proof", "0x", "header")
    s = StateQuestion("0x" + "11" * 20, "0x3")
    assert [c.method for c in s.calls] == ["eth_getBalance", "eth_getTransactionCount",
                                           "eth_getCode"]
    got_state = s.read(["0x1", "0x2", "0x"])
    assert (got_state.balance, got_state.nonce, got_state.code) == ("0x1", "0x2", "0x")
