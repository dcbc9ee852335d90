"""The synchronous lane (Dispatcher.answer_now): an L1 hit is answered without
awaiting, byte for byte what the full path answers; anything unusual declines
(None) and the full path answers it, errors included."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import orjson
import pytest

from bizra_node.api import Request, Response
from bizra_node.app import Node
from bizra_node.validation import to_checksum_address
from tests.conftest import Devnet, make_settings, running_node

NodeClient = tuple[Node, httpx.AsyncClient]
JSON = {"content-type": "application/json"}


def request(method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
            rid: str = "rid-1") -> Request:
    raw = body if isinstance(body, bytes) else (b"" if body is None else orjson.dumps(body))
    hdrs = {**JSON, **(headers or {})} if method == "POST" else (headers or {})
    return Request(method, path, "", hdrs.get, raw, rid)


async def full(node: Node, req: Request) -> Response:
    return await node.dispatcher.dispatch(req)


async def test_hits_are_answered_now_exactly_as_the_full_path(devnet: Devnet,
                                                              node_client: NodeClient) -> None:
    node, _ = node_client
    m = devnet.manifest
    one, two = (to_checksum_address(a[2:].lower()) for a in m.accounts[1:3])
    cases = [request("POST", "/api/v1/validate/transaction", {"txHash": m.legacy_tx}),
             request("GET", f"/api/v1/transactions/{m.eip2930_tx}"),
             request("POST", "/api/v1/validate/block", {"blockNumber": 3}),
             request("GET", "/api/v1/blocks/4"),
             request("POST", "/api/v1/validate/address", {"address": one, "networkId": 31337}),
             request("GET", f"/api/v1/addresses/{two}")]
    for req in cases:
        assert node.dispatcher.answer_now(req) is None  # not cached yet
        slow = await full(node, req)
        assert slow.status == 200
        fast = node.dispatcher.answer_now(req)
        assert fast is not None, req.path
        assert (fast.status, fast.body, fast.headers) == (slow.status, slow.body, slow.headers)
        assert b'"requestId":"rid-1"' in fast.body


@pytest.mark.parametrize(("method", "path", "body", "headers", "status"), [
    ("POST", "/api/v1/validate/transaction", b"{not json", None, 400),
    ("POST", "/api/v1/validate/transaction", {"txHash": "TX", "extra": 1}, None, 400),
    ("POST", "/api/v1/validate/transaction", {"txHash": "TX"}, {"content-type": "text/plain"}, 400),
    ("POST", "/api/v1/validate/transaction", {"txHash": "TX", "networkId": 1}, None, 400),
    ("POST", "/api/v1/validate/transaction", {"txHash": "UPPER"}, None, 200),
    ("GET", "/api/v1/transactions/UPPER", None, None, 200),
    ("POST", "/api/v1/validate/block", {"blockNumber": "3"}, None, 200),
    ("POST", "/api/v1/validate/block", {"blockNumber": True}, None, 400),
    ("POST", "/api/v1/validate/block", {"blockNumber": -3}, None, 400),
    ("GET", "/api/v1/blocks/03", None, None, 200),
    ("GET", "/api/v1/blocks/latest", None, None, 200),
    ("POST", "/api/v1/validate/address", {"address": "LOWER"}, None, 200),
    ("GET", "/api/v1/transactions/", None, None, 404),
    ("GET", "/api/v1/nothing/here", None, None, 404),
])
async def test_anything_unusual_declines_and_the_full_path_answers(
        devnet: Devnet, node_client: NodeClient, method: str, path: str, body: Any,
        headers: dict[str, str] | None, status: int) -> None:
    node, _ = node_client
    m = devnet.manifest
    # warm the canonical keys, so that a decline is the lane's choice, not a miss
    for req in (request("POST", "/api/v1/validate/transaction", {"txHash": m.legacy_tx}),
                request("POST", "/api/v1/validate/block", {"blockNumber": 3}),
                request("POST", "/api/v1/validate/address", {"address": m.accounts[1]})):
        assert (await full(node, req)).status == 200
    subst = {"TX": m.legacy_tx, "UPPER": "0x" + m.legacy_tx[2:].upper(),
             "LOWER": m.accounts[1].lower()}
    if isinstance(body, dict):
        body = {k: subst.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    for key, value in subst.items():
        path = path.replace(key, value)
    req = request(method, path, body, headers)
    assert node.dispatcher.answer_now(req) is None
    assert (await full(node, req)).status == status


async def test_a_hit_with_a_stale_head_goes_the_full_way(devnet: Devnet,
                                                         node_client: NodeClient) -> None:
    node, _ = node_client
    req = request("POST", "/api/v1/validate/transaction", {"txHash": devnet.manifest.eip1559_tx})
    assert (await full(node, req)).status == 200
    assert node.dispatcher.answer_now(req) is not None
    node.chain._head_until = 0.0  # the head has expired
    assert node.dispatcher.answer_now(req) is None
    assert (await full(node, req)).status == 200
    assert node.dispatcher.answer_now(req) is not None  # the full path fetched a fresh head


async def test_the_fast_lane_counts_and_times_like_the_full_path(devnet: Devnet,
                                                                 node_client: NodeClient) -> None:
    node, _ = node_client
    req = request("GET", f"/api/v1/transactions/{devnet.manifest.deploy_tx}")
    assert (await full(node, req)).status == 200
    key = ("/api/v1/transactions/{param}", "200")
    before = node.metrics.api_requests.values.get(key, 0)
    for _ in range(3):
        assert node.dispatcher.answer_now(req) is not None
    assert node.metrics.api_requests.values[key] == before + 3
    assert node.metrics.api_latency.series[key][-1] > 0  # summed seconds


async def test_at_debug_level_everything_goes_the_full_way(devnet: Devnet) -> None:
    api_log = logging.getLogger("bizra_node.api")
    level = api_log.level
    api_log.setLevel(logging.DEBUG)  # what LOG_LEVEL=debug does, read when the node is built
    try:
        async with running_node(make_settings(devnet.url)) as (node, _):
            req = request("GET", f"/api/v1/transactions/{devnet.manifest.call_ok_tx}")
            assert (await full(node, req)).status == 200
            assert node.dispatcher.answer_now(req) is None
    finally:
        api_log.setLevel(level)


def rpc_request(method: str, params: list[Any], req_id: Any = 7, **extra: Any) -> Request:
    return request("POST", "/rpc", {"jsonrpc": "2.0", "id": req_id, "method": method,
                                    "params": params, **extra})


async def test_rpc_hits_are_answered_now_exactly_as_the_full_path(
        devnet: Devnet, node_client: NodeClient) -> None:
    node, _ = node_client
    m = devnet.manifest
    cases = [rpc_request("eth_getTransactionByHash", [m.legacy_tx]),
             rpc_request("eth_getTransactionReceipt", [m.eip1559_tx], "some-id"),
             rpc_request("eth_getBlockByNumber", ["0x2", False])]
    for req in cases:
        assert node.dispatcher.answer_now(req) is None  # not cached yet
        slow = await full(node, req)
        fast = node.dispatcher.answer_now(req)
        assert fast is not None, req.body
        assert (fast.status, fast.body) == (slow.status, slow.body)
    head = rpc_request("eth_blockNumber", [])
    await full(node, head)  # makes the head fresh
    answer = node.dispatcher.answer_now(head)
    assert answer is not None and orjson.loads(answer.body)["result"] == hex(node.chain.best_head)
    accounts = node.dispatcher.answer_now(rpc_request("eth_accounts", []))
    assert accounts is not None and orjson.loads(accounts.body)["result"] == []
    for method, value in (("eth_chainId", "0x7a69"), ("net_version", "31337")):
        own = node.dispatcher.answer_now(rpc_request(method, []))  # the configured network
        assert own is not None and orjson.loads(own.body)["result"] == value
        slow = await full(node, rpc_request(method, []))
        assert (own.status, own.body) == (slow.status, slow.body)


@pytest.mark.parametrize("req", [
    rpc_request("eth_chainId", [], True),  # an invalid id: the full path says so
    rpc_request("eth_chainId", [], {"a": 1}),
    request("POST", "/rpc", {"jsonrpc": "2.0", "method": "eth_chainId"}),  # a notification
    rpc_request("eth_chainId", [], jsonrpc="1.0"),
    rpc_request("eth_gasPrice", []),  # never cached
    rpc_request("eth_getBalance", ["0x" + "11" * 20, "pending"]),
    request("POST", "/rpc", [{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}]),  # a batch
    request("POST", "/rpc", b"{nope"),
])
async def test_rpc_declines_what_only_the_full_path_may_answer(node_client: NodeClient,
                                                               req: Request) -> None:
    node, _ = node_client
    await full(node, rpc_request("eth_getBlockByNumber", ["0x1", False]))  # cached now
    assert node.dispatcher.answer_now(req) is None


async def test_a_latest_rpc_hit_stops_when_the_head_moves(fresh_devnet: Devnet) -> None:
    async with running_node(make_settings(fresh_devnet.url, head_follow_ws="off",
                                          head_follow_interval=60)) as (node, _):
        req = rpc_request("eth_getBalance", [fresh_devnet.manifest.accounts[0], "latest"])
        await full(node, req)
        assert node.dispatcher.answer_now(req) is not None
        node.chain.observe_block(node.chain.best_head + 1)  # e.g. a receipt in a newer block
        assert node.dispatcher.answer_now(req) is None
