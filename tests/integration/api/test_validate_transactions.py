"""POST /api/v1/validate/transactions on a real anvil: up to 100 hashes in one request,
one result per hash in the order given, each as a single request would answer it; a
hash's failure is its item's, never the request's; bad bodies are one 400; each hash
spends one unit of the caller's rate limit."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bizra_node.app import Node
from tests.conftest import Devnet, make_settings, running_node

NodeClient = tuple[Node, httpx.AsyncClient]
PATH = "/api/v1/validate/transactions"
UNKNOWN = "0x" + "ab" * 32


async def results(client: httpx.AsyncClient, hashes: list[str]) -> list[dict[str, Any]]:
    resp = await client.post(PATH, json={"txHashes": hashes})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["success"] is True and body["meta"]["requestId"] == resp.headers["x-request-id"]
    return list(body["data"]["results"])


async def single(client: httpx.AsyncClient, tx_hash: str) -> dict[str, Any]:
    resp = await client.post("/api/v1/validate/transaction", json={"txHash": tx_hash})
    return dict(resp.json()["data"])


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return {**a, "validatedAt": None} == {**b, "validatedAt": None}


async def test_each_hash_answered_in_order_as_alone(devnet: Devnet,
                                                    node_client: NodeClient) -> None:
    m = devnet.manifest
    hashes = [m.eip1559_tx, UNKNOWN, m.legacy_tx, m.reverted_tx, m.legacy_tx]
    cold = await results(node_client[1], hashes)  # misses, answered concurrently
    warm = await results(node_client[1], hashes)  # hits
    for got in (cold, warm):
        assert [r["success"] for r in got] == [True] * 5
        assert [r["data"].get("data", {}).get("hash") for r in got] == \
            [m.eip1559_tx, None, m.legacy_tx, m.reverted_tx, m.legacy_tx]
        assert got[1]["data"]["valid"] is False
        assert got[3]["data"]["data"]["status"] == "failed"
        for tx_hash, item in zip(hashes, got, strict=True):
            assert _same(item["data"], await single(node_client[1], tx_hash))


async def test_a_hash_that_fails_is_its_own_item(devnet: Devnet) -> None:
    """The upstream is gone: every miss is a 503 item, and the request still answers."""
    async with running_node(make_settings(devnet.url)) as (_, client):
        first = await results(client, [devnet.manifest.legacy_tx])
        assert first[0]["success"] is True
    async with running_node(make_settings("http://127.0.0.1:9")) as (_, client):
        got = await results(client, [devnet.manifest.legacy_tx, UNKNOWN])
        assert [(r["success"], r["status"]) for r in got] == [(False, 503), (False, 503)]
        assert all(r["error"]["code"] for r in got)


@pytest.mark.parametrize(("body", "field"), [
    ({"txHashes": []}, "txHashes"),
    ({"txHashes": [UNKNOWN] * 101}, "txHashes"),
    ({"txHashes": [UNKNOWN, "0x1234"]}, "txHashes"),
    ({"txHashes": [UNKNOWN, "0x" + "zz" * 32]}, "txHashes[1]"),  # right length, not hex
    ({"txHashes": UNKNOWN}, "txHashes"),
    ({"txHash": UNKNOWN}, None),
    ({"txHashes": [UNKNOWN], "networkId": 1}, None),
])
async def test_bad_bodies_are_one_400(node_client: NodeClient, body: dict[str, Any],
                                      field: str | None) -> None:
    resp = await node_client[1].post(PATH, json=body)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    if field is not None:
        assert field in resp.text


async def test_each_hash_spends_one_unit(devnet: Devnet) -> None:
    settings = make_settings(devnet.url, rate_limit_rps=0.001, rate_limit_burst=12,
                             bizra_workers=1)
    async with running_node(settings) as (_, client):
        ten = [devnet.manifest.legacy_tx] * 10
        assert (await client.post(PATH, json={"txHashes": ten})).status_code == 200
        resp = await client.post(PATH, json={"txHashes": ten[:3]})  # 2 units left
        assert resp.status_code == 429
        assert resp.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
        assert (await client.post(PATH, json={"txHashes": ten[:2]})).status_code == 200
