"""A transaction and its receipt proven against their block: honest data for every
type; a receipt or position that disagrees with the proven block is caught."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bizra_bench.trust_seed import TxBundle
from bizra_node.validation.trust import (
    Check,
    ProvenBlock,
    TrustError,
    Unprovable,
    prove_block,
    prove_transaction,
)
from tests.support.strategies import junk

from .conftest import KINDS, Chain, clone, fails

CHAIN = 31337


def _proven(bundle: TxBundle) -> ProvenBlock:
    return prove_block(bundle.block, bundle.receipts, pooled_blob_leaves=True)


@pytest.mark.parametrize("kind", KINDS + [f"mixed_{k}" for k in KINDS])
def test_every_type_with_its_receipt(trust_chain: Chain, kind: str) -> None:
    tx_hash = trust_chain.all_txs()[kind]
    bundle = trust_chain.bundle(tx_hash)
    proven = prove_transaction(bundle.tx, _proven(bundle), CHAIN, receipt_json=bundle.receipt,
                               expected_hash=bytes.fromhex(tx_hash[2:]))
    assert proven.index == int(bundle.tx["transactionIndex"], 16)
    assert proven.gas_used == int(bundle.receipt["gasUsed"], 16)
    assert proven.receipt is not None
    assert proven.receipt.status == (0 if kind.endswith("reverted") else 1)
    assert {Check.TX_HASH, Check.TX_SIGNATURE, Check.HEADER_HASH, Check.TRANSACTIONS_ROOT,
            Check.RECEIPTS_ROOT, Check.NOT_IN_BLOCK, Check.RECEIPT_MISMATCH} <= set(proven.checks)


def test_in_a_block_of_a_thousand(trust_chain: Chain) -> None:
    block = trust_chain.block(trust_chain.manifest.big_blocks[1000])
    bundle = trust_chain.bundle(block["transactions"][777]["hash"])
    proven = prove_transaction(bundle.tx, _proven(bundle), CHAIN, receipt_json=bundle.receipt)
    assert proven.index == 777


def _logs_bundle(devnet: Chain) -> TxBundle:
    return devnet.bundle(devnet.manifest.mixed_txs["logs"])


@pytest.mark.parametrize("edit", [
    {"status": "0x0"},
    {"cumulativeGasUsed": "0x1"},
    {"logs": []},
    {"type": "0x1"},
])
def test_receipt_disagrees_with_the_proven_one(trust_chain: Chain,
                                               edit: dict[str, Any]) -> None:
    bundle = _logs_bundle(trust_chain)
    receipt = {**bundle.receipt, **edit}
    fails(Check.RECEIPT_MISMATCH, prove_transaction, bundle.tx, _proven(bundle), CHAIN,
          receipt_json=receipt)


def test_flipped_status(trust_chain: Chain) -> None:
    """A failed transaction's receipt served as a success."""
    bundle = trust_chain.bundle(trust_chain.manifest.mixed_txs["reverted"])
    receipt = {**bundle.receipt, "status": "0x1"}
    err = fails(Check.RECEIPT_MISMATCH, prove_transaction, bundle.tx, _proven(bundle), CHAIN,
                receipt_json=receipt)
    assert "status" in err.message


def test_removed_log(trust_chain: Chain) -> None:
    bundle = _logs_bundle(trust_chain)
    receipt = clone(bundle.receipt)
    receipt["logs"].pop(0)
    err = fails(Check.RECEIPT_MISMATCH, prove_transaction, bundle.tx, _proven(bundle), CHAIN,
                receipt_json=receipt)
    assert "logs" in err.message


@pytest.mark.parametrize("edit", [
    {"transactionHash": "0x" + "12" * 32}, {"blockHash": "0x" + "12" * 32},
    {"blockNumber": "0x1"}, {"transactionIndex": "0x0"}, {"gasUsed": "0x5208"},
    {"from": "0x" + "12" * 20}, {"to": "0x" + "12" * 20}, {"contractAddress": "0x" + "12" * 20},
    {"effectiveGasPrice": "0x1"}, {"blockTimestamp": 1},
    {"logsBloom": "0x"}, {"gasUsed": None},
])
def test_receipt_fields_outside_the_encoding(trust_chain: Chain,
                                             edit: dict[str, Any]) -> None:
    bundle = _logs_bundle(trust_chain)
    fails(Check.RECEIPT_MISMATCH, prove_transaction, bundle.tx, _proven(bundle), CHAIN,
          receipt_json={**bundle.receipt, **edit})


