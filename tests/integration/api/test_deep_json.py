"""A body nested deeper than MAX_JSON_DEPTH is refused before anything decodes it:
-32600 on /rpc (HTTP and WebSocket), a 400 VALIDATION_ERROR (reason too_deep) on REST;
never a 500, never a silent socket. py_ecc is imported first: it raises the
interpreter's recursion limit to 100 000, so a decoder's RecursionError can no longer
be counted on (msgspec then overflows the C stack: the worker dies)."""

from __future__ import annotations

import sys

import py_ecc.bls  # noqa: F401  (raises the recursion limit, as in production)
import pytest

from bizra_node.api import ASGIApp
from bizra_node.api.depth import MAX_JSON_DEPTH
from tests.conftest import Devnet, make_settings, running_node
from tests.support.asgi_ws import asgi_websocket

DEEP = 100_000


def nested(levels: int, inner: str = "") -> str:
    return "[" * levels + inner + "]" * levels


def call_with(params: str, req_id: int = 1) -> bytes:
    return (f'{{"jsonrpc":"2.0","id":{req_id},"method":"eth_call","params":{params}}}').encode()


def test_py_ecc_raised_the_recursion_limit() -> None:
    assert sys.getrecursionlimit() > 10_000


@pytest.mark.parametrize("body", [
    call_with(nested(DEEP)),
    call_with("[" + "{\"a\":" * DEEP + "1" + "}" * DEEP + "]"),
    b"[" + call_with(nested(DEEP)) + b"]",  # inside a batch
    call_with(nested(MAX_JSON_DEPTH)),  # 64 levels of params + the call object: 65
])
async def test_rpc_answers_too_deep_with_32600(devnet: Devnet, body: bytes) -> None:
    async with running_node(make_settings(devnet.url)) as (_, client):
        resp = await client.post("/rpc", content=body,
                                 headers={"content-type": "application/json"})
        assert resp.status_code == 200, resp.text[:200]
        error = resp.json()["error"]
        assert error["code"] == -32600
        assert error["data"] == {"limit": MAX_JSON_DEPTH}
        # the node still answers
        ok = await client.post("/rpc", json={"jsonrpc": "2.0", "id": 2,
                                             "method": "eth_chainId", "params": []})
        assert ok.json()["result"] == "0x7a69"


async def test_rpc_at_the_limit_and_brackets_in_strings_are_not_too_deep(devnet: Devnet) -> None:
    async with running_node(make_settings(devnet.url)) as (_, client):
        for body in (call_with(nested(MAX_JSON_DEPTH - 1)),
                     call_with('["' + "[" * DEEP + '"]')):
            resp = await client.post("/rpc", content=body,
                                     headers={"content-type": "application/json"})
            assert resp.status_code == 200
            error = resp.json().get("error")
            assert error is None or "nested" not in error["message"], error


async def test_websocket_answers_too_deep_and_stays_open(devnet: Devnet) -> None:
    async with running_node(make_settings(devnet.url)) as (node, _), \
            asgi_websocket(ASGIApp(node)) as ws:
        await ws.send_text(call_with(nested(DEEP), req_id=5).decode())
        answer = await ws.recv()
        assert answer["error"]["code"] == -32600
        assert answer["error"]["data"] == {"limit": MAX_JSON_DEPTH}
        assert (await ws.call("eth_chainId", req_id=6))["result"] == "0x7a69"


REST_DEEP = 20_000  # 40 KB: under the REST body limit (64 KiB)


@pytest.mark.parametrize("body", [
    '{"txHash":"0x' + "ab" * 32 + '","extra":' + nested(REST_DEEP) + "}",
    '{"txHash":' + nested(REST_DEEP) + "}",
    '{"txHash":' + nested(MAX_JSON_DEPTH) + "}",
])
async def test_rest_answers_too_deep_with_a_400(devnet: Devnet, body: str) -> None:
    async with running_node(make_settings(devnet.url)) as (_, client):
        resp = await client.post("/api/v1/validate/transaction", content=body,
                                 headers={"content-type": "application/json"})
        assert resp.status_code == 400, resp.text[:200]
        error = resp.json()["error"]
        assert error["code"] == "VALIDATION_ERROR"
        assert error["details"] == {"reason": "too_deep", "limit": MAX_JSON_DEPTH}
