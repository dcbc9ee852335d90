"""Blocks and addresses, POST and GET forms, block number, health, readiness, OpenAPI."""

from __future__ import annotations

import httpx

from bizra_node.app import Node
from bizra_node.devnet import rpc
from tests.conftest import Devnet

NodeClient = tuple[Node, httpx.AsyncClient]


async def test_block_by_number(devnet: Devnet, node_client: NodeClient) -> None:
    resp = await node_client[1].post("/api/v1/validate/block", json={"blockNumber": 1})
    result = resp.json()["data"]
    assert result["valid"] is True
    block = result["data"]
    expected = rpc(devnet.url, "eth_getBlockByNumber", ["0x1", False])
    assert block["hash"] == expected["hash"]
    assert block["parentHash"] == expected["parentHash"]
    assert block["transactions"] == expected["transactions"]
    assert block["timestamp"] == int(expected["timestamp"], 16)
    assert block["finalized"] is True
    assert block["baseFeePerGas"] is not None


async def test_latest_block_is_not_final(devnet: Devnet, node_client: NodeClient) -> None:
    resp = await node_client[1].post("/api/v1/validate/block", json={"blockNumber": "latest"})
    block = resp.json()["data"]["data"]
    assert block["number"] >= devnet.manifest.head
    assert block["finalized"] is False


async def test_block_not_yet_mined(node_client: NodeClient) -> None:
    resp = await node_client[1].post("/api/v1/validate/block", json={"blockNumber": 10**9})
    assert resp.status_code == 200
    result = resp.json()["data"]
    assert result["valid"] is False
    assert result["error"] == "Block not found"


async def test_address_of_contract(devnet: Devnet, node_client: NodeClient) -> None:
    resp = await node_client[1].post("/api/v1/validate/address",
                                     json={"address": devnet.manifest.contract})
    account = resp.json()["data"]["data"]
    assert account["isContract"] is True
    assert account["address"] == "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
    assert account["code"] != "0x"


async def test_address_of_funded_account(devnet: Devnet, node_client: NodeClient) -> None:
    address = devnet.manifest.accounts[0]
    resp = await node_client[1].post("/api/v1/validate/address",
                                     json={"address": address.upper().replace("0X", "0x")})
    account = resp.json()["data"]["data"]
    assert account["isContract"] is False
    assert account["nonce"] >= 3
    assert int(account["balance"]) == int(rpc(devnet.url, "eth_getBalance",
                                              [address, "latest"]), 16)
    assert account["blockNumber"] >= devnet.manifest.head


async def test_block_number(devnet: Devnet, node_client: NodeClient) -> None:
    resp = await node_client[1].get("/api/v1/validate/block-number")
    assert resp.json()["data"]["blockNumber"] >= devnet.manifest.head


async def test_final_transaction_resource_is_immutable(devnet: Devnet,
                                                       node_client: NodeClient) -> None:
    client = node_client[1]
    resp = await client.get(f"/api/v1/transactions/{devnet.manifest.legacy_tx}")
    assert resp.status_code == 200
    assert resp.headers["cache-control"] == "public, max-age=31536000, immutable"
    etag = resp.headers["etag"]
    again = await client.get(f"/api/v1/transactions/{devnet.manifest.legacy_tx}",
                             headers={"if-none-match": etag})
    assert again.status_code == 304
    assert again.content == b""
    other = await client.get(f"/api/v1/transactions/{devnet.manifest.legacy_tx}",
                             headers={"if-none-match": '"nope"'})
    assert other.status_code == 200


async def test_final_block_resource_and_latest(node_client: NodeClient) -> None:
    client = node_client[1]
    final = await client.get("/api/v1/blocks/1")
    assert final.headers["cache-control"].endswith("immutable")
    assert (await client.get("/api/v1/blocks/1", headers={
        "if-none-match": final.headers["etag"]})).status_code == 304
    latest = await client.get("/api/v1/blocks/latest")
    assert latest.status_code == 200
    assert latest.headers["cache-control"] == "public, max-age=2"
    assert latest.headers["etag"].startswith('W/"')


async def test_address_resource_is_short_lived(devnet: Devnet, node_client: NodeClient) -> None:
    resp = await node_client[1].get(f"/api/v1/addresses/{devnet.manifest.contract}")
    assert resp.status_code == 200
    assert resp.headers["cache-control"] == "public, max-age=2"
    assert resp.json()["data"]["data"]["isContract"] is True


async def test_health_and_ready(node_client: NodeClient) -> None:
    client = node_client[1]
    assert (await client.get("/health")).json()["data"]["status"] == "ok"
    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["data"]["checks"]["upstream"]["ok"] is True


async def test_openapi_is_generated(node_client: NodeClient) -> None:
    doc = (await node_client[1].get("/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    assert {"/api/v1/validate/transaction", "/api/v1/validations", "/rpc"} <= set(doc["paths"])
    schemas = doc["components"]["schemas"]
    assert "txHash" in schemas["TransactionRequest"]["properties"]
    assert "confirmations" in schemas["Transaction"]["properties"]
