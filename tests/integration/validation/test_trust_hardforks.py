"""Headers, transactions and receipts of every hardfork anvil runs prove: the header's
fork fields (London base fee to Prague requestsHash) and the transaction types each
fork has, blob transactions with the sidecar form of their fork included."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from bizra_node.devnet import Anvil, rpc, wait_receipt
from bizra_node.validation.trust import Check, TrustError, prove_block, prove_transaction
from tests.support.trust_seed import send_blob_tx

GWEI = 10**9
FORKS: dict[str, tuple[int, ...]] = {
    # hardfork: transaction types to send
    "homestead": (0,), "berlin": (0, 1), "london": (0, 1, 2), "shanghai": (0, 1, 2),
    "cancun": (0, 1, 2), "prague": (0, 1, 2, 3), "osaka": (0, 1, 2, 3),
}
# (set-code transactions, Prague on, are covered on anvil's default hardfork by the trust
# devnet of tests/unit/validation/trust)
SIDECAR = {"prague": 0, "osaka": 1}
"""The blob sidecar each fork's pool takes: EIP-4844 blob proofs, then EIP-7594 cell
proofs. (Blob transactions only on two forks: each anvil loads its KZG setup, seconds.)"""
FIELDS = {"london": "baseFeePerGas", "shanghai": "withdrawalsRoot", "cancun": "parentBeaconBlockRoot",
          "prague": "requestsHash"}


@pytest.fixture(params=list(FORKS), scope="module")
def fork(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    with Anvil(hardfork=request.param) as anvil:
        yield request.param, anvil.url


def _send(url: str, kind: int, fork: str) -> str:
    a, b = rpc(url, "eth_accounts")[:2]
    if kind == 3:
        return _mined(url, send_blob_tx(url, 3, version=SIDECAR[fork]))
    tx: dict[str, Any] = {"from": a, "to": b, "value": hex(10**15), "type": hex(kind)}
    if kind < 2:
        tx["gasPrice"] = hex(30 * GWEI)
    if kind == 1:
        tx["accessList"] = [{"address": b, "storageKeys": ["0x" + "00" * 32]}]
    return _mined(url, str(rpc(url, "eth_sendTransaction", [tx])))


def _mined(url: str, tx_hash: str) -> str:
    wait_receipt(url, tx_hash)
    # anvil can show the receipt a moment before the transaction shows its block
    deadline = time.monotonic() + 5
    while rpc(url, "eth_getTransactionByHash", [tx_hash]).get("blockHash") is None:
        assert time.monotonic() < deadline, "the mined transaction never showed its block"
        time.sleep(0.01)
    return tx_hash


def test_fork(fork: tuple[str, str]) -> None:
    name, url = fork
    order = list(FORKS)
    for kind in FORKS[name]:
        tx_hash = _send(url, kind, name)
        tx = rpc(url, "eth_getTransactionByHash", [tx_hash])
        block = rpc(url, "eth_getBlockByHash", [tx["blockHash"], True])
        for since, field in FIELDS.items():
            reached = order.index(name) >= order.index(since)
            assert (field in block) == reached, (name, field)
        receipts = rpc(url, "eth_getBlockReceipts", [tx["blockHash"]])
        if kind == 3:  # anvil roots blob transactions in their pooled form (docs/trust.md)
            with pytest.raises(TrustError):
                prove_block(block, receipts)
        proven = prove_transaction(tx, prove_block(block, receipts, pooled_blob_leaves=kind == 3),
                                   31337,
                                   receipt_json=rpc(url, "eth_getTransactionReceipt", [tx_hash]))
        assert proven.tx.signed.type == kind
        assert (Check.WITHDRAWALS_ROOT in proven.checks) == ("withdrawalsRoot" in block)
