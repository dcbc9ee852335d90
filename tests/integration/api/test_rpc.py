"""POST /rpc: a JSON-RPC endpoint any web3 client can use -- the JSON-RPC 2.0 spec
cases, the limits and their errors, CORS, and errors answered without retries."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from bizra_node.app import Node
from bizra_node.devnet import free_port, rpc
from tests.conftest import Devnet, make_settings, running_node
from tests.support.proxy import counting_proxy

NodeClient = tuple[Node, httpx.AsyncClient]


async def post(client: httpx.AsyncClient, doc: Any, **headers: str) -> httpx.Response:
    return await client.post("/rpc", json=doc, headers=headers)


def call(method: str, params: list[Any] | None = None, req_id: Any = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": req_id, "method": method, "params": params or []}


async def test_single_call(node_client: NodeClient) -> None:
    resp = await post(node_client[1], call("eth_chainId", req_id="a"))
    assert resp.json() == {"jsonrpc": "2.0", "id": "a", "result": "0x7a69"}


async def test_batch_keeps_client_ids_and_order(devnet: Devnet, node_client: NodeClient) -> None:
    batch = [
        call("eth_getTransactionByHash", [devnet.manifest.legacy_tx], 7),
        call("eth_blockNumber", req_id="x"),
        {"jsonrpc": "2.0", "method": "eth_chainId"},  # notification: no answer
        call("anvil_mine", req_id=9),
        call("eth_getBalance", ["0xzz", "latest"], 10),
    ]
    answers = (await post(node_client[1], batch)).json()
    assert [a["id"] for a in answers] == [7, "x", 9, 10]
    assert answers[0]["result"]["hash"] == devnet.manifest.legacy_tx
    assert int(answers[1]["result"], 16) >= devnet.manifest.head
    assert answers[2]["error"]["code"] == -32601
    assert "error" in answers[3]  # the upstream's own error for bad params, passed through


@pytest.mark.parametrize(("body", "code"), [
    (b"{oops", -32700),
    (b"[]", -32600),
    (b"5", -32600),
    (b'{"jsonrpc": "1.0", "id": 1, "method": "eth_chainId"}', -32600),
    (b'{"jsonrpc": "2.0", "id": 1, "method": 5}', -32600),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": {}}', -32602),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "eth_sendTransaction", "params": []}', -32601),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "debug_traceTransaction", "params": []}', -32601),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "eth_newPendingTransactionFilter"}', -32601),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": [18446744073709551616]}',
     -32602),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": [[[' + b"1" * 5000 + b']]]}',
     -32700),  # a number no decoder holds
])
async def test_bad_requests(node_client: NodeClient, body: bytes, code: int) -> None:
    resp = await node_client[1].post("/rpc", content=body,
                                     headers={"content-type": "application/json"})
    assert resp.status_code == 200
    assert resp.json()["error"]["code"] == code


@pytest.mark.parametrize("bad_id", [b"true", b"{}", b"[1]", b"1.5", b"18446744073709551617"])
async def test_an_invalid_id_is_answered_with_null(node_client: NodeClient, bad_id: bytes) -> None:
    body = b'{"jsonrpc": "2.0", "id": ' + bad_id + b', "method": "eth_chainId"}'
    resp = await node_client[1].post("/rpc", content=body)
    assert resp.json()["id"] is None
    assert resp.json()["error"]["code"] == -32600


@pytest.mark.parametrize("good_id", ["abc", 0, -5, 2**64 - 1, None])
async def test_valid_ids_are_echoed(node_client: NodeClient, good_id: Any) -> None:
    resp = await post(node_client[1], call("eth_chainId", req_id=good_id))
    assert resp.json() == {"jsonrpc": "2.0", "id": good_id, "result": "0x7a69"}


async def test_a_refused_notification_gets_no_answer(node_client: NodeClient) -> None:
    """The spec: a server must not reply to a notification, not even with an error."""
    client = node_client[1]
    for doc in ({"jsonrpc": "2.0", "method": "eth_sendTransaction", "params": []},
                {"jsonrpc": "2.0", "method": "eth_chainId", "params": {}},
                {"jsonrpc": "2.0", "method": "eth_chainId"}):
        resp = await post(client, doc)
        assert resp.status_code == 204 and resp.content == b""
    batch = [call("eth_chainId", req_id=1), {"jsonrpc": "2.0", "method": "admin_peers"},
             {"jsonrpc": "2.0", "method": "eth_getBalance", "params": ["0xzz", "latest"]}]
    answers = (await post(client, batch)).json()
    assert answers == [{"jsonrpc": "2.0", "id": 1, "result": "0x7a69"}]  # no extra element
    assert (await post(client, [{"jsonrpc": "2.0", "method": "x_y"}])).status_code == 204


async def test_invalid_items_in_a_batch_are_answered_with_null(node_client: NodeClient) -> None:
    answers = (await post(node_client[1], [1, {"foo": "bar"}, call("eth_chainId", req_id=3)])).json()
    assert [(a["id"], a.get("error", {}).get("code")) for a in answers] == [
        (None, -32600), (None, -32600), (3, None)]


async def test_batches_up_to_the_limit_pass_and_larger_ones_get_one_error() -> None:
    from bizra_node.devnet import Anvil

    with Anvil() as anvil:
        async with running_node(make_settings(anvil.url)) as (_, client):
            answers = (await post(client, [call("eth_chainId", req_id=i)
                                           for i in range(1000)])).json()
            assert [a["id"] for a in answers] == list(range(1000))
            too_many = [{"jsonrpc": "2.0", "method": "eth_chainId"}] + [
                call("eth_chainId", req_id=i + 7) for i in range(1000)]
            answer = (await post(client, too_many)).json()
    assert len(answer) == 1  # as geth: one error, with the batch's first id
    assert answer[0]["id"] == 7 and answer[0]["error"]["code"] == -32600
    assert answer[0]["error"]["data"] == {"limit": 1000}


async def test_a_40_kb_contract_deploy_goes_through(fresh_devnet: Devnet) -> None:
    """An 80 KB body (40 KB of init code, hex) is far below RPC_MAX_BODY_BYTES (5 MiB),
    whatever the REST API's body limit."""
    from eth_account import Account

    init = "600160" + "0c" + "60003960016000f300" + "00" * 40_000  # returns 1 byte, then padding
    key = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
    sender = Account.from_key(key)
    nonce = int(rpc(fresh_devnet.url, "eth_getTransactionCount", [sender.address, "latest"]), 16)
    raw = Account.sign_transaction({"data": "0x" + init, "gas": 3_000_000, "nonce": nonce,
                                    "chainId": 31337, "maxFeePerGas": 10**10,
                                    "maxPriorityFeePerGas": 10**9}, key)
    async with running_node(make_settings(fresh_devnet.url)) as (_, client):
        body = call("eth_sendRawTransaction", ["0x" + bytes(raw.raw_transaction).hex()])
        resp = await post(client, body)
        assert len(resp.request.content) > 80_000
        tx_hash = resp.json()["result"]
        for _ in range(200):  # a null receipt is never cached: the mined one shows at once
            receipt = (await post(client, call("eth_getTransactionReceipt", [tx_hash]))).json()
            if receipt["result"] is not None:
                break
            await asyncio.sleep(0.01)
    assert receipt["result"]["status"] == "0x1"


