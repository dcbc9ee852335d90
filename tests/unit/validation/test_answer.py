"""Results as cache entries: the confirmations splice must equal a fresh encoding."""

from __future__ import annotations

import time

import msgspec
import pytest

from bizra_node.cache import TtlPolicy
from bizra_node.validation import (
    BLOCK_NOT_FOUND,
    TX_NOT_FOUND,
    Account,
    AccountResult,
    Answer,
    Block,
    BlockResult,
    Transaction,
    TransactionResult,
)
from bizra_node.validation.answer import account_entry, block_entry, transaction_entry

POLICY = TtlPolicy()


def tx(*, block: int | None = 100, final: bool = True, conf: int = 5) -> Transaction:
    return Transaction(hash="0x" + "ab" * 32, from_="0x" + "12" * 20, to=None, value="1",
                       gas=21000, gas_price="1", nonce=0, block_number=block,
                       block_hash=None if block is None else "0x" + "cd" * 32,
                       timestamp=None if block is None else 1700000000,
                       status="confirmed" if block is not None else "pending",
                       confirmations=conf if block is not None else 0, finalized=final,
                       data="0x", type=2)


def result(data: Transaction | None, error: str | None = None) -> TransactionResult:
    return TransactionResult(valid=data is not None, validated_at="2025-01-01T00:00:00.000Z",
                             network_id=1, data=data, error=error)


@pytest.mark.parametrize("head", [100, 104, 5000, 10**12, 50])
def test_spliced_confirmations_equal_a_fresh_encoding(head: int) -> None:
    entry = transaction_entry(result(tx(conf=5)), 104, POLICY)
    assert entry.number == 100 and entry.final and not entry.moving
    answer = Answer.serve(entry, head)
    expected = msgspec.json.encode(result(tx(conf=max(head - 100 + 1, 1))))
    assert answer.body == expected
    assert msgspec.json.decode(answer.body)["data"]["confirmations"] == max(head - 99, 1)


def test_final_transaction_entry() -> None:
    entry = transaction_entry(result(tx()), 104, POLICY)
    assert entry.expires > time.time() + POLICY.final - 5
    answer = Answer.serve(entry, 200)
    assert answer.final
    assert answer.etag == Answer.serve(entry, 300).etag  # identity: immutable resource
    assert answer.etag.startswith('"')


def test_recent_transaction_etag_follows_confirmations() -> None:
    entry = transaction_entry(result(tx(final=False)), 104, POLICY)
    assert not entry.final and entry.expires < time.time() + POLICY.recent + 1
    a, b = Answer.serve(entry, 104), Answer.serve(entry, 105)
    assert a.etag.startswith('W/"') and a.etag != b.etag
    assert a.etag == Answer.serve(entry, 104).etag


def test_pending_and_not_found_are_moving() -> None:
    pending = transaction_entry(result(tx(block=None, final=False)), 104, POLICY)
    assert pending.moving and pending.number == -1 and pending.head == 104
    missing = transaction_entry(result(None, TX_NOT_FOUND), 104, POLICY)
    assert missing.moving and missing.expires > time.time() + POLICY.not_found - 5
    assert Answer(missing).etag.startswith('W/"')


def test_integrity_failures_are_not_cached() -> None:
    entry = transaction_entry(result(None, "integrity check failed: bad hash"), 104, POLICY)
    assert entry.expires == 0.0
    block = block_entry(BlockResult(valid=False, validated_at="x", network_id=1,
                                    error="integrity check failed: x"), False, 1, POLICY)
    assert block.expires == 0.0


def block(final: bool) -> BlockResult:
    data = Block(number=5, hash="0x" + "11" * 32, parent_hash="0x" + "22" * 32, timestamp=1,
                 transactions=[], miner="0x" + "33" * 20, gas_limit=1, gas_used=0,
                 base_fee_per_gas=None, size=500, finalized=final)
    return BlockResult(valid=True, validated_at="x", network_id=1, data=data)


def test_blocks() -> None:
    final = block_entry(block(True), False, 10, POLICY)
    assert final.final and not final.moving and Answer(final).etag.startswith('"')
    tagged = block_entry(block(True), True, 10, POLICY)
    assert not tagged.final and tagged.moving  # "finalized"/"latest" name a new block later
    recent = block_entry(block(False), False, 10, POLICY)
    assert not recent.final and not recent.moving
    missing = block_entry(BlockResult(valid=False, validated_at="x", network_id=1,
                                      error=BLOCK_NOT_FOUND), False, 10, POLICY)
    assert missing.moving and missing.expires > 0


def test_accounts_are_moving() -> None:
    acct = AccountResult(valid=True, validated_at="x", network_id=1,
                         data=Account(address="0x" + "44" * 20, balance="1", nonce=0, code="0x",
                                      is_contract=False, block_number=9))
    entry = account_entry(acct, 9, POLICY)
    assert entry.moving and entry.head == 9 and not entry.final
    assert msgspec.json.decode(entry.body)["data"]["blockNumber"] == 9


def test_parts_join_to_the_served_body() -> None:
    entry = transaction_entry(result(tx(block=100, final=True)), 104, POLICY)
    answer = Answer.serve(entry, 110)
    assert answer.parts == (entry.body, b"11", entry.tail)
    assert answer.body == entry.body + b"11" + entry.tail
    assert Answer.serve(entry, 50).parts[1] == b"1"  # a lagging head never gives 0 or less
    plain = Answer(entry)
    assert plain.parts == (entry.body,) and plain.body == entry.body
