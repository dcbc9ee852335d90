"""Records: ids, fields taken from results, cursors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import msgspec
import pytest

from bizra_node.errors import ValidationError
from bizra_node.history import decode_cursor, encode_cursor
from bizra_node.store.history import HistoryQuery, build_sql
from bizra_node.store.records import from_us, make_record, new_id, to_copy_row, to_us
from bizra_node.validation import (
    Account,
    AccountResult,
    Block,
    BlockResult,
    Transaction,
    TransactionResult,
)


def test_ids_are_uuid7_time_ordered_and_unique() -> None:
    ids = [new_id() for _ in range(2000)]
    assert len(set(ids)) == 2000
    u = uuid.UUID(bytes=ids[0])
    assert u.version == 7 and u.variant == uuid.RFC_4122
    assert [i[:6] for i in ids] == sorted(i[:6] for i in ids)


def test_block_record_names_the_block_and_finality() -> None:
    block = Block(number=12, hash="0x" + "1" * 64, parent_hash="0x" + "2" * 64, timestamp=1,
                  transactions=[], miner="0x" + "3" * 40, gas_limit=1, gas_used=0,
                  base_fee_per_gas=None, size=1, finalized=True)
    rec = make_record("block", "latest", BlockResult(valid=True, data=block,
                                                     validated_at="2024-05-01T10:00:00.123Z",
                                                     network_id=5))
    assert rec[1:7] == ("block", "12", 5, True, "finalized", 12)
    assert msgspec.json.decode(rec[7])["data"]["number"] == 12
    assert from_us(rec[8]) == datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC)
    row = to_copy_row(rec)
    assert isinstance(row[0], uuid.UUID) and row[8].tzinfo is not None


def test_other_records() -> None:
    missing = make_record("transaction", "0x" + "a" * 64, TransactionResult(
        valid=False, error="Transaction not found", validated_at="bad", network_id=1))
    assert missing[4:7] == (False, "not_found", None)
    broken = make_record("block", "7", BlockResult(valid=False, error="integrity check failed",
                                                    validated_at="2024-01-01T00:00:00",
                                                    network_id=1))
    assert broken[5] == "invalid" and from_us(broken[8]).tzinfo is not None
    account = Account(address="0x" + "b" * 40, balance="1", nonce=0, code="0x",
                      is_contract=False, block_number=99)
    rec = make_record("address", account.address,
                      AccountResult(valid=True, data=account, validated_at="2024-01-01T00:00:00Z",
                                    network_id=1))
    assert rec[5:7] == (None, 99)
    unproven = make_record("address", account.address, AccountResult(
        valid=None, data=account, validated_at="2024-01-01T00:00:00Z", network_id=1))
    assert unproven[4:7] == (False, "unverified", 99)  # not recorded as valid
    assert msgspec.json.decode(unproven[7])["valid"] is None


def test_a_transaction_of_a_type_the_node_cannot_encode_is_recorded_unverified() -> None:
    tx = Transaction(hash="0x" + "6a" * 32, from_="0x" + "b" * 40, to=None, value="0", gas=0,
                     gas_price="0", nonce=0, block_number=7, block_hash="0x" + "c" * 64,
                     timestamp=1, status="confirmed", confirmations=1, finalized=False,
                     data="0x", type=0x6A)
    rec = make_record("transaction", tx.hash, TransactionResult(
        valid=None, data=tx, validated_at="2024-01-01T00:00:00Z", network_id=1))
    assert rec[4:7] == (False, "unverified", 7)  # neither valid nor "confirmed" as proven


def test_cursor_round_trip_and_garbage() -> None:
    rid = new_id()
    at = to_us(datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC))
    assert decode_cursor(encode_cursor(at, rid)) == (at, rid)
    for bad in ("", "x", "AAAA", "****", encode_cursor(at, rid) + "AA"):
        with pytest.raises(ValidationError):
            decode_cursor(bad)


def test_history_sql_uses_keyset() -> None:
    sql, args = build_sql(HistoryQuery(kind="block", valid=True, limit=10,
                                       after=(0, b"\x00" * 16)))
    assert "(validated_at, id) < ($2, $3)" in sql and " valid AND" in sql
    assert sql.endswith("ORDER BY kind, validated_at DESC, id DESC LIMIT $4")
    assert args[0] == "block" and args[-1] == 11