def test_contract_address_of_a_creation(trust_chain: Chain) -> None:
    bundle = trust_chain.bundle(trust_chain.manifest.mixed_txs["create"])
    assert bundle.receipt["contractAddress"]
    prove_transaction(bundle.tx, _proven(bundle), CHAIN, receipt_json=bundle.receipt)
    swapped = {**bundle.receipt, "contractAddress": trust_chain.manifest.log_contract}
    fails(Check.RECEIPT_MISMATCH, prove_transaction, bundle.tx, _proven(bundle), CHAIN,
          receipt_json=swapped)
    fails(Check.RECEIPT_MISMATCH, prove_transaction, bundle.tx, _proven(bundle), CHAIN,
          receipt_json={**bundle.receipt, "contractAddress": None})


@pytest.mark.parametrize("edit", [{"transactionIndex": "0x0"}, {"transactionIndex": "0x63"},
                                  {"blockNumber": "0x2"}, {"blockHash": "0x" + "12" * 32},
                                  {"blockTimestamp": "0x1"}, {"transactionIndex": None}])
def test_position_disagrees(trust_chain: Chain, edit: dict[str, Any]) -> None:
    bundle = _logs_bundle(trust_chain)
    fails(Check.NOT_IN_BLOCK, prove_transaction, {**bundle.tx, **edit}, _proven(bundle), CHAIN)


def test_transaction_from_another_block(trust_chain: Chain) -> None:
    """A genuine, signed transaction claimed to be in a block it is not in."""
    here = trust_chain.bundle(trust_chain.manifest.mixed_txs["logs"])
    elsewhere = trust_chain.bundle(trust_chain.manifest.txs["legacy"]).tx
    claimed = {**elsewhere, "blockHash": here.tx["blockHash"], "blockNumber": here.tx["blockNumber"],
               "transactionIndex": here.tx["transactionIndex"],
               "blockTimestamp": here.tx["blockTimestamp"]}
    err = fails(Check.NOT_IN_BLOCK, prove_transaction, claimed, _proven(here), CHAIN)
    assert "not in the block" in err.message


def test_effective_gas_price_on_the_transaction(trust_chain: Chain) -> None:
    bundle = _logs_bundle(trust_chain)
    fails(Check.TX_FIELDS, prove_transaction, {**bundle.tx, "gasPrice": "0x1"}, _proven(bundle),
          CHAIN)


def test_receipt_needs_proven_receipts(trust_chain: Chain) -> None:
    bundle = _logs_bundle(trust_chain)
    bare = prove_block(bundle.block, pooled_blob_leaves=True)
    prove_transaction(bundle.tx, bare, CHAIN)
    with pytest.raises(ValueError, match="receipts"):
        prove_transaction(bundle.tx, bare, CHAIN, receipt_json=bundle.receipt)
    fails(Check.RECEIPT_MISMATCH, prove_transaction, bundle.tx, _proven(bundle), CHAIN,
          receipt_json="receipt")


def test_a_log_changed_in_place(trust_chain: Chain) -> None:
    bundle = _logs_bundle(trust_chain)
    receipt = clone(bundle.receipt)
    receipt["logs"][0]["data"] = "0x" + "00" * 40
    err = fails(Check.RECEIPT_MISMATCH, prove_transaction, bundle.tx, _proven(bundle), CHAIN,
                receipt_json=receipt)
    assert err.message.startswith("the receipt's logs differs")


def test_receipts_shorter_than_the_index(trust_chain: Chain) -> None:
    bundle = _logs_bundle(trust_chain)
    proven = _proven(bundle)
    assert proven.receipts is not None
    short = dataclasses.replace(proven, receipts=proven.receipts[:1])
    fails(Check.RECEIPT_MISMATCH, prove_transaction, bundle.tx, short, CHAIN,
          receipt_json=bundle.receipt)


