from __future__ import annotations

import pytest

from bizra_node.devnet import rpc
from bizra_node.validation.integrity import IntegrityError, check_block, check_transaction, header_hash
from tests.conftest import Devnet


def test_header_hash_matches_real_blocks(devnet: Devnet) -> None:
    for n in (0, 1, devnet.manifest.head):
        block = rpc(devnet.url, "eth_getBlockByNumber", [hex(n), False])
        assert header_hash(block) == block["hash"]
        check_block(block, n)


def test_tampered_header_is_caught(devnet: Devnet) -> None:
    block = rpc(devnet.url, "eth_getBlockByNumber", ["0x1", False])
    block["timestamp"] = hex(int(block["timestamp"], 16) + 1)
    with pytest.raises(IntegrityError, match="hash does not match"):
        check_block(block, 1)


def test_wrong_block_number_is_caught(devnet: Devnet) -> None:
    block = rpc(devnet.url, "eth_getBlockByNumber", ["0x2", False])
    with pytest.raises(IntegrityError, match="asked for block 1"):
        check_block(block, 1)


def test_malformed_header() -> None:
    with pytest.raises(IntegrityError, match="malformed"):
        header_hash({"parentHash": "0xzz"})


def test_transaction_receipt_mismatch(devnet: Devnet) -> None:
    h = devnet.manifest.legacy_tx
    tx = rpc(devnet.url, "eth_getTransactionByHash", [h])
    receipt = rpc(devnet.url, "eth_getTransactionReceipt", [h])
    check_transaction(tx, receipt, h)
    with pytest.raises(IntegrityError, match="different transaction"):
        check_transaction(tx, receipt, "0x" + "00" * 32)
    other = rpc(devnet.url, "eth_getTransactionReceipt", [devnet.manifest.eip1559_tx])
    with pytest.raises(IntegrityError, match="receipt belongs"):
        check_transaction(tx, other, h)
