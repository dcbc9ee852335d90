"""Hostile input found by schemathesis and by hand: each is a 4xx with the
error envelope and a request id, never a 500 or an empty body."""

from __future__ import annotations

import base64
import struct
from typing import Any

import httpx
import pytest

from bizra_node.app import Node

NodeClient = tuple[Node, httpx.AsyncClient]
JSON = {"content-type": "application/json"}


def assert_400(resp: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["success"] is False
    assert body["meta"]["requestId"]
    return dict(body["error"])


async def test_invalid_utf8_in_a_body(node_client: NodeClient) -> None:
    resp = await node_client[1].post("/api/v1/validate/transaction",
                                     content=b'{"txHash": "0x\xff\xfe"}', headers=JSON)
    assert assert_400(resp)["details"]["reason"] == "invalid_utf8"


@pytest.mark.parametrize("digits", [19, 4_299, 4_301, 10_000])
async def test_a_huge_block_number_in_the_path(node_client: NodeClient, digits: int) -> None:
    resp = await node_client[1].get("/api/v1/blocks/" + "9" * digits)
    assert assert_400(resp)["details"]["field"] == "number"


@pytest.mark.parametrize("number", ["0x" + "f" * 4_000, "9" * 5_000, "0x" + "0" * 30 + "1"])
async def test_a_huge_block_number_in_a_body(node_client: NodeClient, number: str) -> None:
    resp = await node_client[1].post("/api/v1/validate/block", json={"blockNumber": number})
    error = assert_400(resp)
    assert error["details"]["field"] == "blockNumber"
    assert len(resp.content) < 2_000  # the value is shown cut short, never in full


@pytest.mark.parametrize("path", ["/api/v1/blocks/\u0665", "/api/v1/blocks/\u00b2", "/api/v1/blocks/5\u0665",
                                  "/api/v1/blocks/0x\u0665"])
async def test_only_ascii_digits_are_numbers_in_a_path(node_client: NodeClient, path: str) -> None:
    assert_400(await node_client[1].get(path))


@pytest.mark.parametrize("number", ["\u0665", "\u00b2", "\uff11\uff12"])
async def test_only_ascii_digits_are_numbers_in_a_body(node_client: NodeClient,
                                                       number: str) -> None:
    resp = await node_client[1].post("/api/v1/validate/block", json={"blockNumber": number})
    assert_400(resp)


@pytest.mark.parametrize("query", [
    "subject=\u00b2", "subject=\u0665", "kind=block&subject=\u00b2", "kind=block&subject=" + "9" * 5000,
    "limit=\u0665", "limit=" + "9" * 5000,
    "to=9999-12-31T23:59:59.999999-23:59", "from=0001-01-01T00:00:00%2B14:00",
    "from=0001-01-01T00:00:00%2B14:00&to=2024-01-01",
    "cursor=" + base64.urlsafe_b64encode(struct.pack(">q16s", 2**63 - 1, b"\0" * 16)).decode(),
    "cursor=" + base64.urlsafe_b64encode(struct.pack(">q16s", -(2**63), b"\0" * 16)).decode(),
    "subject=%ff%fe",
])
async def test_history_filters_at_the_edges(node_client: NodeClient, query: str) -> None:
    # the store is off in this node: a good query is a 503, a bad one a 400 first
    resp = await node_client[1].get("/api/v1/validations?" + query)
    assert_400(resp)


async def test_a_method_a_route_lacks_is_a_405_with_allow(node_client: NodeClient) -> None:
    client = node_client[1]
    resp = await client.get("/api/v1/validate/transaction")
    error = assert_400(resp, 405)
    assert error["code"] == "METHOD_NOT_ALLOWED"
    assert resp.headers["allow"] == "POST"
    resp = await client.delete("/api/v1/blocks/1")
    assert_400(resp, 405)
    assert resp.headers["allow"] == "GET"
    resp = await client.put("/rpc", content=b"{}")
    assert_400(resp, 405)
    assert resp.headers["allow"] == "OPTIONS, POST"  # the CORS preflight too


@pytest.mark.parametrize("body", [
    b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId\xff"}',
    b"[" * 5000 + b"]" * 5000,
    b'{"jsonrpc":"2.0","id":' + b"9" * 5000 + b',"method":"eth_chainId"}',
    b'{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["0x' + b"f" * 4000
    + b'",false]}',
    b'{"jsonrpc":"2.0","id":1.5,"method":"eth_chainId"}',
])
async def test_hostile_json_rpc_is_a_json_rpc_error(node_client: NodeClient,
                                                    body: bytes) -> None:
    resp = await node_client[1].post("/rpc", content=body, headers=JSON)
    assert resp.status_code == 200, resp.text[:300]
    doc = resp.json()
    assert "error" in doc or "result" in doc