async def test_bodies_over_the_limit_get_a_json_rpc_error(devnet: Devnet) -> None:
    async with running_node(make_settings(devnet.url, rpc_max_body_bytes=2048)) as (_, client):
        resp = await post(client, call("eth_call", [{"data": "0x" + "00" * 2000}, "latest"]))
    assert resp.status_code == 200
    assert resp.json() == {"jsonrpc": "2.0", "id": None, "error": {
        "code": -32600, "message": "request body too large: at most 2048 bytes",
        "data": {"limit": 2048}}}


async def test_answers_over_the_response_limit_become_errors(devnet: Devnet) -> None:
    async with running_node(make_settings(devnet.url, rpc_max_response_bytes=1024)) as (_, c):
        block = (await post(c, call("eth_getBlockByNumber", ["0x1", True]))).json()
        answers = (await post(c, [call("eth_chainId", req_id=i) for i in range(40)])).json()
    assert block["error"]["code"] == -32003  # a block with its transactions is > 1 KiB
    codes = [a.get("error", {}).get("code") for a in answers]
    assert codes[0] is None and codes[-1] == -32003  # the first fit, the rest do not
    assert [a["id"] for a in answers] == list(range(40))


async def test_get_logs_over_the_block_range_limit(devnet: Devnet) -> None:
    async with running_node(make_settings(devnet.url, rpc_max_logs_range=5)) as (_, client):
        ok = (await post(client, call("eth_getLogs", [{"fromBlock": "0x1", "toBlock": "0x5"}])))
        wide = (await post(client, call("eth_getLogs", [{"fromBlock": "0x1", "toBlock": "0x6"}])))
        latest = (await post(client, call("eth_getLogs", [{"fromBlock": "earliest"}])))
    assert ok.json()["result"] == []
    assert wide.json()["error"]["code"] == -32005
    assert wide.json()["error"]["data"] == {"limit": 5, "from": 1, "to": 6}
    assert latest.json()["error"]["code"] == -32005


async def test_the_node_holds_no_keys(node_client: NodeClient) -> None:
    assert (await post(node_client[1], call("eth_accounts"))).json()["result"] == []


