"""POST /api/v1/validate/transaction and GET /api/v1/transactions/{hash} on a real anvil."""

from __future__ import annotations

import httpx

from bizra_node.app import Node
from tests.conftest import Devnet

JSON = {"content-type": "application/json"}


async def validate(client: httpx.AsyncClient, tx_hash: str) -> dict:
    resp = await client.post("/api/v1/validate/transaction", json={"txHash": tx_hash})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["success"] is True
    return body["data"]


async def test_confirmed_legacy_transaction(devnet: Devnet,
                                            node_client: tuple[Node, httpx.AsyncClient]) -> None:
    _, client = node_client
    result = await validate(client, devnet.manifest.legacy_tx)
    assert result["valid"] is True
    tx = result["data"]
    assert tx["hash"] == devnet.manifest.legacy_tx
    assert tx["status"] == "confirmed"
    assert tx["type"] == 0
    assert tx["value"] == str(10**18)
    assert tx["finalized"] is True
    assert tx["confirmations"] >= 20
    assert result["networkId"] == 31337