_BUNDLES: dict[str, TxBundle] = {}

UNCHECKED: dict[str, frozenset[str]] = {
    # outside the header's hash
    "block": frozenset({"size", "totalDifficulty", "uncles"}),
    "receipt": frozenset({"blobGasPrice"}),
    # where a log sits: not compared with the proven block today
    "log": frozenset({"blockHash", "blockNumber", "blockTimestamp", "logIndex", "removed",
                      "transactionHash", "transactionIndex"}),
    # eth_getBlockReceipts' and the block's entries: only their encodings are proven
    "block_receipt": frozenset({"blobGasPrice", "blockHash", "blockNumber", "blockTimestamp",
                                "contractAddress", "effectiveGasPrice", "from", "gasUsed", "to",
                                "transactionHash", "transactionIndex"}),
    "block_tx": frozenset({"blockHash", "blockNumber", "blockTimestamp", "from", "gasPrice", "hash",
                           "transactionIndex"}),
}
"""Fields a damaged value of which the checks do not catch (listed, so that any other
undetected damage fails the property test below)."""


def _same_quantity(old: Any, new: Any) -> bool:
    """``new`` is ``old`` written with leading zeros: the same number, no damage."""
    try:
        return isinstance(old, str) and isinstance(new, str) and int(old, 16) == int(new, 16)
    except ValueError:
        return False


def _damage(obj: dict[str, Any], data: st.DataObject) -> None:
    key = data.draw(st.sampled_from(sorted(obj)))
    if data.draw(st.booleans()):
        del obj[key]
    else:
        obj[key] = data.draw(junk)


def _must_be_caught(target: str, old: dict[str, Any], new: dict[str, Any],
                    lists: tuple[Any, ...]) -> bool:
    """Whether the checks must catch how ``new`` differs from ``old``. A field removed or
    set to null is absent, which optional fields may be (removing one the encoding
    needs is caught all the same, but is not required here); a quantity written with
    leading zeros is the same number; ``lists`` (the logs, the block's transactions)
    hold targets of their own and count only if they were replaced."""
    return any(new.get(key) is not None and new[key] != value
               and not any(new[key] is kept for kept in lists)
               and not _same_quantity(value, new[key])
               and key not in UNCHECKED.get(target, frozenset())
               for key, value in old.items())


def _reachable(container: Any, key: str, index: int, obj: dict[str, Any]) -> bool:
    """``obj`` is still ``container[key][index]`` (damage to its list may have replaced it)."""
    items = container.get(key)
    return isinstance(items, list) and len(items) > index and items[index] is obj


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_damage_to_block_receipt_or_transaction_is_a_trust_error(
        trust_chain: Chain, data: st.DataObject) -> None:
    if "logs" not in _BUNDLES:
        _BUNDLES["logs"] = trust_chain.bundle(trust_chain.manifest.mixed_txs["logs"])
    honest = _BUNDLES["logs"]
    bundle = clone(honest)
    lists = (bundle.receipt["logs"], bundle.block["transactions"])
    log, block_tx = lists[0][0], lists[1][2]
    targets = {"tx": (honest.tx, bundle.tx), "receipt": (honest.receipt, bundle.receipt),
               "block": (honest.block, bundle.block),
               "block_receipt": (honest.receipts[3], bundle.receipts[3]),
               "log": (honest.receipt["logs"][0], log),
               "block_tx": (honest.block["transactions"][2], block_tx)}
    for _ in range(data.draw(st.integers(1, 3))):
        _damage(targets[data.draw(st.sampled_from(sorted(targets)))][1], data)
    if not _reachable(bundle.receipt, "logs", 0, log):
        del targets["log"]
    if not _reachable(bundle.block, "transactions", 2, block_tx):
        del targets["block_tx"]
    must_fail = any(_must_be_caught(name, old, new, lists) for name, (old, new) in targets.items())
    try:
        proven = prove_block(bundle.block, bundle.receipts, pooled_blob_leaves=True)
        prove_transaction(bundle.tx, proven, CHAIN, receipt_json=bundle.receipt)
    except (TrustError, Unprovable):  # Unprovable: a type made unknown, nothing proven
        return
    assert not must_fail, "damage went undetected"