async def test_subscriptions_need_a_websocket(node_client: NodeClient) -> None:
    answer = (await post(node_client[1], call("eth_subscribe", ["newHeads"]))).json()
    assert answer["error"]["code"] == -32001


async def test_cors_preflight_and_answers(devnet: Devnet) -> None:
    settings = make_settings(devnet.url, rpc_cors_origins="https://dapp.example, https://b.example")
    async with running_node(settings) as (_, client):
        pre = await client.options("/rpc", headers={
            "origin": "https://dapp.example", "access-control-request-method": "POST",
            "access-control-request-headers": "content-type"})
        other = await client.options("/rpc", headers={"origin": "https://evil.example"})
        answer = await post(client, call("eth_chainId"), origin="https://b.example")
        hit = await post(client, call("eth_chainId"), origin="https://b.example")  # fast lane
        plain = await post(client, call("eth_chainId"))
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == "https://dapp.example"
    assert "POST" in pre.headers["access-control-allow-methods"]
    assert pre.headers["access-control-allow-headers"] == "content-type"
    assert pre.headers["vary"] == "Origin"
    assert other.status_code == 204 and "access-control-allow-origin" not in other.headers
    for resp in (answer, hit):
        assert resp.headers["access-control-allow-origin"] == "https://b.example"
    assert "access-control-allow-origin" not in plain.headers


async def test_cors_any_origin(devnet: Devnet) -> None:
    async with running_node(make_settings(devnet.url, rpc_cors_origins="*")) as (_, client):
        pre = await client.options("/rpc", headers={"origin": "http://localhost:3000"})
    assert pre.status_code == 204 and pre.headers["access-control-allow-origin"] == "*"


async def test_upstream_down_is_an_error_object() -> None:
    async with running_node(make_settings(f"http://127.0.0.1:{free_port()}")) as (_, client):
        resp = await post(client, call("eth_gasPrice"))
        assert resp.status_code == 200
        assert resp.json()["error"]["code"] == -32603
        assert resp.json()["id"] == 1


async def test_the_callers_errors_are_answered_without_retries(devnet: Devnet) -> None:
    """"filter not found", a block above the head, bad params, a revert: one answer,
    no second upstream asked (two upstreams here), no backoff."""
    async with counting_proxy(devnet.url) as a, counting_proxy(devnet.url) as b, \
            running_node(make_settings(f"{a.url},{b.url}", head_follow_ws="off",
                                       head_poll_interval=0)) as (_, client):
        await post(client, call("eth_blockNumber"))
        a.reset()
        b.reset()
        unknown = (await post(client, call("eth_getFilterChanges", ["0x1234"]))).json()
        future = (await post(client, call("eth_getBalance",
                                          [devnet.manifest.accounts[0], "0xffffff"]))).json()
        reverted = (await post(client, call("eth_call", [
            {"to": devnet.manifest.contract, "data": "0x01"}, "latest"]))).json()
    assert unknown["error"] == {"code": -32000, "message": "filter not found"}
    assert "error" in future and "error" in reverted
    assert a.methods["eth_getFilterChanges"] + b.methods["eth_getFilterChanges"] == 0
    assert a.methods["eth_getBalance"] + b.methods["eth_getBalance"] == 1
    assert a.methods["eth_call"] + b.methods["eth_call"] == 1


async def test_final_answers_are_cached_and_latest_is_not_stale(fresh_devnet: Devnet) -> None:
    tx = fresh_devnet.manifest.legacy_tx
    async with counting_proxy(fresh_devnet.url) as proxy, \
            running_node(make_settings(proxy.url, head_follow_interval=0.25)) as (node, client):
        first = (await post(client, call("eth_getTransactionByHash", [tx], 1))).json()
        second = (await post(client, call("eth_getTransactionByHash", [tx], 2))).json()
        assert first["result"] == second["result"] and second["id"] == 2
        assert proxy.methods["eth_getTransactionByHash"] == 1  # final: cached

        batch = [call("eth_getTransactionByHash", [tx], i) for i in range(3)]
        answers = (await post(client, batch)).json()
        assert [a["id"] for a in answers] == [0, 1, 2]
        assert proxy.methods["eth_getTransactionByHash"] == 1

        latest = call("eth_getBlockByNumber", ["latest", False])
        before = int((await post(client, latest)).json()["result"]["number"], 16)
        rpc(fresh_devnet.url, "anvil_mine", ["0x1"])
        for _ in range(100):  # the head follower polls every HEAD_FOLLOW_INTERVAL (0.25 s)
            if node.follower.last_number > before:
                break
            await asyncio.sleep(0.02)
        after = int((await post(client, latest)).json()["result"]["number"], 16)
        assert after == before + 1  # 'latest' follows the head, never served stale
