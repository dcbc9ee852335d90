"""POST /api/v1/validate/transaction on a real anvil: every status, not found, pending."""

from __future__ import annotations

from typing import Any

import httpx

from bizra_node.app import Node
from bizra_node.devnet import rpc, wait_receipt
from tests.conftest import Devnet, make_settings, running_node, tuned

NodeClient = tuple[Node, httpx.AsyncClient]


async def validate(client: httpx.AsyncClient, tx_hash: str) -> dict[str, Any]:
    resp = await client.post("/api/v1/validate/transaction", json={"txHash": tx_hash})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["success"] is True
    assert body["meta"]["requestId"] == resp.headers["x-request-id"]
    return dict(body["data"])


async def test_confirmed_legacy_transaction(devnet: Devnet, node_client: NodeClient) -> None:
    result = await validate(node_client[1], devnet.manifest.legacy_tx)
    assert result["valid"] is True
    assert result["networkId"] == 31337
    tx = result["data"]
    assert tx["hash"] == devnet.manifest.legacy_tx
    assert tx["status"] == "confirmed"
    assert tx["type"] == 0
    assert tx["value"] == str(10**18)
    assert tx["from"] == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # EIP-55
    assert tx["finalized"] is True
    assert tx["confirmations"] == devnet.manifest.head - tx["blockNumber"] + 1


async def test_each_transaction_type(devnet: Devnet, node_client: NodeClient) -> None:
    m = devnet.manifest
    for tx_hash, kind in ((m.legacy_tx, 0), (m.eip2930_tx, 1), (m.eip1559_tx, 2)):
        tx = (await validate(node_client[1], tx_hash))["data"]
        assert tx["type"] == kind
        assert tx["status"] == "confirmed"


async def test_timestamp_is_the_blocks(devnet: Devnet, node_client: NodeClient) -> None:
    tx = (await validate(node_client[1], devnet.manifest.eip1559_tx))["data"]
    block = rpc(devnet.url, "eth_getBlockByHash", [tx["blockHash"], False])
    assert tx["timestamp"] == int(block["timestamp"], 16)


async def test_reverted_call_is_failed(devnet: Devnet, node_client: NodeClient) -> None:
    tx = (await validate(node_client[1], devnet.manifest.reverted_tx))["data"]
    assert tx["status"] == "failed"
    assert tx["data"] == "0x01"
    assert tx["to"].lower() == devnet.manifest.contract


async def test_contract_deployment_has_no_recipient(devnet: Devnet,
                                                    node_client: NodeClient) -> None:
    tx = (await validate(node_client[1], devnet.manifest.deploy_tx))["data"]
    assert tx["to"] is None
    assert tx["status"] == "confirmed"


async def test_unknown_hash_is_not_found(node_client: NodeClient) -> None:
    result = await validate(node_client[1], "0x" + "ab" * 32)
    assert result == {"valid": False, "error": "Transaction not found",
                      "validatedAt": result["validatedAt"], "networkId": 31337,
                      "verification": {"level": "unverified"}}  # absence is not provable


async def test_upper_case_hash_is_accepted(devnet: Devnet, node_client: NodeClient) -> None:
    upper = "0x" + devnet.manifest.legacy_tx[2:].upper()
    tx = (await validate(node_client[1], upper))["data"]
    assert tx["hash"] == devnet.manifest.legacy_tx


async def test_pending_then_confirmed_then_final(fresh_devnet: Devnet) -> None:
    url = fresh_devnet.url
    accounts = fresh_devnet.manifest.accounts
    rpc(url, "evm_setAutomine", [False])
    tx_hash = rpc(url, "eth_sendTransaction",
                  [{"from": accounts[5], "to": accounts[6], "value": hex(12345)}])
    # answers that can still change are cached for a moment (TTL_PENDING, TTL_HEAD): this
    # test watches one transaction change from block to block, so it makes them tiny (and
    # asks for the finalized anchor every time)
    fast = make_settings(url, ttl_pending=0.001, ttl_head=0.001, ttl_recent=0.001)
    async with running_node(fast, tuning=tuned(anchor_refresh=0.001)) as (_, client):
        pending = (await validate(client, tx_hash))["data"]
        assert pending["status"] == "pending"
        assert pending["blockNumber"] is None
        assert pending["timestamp"] is None
        assert pending["confirmations"] == 0
        assert pending["finalized"] is False

        rpc(url, "evm_mine")
        wait_receipt(url, tx_hash)
        mined = (await validate(client, tx_hash))["data"]
        assert mined["status"] == "confirmed"
        assert mined["confirmations"] == 1
        assert mined["finalized"] is False

        rpc(url, "anvil_mine", [hex(10)])
        final = (await validate(client, tx_hash))["data"]
        assert final["confirmations"] == 11
        assert final["finalized"] is True


async def test_request_id_is_echoed(devnet: Devnet, node_client: NodeClient) -> None:
    resp = await node_client[1].post("/api/v1/validate/transaction",
                                     json={"txHash": devnet.manifest.legacy_tx},
                                     headers={"x-request-id": "trace-42"})
    assert resp.headers["x-request-id"] == "trace-42"
    assert resp.json()["meta"]["requestId"] == "trace-42"


async def test_unsafe_request_id_is_replaced(devnet: Devnet, node_client: NodeClient) -> None:
    resp = await node_client[1].post("/api/v1/validate/transaction",
                                     json={"txHash": devnet.manifest.legacy_tx},
                                     headers={"x-request-id": 'a"b'})
    rid = resp.json()["meta"]["requestId"]
    assert rid != 'a"b'
    assert rid == resp.headers["x-request-id"]
