"""A caller's failing call is the caller's: out of gas, an invalid opcode, a revert
come back as the upstream gave them, are not retried, and do not open the breaker for
everyone else (real anvil, real web3.py)."""

from __future__ import annotations

import httpx
import pytest

from bizra_node.app import Node
from bizra_node.devnet import rpc as anvil
from bizra_node.devnet import wait_receipt
from bizra_node.resilience import State
from tests.conftest import Devnet, make_settings, running_node
from tests.support.contracts import deploy_logger
from tests.support.lying_proxy import lying_proxy
from tests.support.servers import http_to_asgi

# init code whose runtime is the one byte 0xfe (INVALID): PUSH1 fe PUSH1 0 MSTORE8 PUSH1 1
# PUSH1 0 RETURN
_INVALID_INIT = "0x60fe60005360016000f3"
# a runtime that reverts with Error("nope"): CODECOPY its 100 bytes of data, REVERT them
_REASON = ("08c379a0" + f"{32:064x}" + f"{4:064x}" + b"nope".hex().ljust(64, "0"))
_REVERT_RUNTIME = "6064600c60003960646000fd" + _REASON
_REVERT_INIT = "0x60" + f"{len(_REVERT_RUNTIME) // 2:02x}" + "80600b6000396000f3" + _REVERT_RUNTIME


def deploy(url: str, init: str) -> str:
    sender = anvil(url, "eth_accounts")[0]
    tx = anvil(url, "eth_sendTransaction", [{"from": sender, "data": init, "gas": hex(300_000)}])
    return str(wait_receipt(url, tx)["contractAddress"])


async def call(client: httpx.AsyncClient, method: str, *params: object,
               caller: str = "1.1.1.1") -> dict:
    resp = await client.post("/rpc", json={"jsonrpc": "2.0", "id": 7, "method": method,
                                           "params": list(params)},
                             headers={"x-forwarded-for": caller})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def breakers(node: Node) -> list[State]:
    return [h.breaker.state for h in node.upstreams.health]


async def test_out_of_gas_and_invalid_opcode_do_not_open_the_breaker(fresh_devnet: Devnet) -> None:
    logger = deploy_logger(fresh_devnet.url)
    invalid = deploy(fresh_devnet.url, _INVALID_INIT)
    # What anvil itself says (the node must pass on exactly this).
    oog_call = {"to": logger, "gas": hex(21_300)}  # LOG1 needs more than is left
    direct_oog = anvil_error(fresh_devnet.url, "eth_call", [oog_call, "latest"])
    direct_fe = anvil_error(fresh_devnet.url, "eth_call", [{"to": invalid}, "latest"])
    direct_est = anvil_error(fresh_devnet.url, "eth_estimateGas", [{"to": invalid}])
    assert direct_oog == {"code": -32603, "message": "EVM error OutOfGas"}
    assert direct_fe == {"code": -32603, "message": "EVM error InvalidFEOpcode"}
    async with running_node(make_settings(fresh_devnet.url)) as (node, client):
        for _ in range(12):
            assert (await call(client, "eth_call", oog_call, "latest"))["error"] == direct_oog
            assert (await call(client, "eth_call", {"to": invalid}, "latest"))["error"] \
                == direct_fe
            assert (await call(client, "eth_estimateGas", {"to": invalid}))["error"] \
                == direct_est
        assert breakers(node) == [State.CLOSED]
        assert sum(v for _, v in node.metrics.upstream_retries.items()) == 0
        # Another caller is answered, from the upstream.
        other = await call(client, "eth_blockNumber", caller="2.2.2.2")
        assert int(other["result"], 16) >= 1
        balance = await call(client, "eth_getBalance", logger, "latest", caller="2.2.2.2")
        assert balance["result"] == "0x0"
        health = node.upstreams.health[0].breaker
        assert health.state is State.CLOSED


def anvil_error(url: str, method: str, params: list[object]) -> dict:
    body = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                 "params": params}).json()
    return dict(body["error"])


async def test_web3_still_decodes_a_reverts_data(fresh_devnet: Devnet) -> None:
    from web3 import AsyncHTTPProvider, AsyncWeb3
    from web3.exceptions import ContractLogicError

    reverter = deploy(fresh_devnet.url, _REVERT_INIT)
    async with running_node(make_settings(fresh_devnet.url)) as (node, client), \
            http_to_asgi(client) as url:
        w3 = AsyncWeb3(AsyncHTTPProvider(url))
        for _ in range(8):
            with pytest.raises(ContractLogicError) as err:
                await w3.eth.call({"to": AsyncWeb3.to_checksum_address(reverter)})
            assert err.value.message == "execution reverted: nope"
            assert err.value.data == "0x" + _REASON
        assert breakers(node) == [State.CLOSED]


async def test_a_rest_route_answers_a_callers_error_with_a_400(fresh_devnet: Devnet) -> None:
    """An upstream that refuses the call itself (invalid params): the REST route passes
    it on as a 400 CALL_REJECTED with the upstream's code and message, never a 5xx, and
    the breaker stays closed."""
    message = "invalid argument 1: hex string has length 3, want 64 for common.Hash"
    async with lying_proxy(fresh_devnet.url) as proxy, \
            running_node(make_settings(proxy.url)) as (node, client):
        proxy.refuse("eth_getCode", -32602, message)
        for _ in range(6):
            resp = await client.get("/api/v1/addresses/0x" + "11" * 20)
            assert resp.status_code == 400, resp.text
            error = resp.json()["error"]
            assert error["code"] == "CALL_REJECTED"
            assert error["details"]["rpcCode"] == -32602
            assert error["details"]["rpcMessage"] == message
        assert breakers(node) == [State.CLOSED]
        assert proxy.calls["eth_getCode"] == 6  # never asked again
