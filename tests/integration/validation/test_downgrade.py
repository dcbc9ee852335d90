"""Prove or ask another: a lying upstream (a real proxy in front of anvil) that refuses
``eth_getProof`` and inflates the answers it would prove must not get its lies served
as proven, nor be asked first again for provable calls.

* beside an honest upstream, REST and /rpc (single and batch) get the honest, proven
  answer; the liar is counted under check=proof_unavailable and asked once;
* alone, its answers are served labelled: REST ``valid: null`` with
  ``verification.level: unverified``, /rpc ``X-Verification: unverified`` (a batch too),
  and never cached;
* with TRUST_REQUIRE=proven, alone, it is refused: /rpc -32099 (data.reason
  proof_unavailable), REST 503 UNPROVEN.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from bizra_bench.trust_seed import TrustDevnet
from bizra_node.app import Node
from bizra_node.chain import redact_url
from bizra_node.jsonrpc import INTEGRITY_FAILED
from tests.integration.validation.conftest import node_behind
from tests.support.lying_proxy import LyingProxy, lying_proxy
from tests.support.servers import http_to_asgi

SLOT0 = "0x" + "00" * 32
FAT = 10**21


def downgrade(liar: LyingProxy, code: int = -32601) -> None:
    """Refuse eth_getProof (with ``code``) and inflate every answer it would prove."""
    liar.refuse("eth_getProof", code, "the method eth_getProof does not exist/is not "
                "available" if code == -32601 else "missing trie node")
    liar.lie("eth_getBalance", lambda p, b: hex(int(b, 16) + FAT))
    liar.lie("eth_getTransactionCount", lambda p, n: hex(int(n, 16) + 5))
    liar.lie("eth_getCode", lambda p, c: "0x6000")
    liar.lie("eth_getStorageAt", lambda p, v: "0x" + "00" * 31 + "07")


@asynccontextmanager
async def liar_and_honest(devnet: TrustDevnet, liar: LyingProxy, **overrides: Any
                          ) -> AsyncIterator[tuple[Node, httpx.AsyncClient, LyingProxy]]:
    """The liar first (the honest upstream is slower), then an honest one."""
    async with lying_proxy(devnet.url) as honest:
        honest.delay = 0.05
        async with node_behind(liar.url, honest.url, head_poll_interval=0,
                               **overrides) as (node, client):
            yield node, client, honest


async def rpc(client: httpx.AsyncClient, method: str, *params: Any) -> httpx.Response:
    resp = await client.post("/rpc", json={"jsonrpc": "2.0", "id": 1, "method": method,
                                           "params": list(params)})
    assert resp.status_code == 200, resp.text
    return resp


async def batch(client: httpx.AsyncClient, *calls: tuple[str, tuple[Any, ...]]
                ) -> tuple[list[dict[str, Any]], httpx.Response]:
    resp = await client.post("/rpc", json=[
        {"jsonrpc": "2.0", "id": i, "method": m, "params": list(p)}
        for i, (m, p) in enumerate(calls)])
    assert resp.status_code == 200, resp.text
    return sorted(resp.json(), key=lambda a: a["id"]), resp


async def address(client: httpx.AsyncClient, value: str) -> httpx.Response:
    return await client.post("/api/v1/validate/address", json={"address": value})


def refusals(node: Node, upstream: str) -> float:
    return node.metrics.upstream_integrity_failures.get((upstream, "proof_unavailable"))


def honest_state(devnet: TrustDevnet, at: str) -> dict[str, Any]:
    m = devnet.manifest
    return {"balance": devnet.call("eth_getBalance", m.delegated, at),
            "nonce": devnet.call("eth_getTransactionCount", m.delegated, at),
            "code": devnet.call("eth_getCode", m.log_contract, at),
            "slot0": devnet.call("eth_getStorageAt", m.log_contract, SLOT0, at)}


@pytest.mark.parametrize("code", [-32601, -32000], ids=["method_not_found", "failing"])
async def test_beside_an_honest_upstream_the_honest_answer_is_proven_and_the_liar_counted(
        trust_devnet: TrustDevnet, liar: LyingProxy, code: int) -> None:
    m = trust_devnet.manifest
    at = hex(m.head)
    want = honest_state(trust_devnet, at)
    downgrade(liar, code)
    async with liar_and_honest(trust_devnet, liar) as (node, client, honest):
        name = redact_url(liar.url)
        assert node.upstreams.health[0].name == name
        # REST: the first provable call asks the liar, which refuses; the honest proves
        resp = await address(client, m.delegated)
        assert resp.status_code == 200, resp.text
        account = resp.json()["data"]
        assert account["valid"] is True, account
        assert account["verification"]["level"] == "anchored"
        assert int(account["data"]["balance"]) == int(want["balance"], 16)
        assert refusals(node, name) == 1
        # /rpc single calls: proven, the honest values
        for method, params, key in [("eth_getBalance", (m.delegated, at), "balance"),
                                    ("eth_getTransactionCount", (m.delegated, "latest"), "nonce"),
                                    ("eth_getCode", (m.log_contract, at), "code"),
                                    ("eth_getStorageAt", (m.log_contract, SLOT0, at), "slot0")]:
            resp = await rpc(client, method, *params)
            assert resp.json()["result"] == want[key], method
            assert resp.headers["x-verification"].startswith("anchored;"), method
        # /rpc batch: proven, labelled with its weakest level (anchored here)
        answers, resp = await batch(client, ("eth_getBalance", (m.delegated, "latest")),
                                    ("eth_getTransactionCount", (m.delegated, at)))
        assert [a["result"] for a in answers] == [want["balance"], want["nonce"]]
        assert resp.headers["x-verification"] == "anchored"
        # the liar was asked for a proof once: it ranks last for provable calls since
        assert liar.calls["eth_getProof"] == 1
        assert refusals(node, name) == 1
        assert refusals(node, redact_url(honest.url)) == 0
        status = node.upstreams.status()["upstreams"]
        assert status[name]["proofsWithheld"] == 1
        assert status[redact_url(honest.url)]["proofsWithheld"] == 0
        # not a lie: it is still asked first for what is never proven
        before = liar.calls["eth_gasPrice"]
        await rpc(client, "eth_gasPrice")
        assert liar.calls["eth_gasPrice"] == before + 1


async def test_web3_gets_the_honest_balance_beside_a_liar_without_eth_get_proof(
        trust_devnet: TrustDevnet, liar: LyingProxy) -> None:
    from web3 import AsyncHTTPProvider, AsyncWeb3, Web3

    m = trust_devnet.manifest
    downgrade(liar)
    async with liar_and_honest(trust_devnet, liar) as (node, client, _), \
            http_to_asgi(client) as url:
        w3 = AsyncWeb3(AsyncHTTPProvider(url))
        who = Web3.to_checksum_address(m.delegated)
        head = await w3.eth.block_number
        honest = int(trust_devnet.call("eth_getBalance", m.delegated, hex(head)), 16)
        assert await w3.eth.get_balance(who) == honest
        assert await w3.eth.get_balance(who, head) == honest
        assert await w3.eth.get_transaction_count(who) == \
            int(trust_devnet.call("eth_getTransactionCount", m.delegated, hex(head)), 16)
        assert liar.rules[1].applied >= 1  # the liar did inflate the balance it was asked
        assert refusals(node, redact_url(liar.url)) == 1


async def test_alone_the_liar_is_served_labelled_unverified_and_never_cached(
        trust_devnet: TrustDevnet, liar: LyingProxy) -> None:
    m = trust_devnet.manifest
    at = hex(m.head)
    want = honest_state(trust_devnet, at)
    downgrade(liar)
    async with node_behind(liar.url) as (node, client):
        name = redact_url(liar.url)
        resp = await address(client, m.delegated)
        assert resp.status_code == 200, resp.text
        account = resp.json()["data"]
        assert account["valid"] is None, account  # never true
        assert account["verification"] == {"level": "unverified"}
        assert int(account["data"]["balance"]) == int(want["balance"], 16) + FAT
        assert refusals(node, name) == 1
        again = (await address(client, m.delegated)).json()["data"]  # not cached: asked again
        assert again["valid"] is None and refusals(node, name) == 2
        # /rpc single: the lie, labelled; asked again next time (not cached)
        for n in (1, 2):
            resp = await rpc(client, "eth_getBalance", m.delegated, at)
            assert int(resp.json()["result"], 16) == int(want["balance"], 16) + FAT
            assert resp.headers["x-verification"] == "unverified"
            assert liar.calls["eth_getProof"] == 2 + n
        # /rpc batch: labelled with its weakest level; a proven block does not lift it
        answers, resp = await batch(
            client, ("eth_getTransactionCount", (m.delegated, at)),
            ("eth_getBlockByNumber", (hex(m.mixed_block), False)))
        assert int(answers[0]["result"], 16) == int(want["nonce"], 16) + 5
        assert answers[1]["result"]["number"] == hex(m.mixed_block)
        assert resp.headers["x-verification"] == "unverified"
        # a batch of proven calls only is labelled with their level
        answers, resp = await batch(client, ("eth_getBlockByNumber", (hex(m.mixed_block), True)),
                                    ("eth_getBlockByNumber", (at, False)))
        # proven, and consistent: one upstream alone cannot vouch for a head (the head rule)
        assert resp.headers["x-verification"] == "consistent"
        assert refusals(node, name) == 5


async def test_a_refused_header_is_a_refused_proof(trust_devnet: TrustDevnet,
                                                   liar: LyingProxy) -> None:
    """The header that goes with eth_getProof, refused: the same downgrade."""
    m = trust_devnet.manifest
    at = hex(m.head)
    rule = liar.refuse("eth_getBlockByNumber", -32603, "internal error")
    rule.when = lambda params: params == [at, False]
    liar.lie("eth_getBalance", lambda p, b: hex(int(b, 16) + FAT))
    async with liar_and_honest(trust_devnet, liar, trust_require="proven") as (node, client, _):
        resp = await rpc(client, "eth_getBalance", m.delegated, at)
        assert resp.json()["result"] == trust_devnet.call("eth_getBalance", m.delegated, at)
        # proven; consistent, since only the honest upstream served that head's header
        assert resp.headers["x-verification"].startswith("consistent;")
        assert refusals(node, redact_url(liar.url)) == 1


async def test_trust_require_proven_refuses_what_no_upstream_proves(
        trust_devnet: TrustDevnet, liar: LyingProxy) -> None:
    m = trust_devnet.manifest
    at = hex(m.head)
    downgrade(liar)
    async with node_behind(liar.url, trust_require="proven") as (node, client):
        name = redact_url(liar.url)
        resp = await address(client, m.delegated)
        assert resp.status_code == 503, resp.text
        error = resp.json()["error"]
        assert error["code"] == "UNPROVEN"
        assert error["details"]["reason"] == "proof_unavailable"
        assert error["details"]["upstream"] == name
        for method, params in [("eth_getBalance", (m.delegated, at)),
                               ("eth_getStorageAt", (m.log_contract, SLOT0, "latest"))]:
            resp = await rpc(client, method, *params)
            body = resp.json()
            assert "result" not in body, body
            assert body["error"]["code"] == INTEGRITY_FAILED
            assert "TRUST_REQUIRE=proven" in body["error"]["message"]
            assert body["error"]["data"]["reason"] == "proof_unavailable"
            assert body["error"]["data"]["upstream"] == name
            assert "x-verification" not in resp.headers
        # in a batch only the refused call is refused; what is never proven is served
        answers, resp = await batch(client, ("eth_getBalance", (m.delegated, at)),
                                    ("eth_chainId", ()))
        assert answers[0]["error"]["code"] == INTEGRITY_FAILED
        assert answers[1]["result"] == "0x7a69"
        assert resp.headers["x-verification"] == "unverified"
        assert refusals(node, name) == 4
        # an honest upstream is still proven and served
        liar.tell_the_truth()
        resp = await rpc(client, "eth_getBalance", m.delegated, at)
        assert resp.json()["result"] == trust_devnet.call("eth_getBalance", m.delegated, at)
        assert resp.headers["x-verification"].startswith("consistent;")  # one upstream


async def test_a_refused_receipt_is_asked_of_another_upstream(trust_devnet: TrustDevnet,
                                                              liar: LyingProxy) -> None:
    """REST and /rpc transactions: the receipt that proves a mined transaction, refused."""
    m = trust_devnet.manifest
    tx_hash = m.txs["dynamic_fee"]
    liar.refuse("eth_getTransactionReceipt", -32603, "internal error")
    async with liar_and_honest(trust_devnet, liar) as (node, client, _):
        resp = await client.post("/api/v1/validate/transaction", json={"txHash": tx_hash})
        assert resp.status_code == 200, resp.text
        result = resp.json()["data"]
        assert result["valid"] is True and result["verification"]["level"] == "anchored"
        resp = await rpc(client, "eth_getTransactionByHash", m.txs["logs"])
        assert resp.json()["result"]["hash"] == m.txs["logs"]
        assert resp.headers["x-verification"].startswith("anchored;")
        assert refusals(node, redact_url(liar.url)) == 1
    async with node_behind(liar.url, trust_require="proven") as (node, client):
        resp = await client.post("/api/v1/validate/transaction", json={"txHash": tx_hash})
        assert resp.status_code == 503 and resp.json()["error"]["code"] == "UNPROVEN"
