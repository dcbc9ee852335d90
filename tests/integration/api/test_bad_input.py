"""Every kind of bad input gets a 400 VALIDATION_ERROR (or 404) with details, never a 500."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bizra_node.app import Node

NodeClient = tuple[Node, httpx.AsyncClient]
TX = "/api/v1/validate/transaction"
JSON = {"content-type": "application/json"}
GOOD_HASH = "0x" + "ab" * 32


def assert_error(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert body["meta"]["requestId"]
    assert "Traceback" not in resp.text
    return dict(body["error"])


@pytest.mark.parametrize(("body", "reason"), [
    (b"{not json", "malformed_json"),
    (b"", "malformed_json"),
    (b'{"txHash": 12}', "schema"),
    (b'{"txHash": null}', "schema"),
    (b"[]", "schema"),
    (b'{"txHash": "0x' + b"ab" * 32 + b'", "foo": 1}', "schema"),
    (b"{}", "schema"),
    (b'{"txHash": "0x' + b"ab" * 32 + b'", "networkId": "one"}', "schema"),
])
async def test_body_shape(node_client: NodeClient, body: bytes, reason: str) -> None:
    resp = await node_client[1].post(TX, content=body, headers=JSON)
    error = assert_error(resp, 400, "VALIDATION_ERROR")
    assert error["details"]["reason"] == reason


@pytest.mark.parametrize(("tx_hash", "reason"), [
    ("0x" + "a" * 63, "must be 0x followed by 64 hex digits (got 63)"),
    ("0x" + "a" * 65, "must be 0x followed by 64 hex digits (got 65)"),
    ("ab" * 32, "must start with 0x"),
    ("0x" + "g" * 64, "contains non-hex characters"),
    ("0x" + "a" * 62 + " a", "contains non-hex characters"),
    ("", "must start with 0x"),
])
async def test_bad_hash(node_client: NodeClient, tx_hash: str, reason: str) -> None:
    resp = await node_client[1].post(TX, json={"txHash": tx_hash})
    error = assert_error(resp, 400, "VALIDATION_ERROR")
    assert error["details"]["field"] == "txHash"
    assert error["details"]["reason"] == reason


@pytest.mark.parametrize("number", [-1, 2**63, "abc", "1.5", 1.5, True, None, "-5", "0x"])
async def test_bad_block_number(node_client: NodeClient, number: object) -> None:
    resp = await node_client[1].post("/api/v1/validate/block", json={"blockNumber": number})
    assert_error(resp, 400, "VALIDATION_ERROR")


async def test_huge_integer_block_number(node_client: NodeClient) -> None:
    resp = await node_client[1].post("/api/v1/validate/block",
                                     content=b'{"blockNumber": ' + b"9" * 400 + b"}",
                                     headers=JSON)
    assert_error(resp, 400, "VALIDATION_ERROR")


@pytest.mark.parametrize(("address", "reason"), [
    ("0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6E0", "EIP-55 checksum mismatch"),
    ("0x9fe46736679d2d9a65f0992f2272de9f3c7fa6e", "must be 0x followed by 40 hex digits (got 39)"),
    ("9fe46736679d2d9a65f0992f2272de9f3c7fa6e0", "must start with 0x"),
    ("0xZZe46736679d2d9a65f0992f2272de9f3c7fa6e0", "contains non-hex characters"),
])
async def test_bad_address(node_client: NodeClient, address: str, reason: str) -> None:
    resp = await node_client[1].post("/api/v1/validate/address", json={"address": address})
    assert assert_error(resp, 400, "VALIDATION_ERROR")["details"]["reason"] == reason


async def test_wrong_network(node_client: NodeClient) -> None:
    resp = await node_client[1].post(TX, json={"txHash": GOOD_HASH, "networkId": 1})
    assert assert_error(resp, 400, "VALIDATION_ERROR")["details"]["reason"] == \
        "unsupported_network"


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", ""])
async def test_wrong_content_type(node_client: NodeClient, ctype: str) -> None:
    headers = {"content-type": ctype} if ctype else {}
    resp = await node_client[1].post(TX, content=b'{"txHash":"' + GOOD_HASH.encode() + b'"}',
                                     headers=headers)
    assert assert_error(resp, 400, "VALIDATION_ERROR")["details"]["reason"] == \
        "unsupported_media_type"


async def test_json_content_type_with_charset(node_client: NodeClient) -> None:
    resp = await node_client[1].post(TX, content=b'{"txHash":"' + GOOD_HASH.encode() + b'"}',
                                     headers={"content-type": "application/json; charset=utf-8"})
    assert resp.status_code == 200


async def test_body_over_limit(node_client: NodeClient) -> None:
    body = b'{"txHash":"' + b"a" * 70_000 + b'"}'
    resp = await node_client[1].post(TX, content=body, headers=JSON)
    error = assert_error(resp, 400, "VALIDATION_ERROR")
    assert error["details"] == {"reason": "body_too_large", "limit": 65536}


async def test_chunked_body_over_limit(node_client: NodeClient) -> None:
    async def chunks():  # no content-length: the node must stop reading at the limit
        for _ in range(20):
            yield b"a" * 8192

    resp = await node_client[1].post(TX, content=chunks(), headers=JSON)
    assert assert_error(resp, 400, "VALIDATION_ERROR")["details"]["reason"] == "body_too_large"


async def test_unknown_route(node_client: NodeClient) -> None:
    assert_error(await node_client[1].get("/api/v1/nothing"), 404, "NOT_FOUND")


async def test_wrong_method(node_client: NodeClient) -> None:
    resp = await node_client[1].get(TX)
    assert assert_error(resp, 405, "METHOD_NOT_ALLOWED")["details"]["reason"] == \
        "method_not_allowed"


@pytest.mark.parametrize("path", ["/api/v1/transactions/0x1234", "/api/v1/blocks/-3",
                                  "/api/v1/blocks/nope", "/api/v1/addresses/0xabc"])
async def test_bad_resource_path(node_client: NodeClient, path: str) -> None:
    assert_error(await node_client[1].get(path), 400, "VALIDATION_ERROR")


async def test_trailing_slash_is_tolerated(node_client: NodeClient) -> None:
    resp = await node_client[1].get("/health/")
    assert resp.status_code == 200
