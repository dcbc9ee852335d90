"""Receipts: the consensus encoding of real receipts gives the header's receiptsRoot."""

from __future__ import annotations

from typing import Any

import pytest
import rlp

from bizra_bench.trust_seed import LOG_TOPIC
from bizra_node.validation.trust import Check, decode_receipt, encode_receipt, receipts_root

from .conftest import Chain, clone, fails


def test_every_block_has_its_receipts_root(trust_chain: Chain) -> None:
    for n in range(1, trust_chain.manifest.head + 1):
        block = trust_chain.block(n, full=False)
        receipts = trust_chain.call("eth_getBlockReceipts", hex(n))
        assert "0x" + receipts_root(receipts).hex() == block["receiptsRoot"], n


def test_what_the_encoding_holds(trust_chain: Chain) -> None:
    receipt = trust_chain.call("eth_getTransactionReceipt", trust_chain.manifest.txs["logs"])
    decoded = decode_receipt(receipt)
    assert decoded.type == 2 and decoded.status == 1 and decoded.root is None
    assert decoded.encoding[0] == 2
    assert len(decoded.logs) == 2
    assert decoded.logs[0][1][0] == LOG_TOPIC
    status, cumulative, bloom, logs = rlp.decode(decoded.encoding[1:])
    assert (status, int.from_bytes(cumulative, "big"), bloom) == (
        b"\x01", decoded.cumulative_gas_used, decoded.logs_bloom)
    assert logs == decoded.logs
    failed = decode_receipt(trust_chain.call("eth_getTransactionReceipt",
                                              trust_chain.manifest.txs["reverted"]))
    assert failed.status == 0 and rlp.decode(failed.encoding[1:])[0] == b""
    legacy = trust_chain.call("eth_getTransactionReceipt", trust_chain.manifest.txs["legacy"])
    assert encode_receipt(legacy)[0] >= 0xC0  # no type prefix: an RLP list


def test_pre_byzantium_root(trust_chain: Chain) -> None:
    """Before Byzantium the first item is the 32-byte state root (anvil always reports
    status, so this is checked on the structure)."""
    receipt = trust_chain.call("eth_getTransactionReceipt", trust_chain.manifest.txs["legacy"])
    receipt = {k: v for k, v in receipt.items() if k not in ("status", "type")}
    receipt["root"] = "0x" + "ab" * 32
    decoded = decode_receipt(receipt)
    assert decoded.status is None and decoded.root == b"\xab" * 32
    assert rlp.decode(decoded.encoding)[0] == b"\xab" * 32


@pytest.mark.parametrize("edit", [
    {"status": "0x2"}, {"status": None}, {"cumulativeGasUsed": None}, {"logsBloom": "0x00"},
    {"logs": None}, {"logs": ["x"]}, {"logs": [{"address": "0x" + "11" * 20, "topics": ["0x01"],
                                                "data": "0x"}]},
    {"logs": [{"address": "0x11", "topics": [], "data": "0x"}]}, {"type": "0x80"}, {"type": 2},
    {"root": "0x12", "status": None},
])
def test_malformed(trust_chain: Chain, edit: dict[str, Any]) -> None:
    receipt = clone(trust_chain.call("eth_getTransactionReceipt",
                                      trust_chain.manifest.txs["logs"]))
    receipt.update(edit)
    fails(Check.RECEIPTS_ROOT, decode_receipt, receipt)


def test_not_an_object() -> None:
    fails(Check.RECEIPTS_ROOT, decode_receipt, None)
    fails(Check.RECEIPTS_ROOT, decode_receipt, [])
