"""Anchor capture (real anvil chains behind lying proxies): two of three upstreams

* name a fabricated finalized block (hash-correct, another state root on the real
  parent): the node keeps its anchor and keeps serving, says it at CRITICAL, counts the
  incident (``anchor_incidents_total{reason="unlinked"}``, ``anchor_incident`` 1),
  /ready says the anchor is ``degraded``, and only the two liars are blamed;
* serve another chain (a second anvil) while ANCHOR_CHECKPOINT pins a block of the
  honest one: nothing of the other chain is served at any level (its blocks, its
  balances), the honest chain's transaction is found, and only the two are blamed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from bizra_node.app import Node
from bizra_node.devnet import Anvil, seed
from bizra_node.devnet.seed import rpc as anvil_rpc
from bizra_node.resilience import State
from bizra_node.validation.trust import Check, header_hash
from tests.conftest import Devnet
from tests.integration.validation.conftest import node_behind
from tests.support.lying_proxy import LyingProxy, lying_proxy

FAKE_ROOT = "0x" + "ab" * 32


def fabricate(params: list[Any], block: Any) -> Any:
    """The finalized block with another state root, its hash recomputed (the same
    fabrication from each liar, so they agree)."""
    if not isinstance(block, dict):
        return block
    block["stateRoot"] = FAKE_ROOT
    block["hash"] = "0x" + header_hash(block).hex()
    return block


def finalized_only(params: list[Any]) -> bool:
    return bool(params) and params[0] == "finalized"


def blamed(node: Node, name: str) -> dict[str, float]:
    failures = node.metrics.upstream_integrity_failures
    return {c.value: failures.get((name, c.value)) for c in Check
            if failures.get((name, c.value))}


async def ready(client: httpx.AsyncClient) -> dict[str, Any]:
    resp = await client.get("/ready")
    assert resp.status_code == 200, resp.text
    return dict(resp.json()["data"]["checks"]["anchor"])


async def rpc(client: httpx.AsyncClient, method: str, *params: Any) -> httpx.Response:
    return await client.post("/rpc", json={"jsonrpc": "2.0", "id": 1, "method": method,
                                           "params": list(params)})


@pytest.fixture
def other_chain() -> Iterator[Devnet]:
    """A second devnet: the same accounts and seed, another chain (other hashes), and
    longer (blocks the honest chain does not have). Its genesis is an hour older, so no
    block of it is one of the honest chain's (two anvils started in the same second
    would make the same blocks)."""
    anvil = Anvil(extra_args=("--timestamp", str(int(time.time()) - 3600))).start()
    try:
        yield Devnet(anvil, seed(anvil.url, extra_blocks=15))
    finally:
        anvil.stop()


async def test_a_quorum_naming_a_fabricated_finalized_block_is_an_incident(
        fresh_devnet: Devnet, caplog: pytest.LogCaptureFixture) -> None:
    honest_url = fresh_devnet.url
    async with AsyncExitStack() as stack:
        liars: list[LyingProxy] = [await stack.enter_async_context(lying_proxy(honest_url))
                                   for _ in range(2)]
        node, client = await stack.enter_async_context(
            node_behind(honest_url, *(p.url for p in liars), hedge_enabled=False))
        honest, *liar_names = node.upstreams.names
        before = await node.chain.anchor()
        assert before is not None and before.source.value == "quorum"
        assert (await ready(client))["status"] == "ok"

        for p in liars:
            p.lie("eth_getBlockByNumber", fabricate, when=finalized_only)
        anvil_rpc(honest_url, "anvil_mine", [hex(3)])
        caplog.set_level(logging.CRITICAL, logger="bizra_node.validation")
        node.chain.anchors.expire()
        after = await node.chain.anchor()

        assert after == before  # the anchor it had, not the fabricated block
        assert all(r.applied for p in liars for r in p.rules)  # the lie was told
        incident = node.chain.anchors.incident
        assert incident is not None and incident["reason"] == "unlinked"
        assert node.metrics.anchor_incidents.get(("unlinked",)) >= 1
        assert node.metrics.anchor_incident.get(()) == 1.0
        assert any(r.levelname == "CRITICAL" and "ANCHOR INCIDENT" in r.getMessage()
                   for r in caplog.records)
        check = await ready(client)
        assert check["status"] == "degraded" and check["incident"]["reason"] == "unlinked"
        assert check["anchor"]["number"] == before.number
        # only the liars are blamed: each named a finalized block it does not serve
        assert blamed(node, honest) == {}
        for name in liar_names:
            assert blamed(node, name).get(Check.ANCHOR_HASH.value, 0) >= 1

        # it keeps serving, proven against the anchor it had
        tx = await client.post("/api/v1/validate/transaction",
                               json={"txHash": fresh_devnet.manifest.eip1559_tx})
        assert tx.status_code == 200, tx.text
        assert tx.json()["data"]["valid"] is True
        assert tx.json()["data"]["verification"]["level"] == "anchored"
        head = int(anvil_rpc(honest_url, "eth_blockNumber"), 16)
        block = await client.post("/api/v1/validate/block", json={"blockNumber": head})
        assert block.status_code == 200, block.text
        assert block.json()["data"]["valid"] is True
        latest = await rpc(client, "eth_getBlockByNumber", "latest", False)
        assert latest.status_code == 200 and latest.json()["result"]["hash"] == \
            anvil_rpc(honest_url, "eth_getBlockByNumber", ["latest", False])["hash"]
        assert blamed(node, honest) == {}

        # the liars stop: the next refresh moves the anchor on and the incident is over
        for p in liars:
            p.tell_the_truth()
        for h in node.upstreams.health:
            h.breaker.force(State.CLOSED)  # the liars' breakers were opened
        node.chain.anchors.expire()
        moved = await node.chain.anchor()
        assert moved is not None and moved.number > before.number
        assert node.chain.anchors.incident is None
        assert node.metrics.anchor_incident.get(()) == 0.0
        assert (await ready(client))["status"] == "ok"


async def test_another_chain_is_never_served_with_a_pinned_checkpoint(
        fresh_devnet: Devnet, other_chain: Devnet) -> None:
    honest_url = fresh_devnet.url
    number = fresh_devnet.manifest.head - 4
    pinned = anvil_rpc(honest_url, "eth_getBlockByNumber", [hex(number), False])["hash"]
    other_head = int(anvil_rpc(other_chain.url, "eth_blockNumber"), 16)
    honest_head = int(anvil_rpc(honest_url, "eth_blockNumber"), 16)
    assert other_head > honest_head
    # an address only the other chain pays: its balance there is not the honest one
    rich = "0x" + "11" * 20
    accounts = anvil_rpc(other_chain.url, "eth_accounts")
    anvil_rpc(other_chain.url, "eth_sendTransaction",
              [{"from": accounts[3], "to": rich, "value": hex(7 * 10**18)}])
    tx_hash = fresh_devnet.manifest.eip1559_tx
    honest_tx = anvil_rpc(honest_url, "eth_getTransactionByHash", [tx_hash])
    assert anvil_rpc(other_chain.url, "eth_getBlockByNumber", ["0x0", False])["hash"] != \
        anvil_rpc(honest_url, "eth_getBlockByNumber", ["0x0", False])["hash"]
    other_hashes = {anvil_rpc(other_chain.url, "eth_getBlockByNumber", [hex(n), False])["hash"]
                    for n in range(0, other_head + 2)}
    async with AsyncExitStack() as stack:
        liars = [await stack.enter_async_context(lying_proxy(other_chain.url))
                 for _ in range(2)]
        node, client = await stack.enter_async_context(node_behind(
            *(p.url for p in liars), honest_url, hedge_enabled=False,
            anchor_checkpoint=f"{number}:{pinned}"))
        *liar_names, honest = node.upstreams.names
        anchor = await node.chain.anchor()
        assert anchor is not None and anchor.source.value == "checkpoint"
        assert anchor.number >= number
        assert anchor.hash.hex() == anvil_rpc(
            honest_url, "eth_getBlockByNumber", [hex(anchor.number), False])["hash"][2:]

        def none_of_the_other_chain(text: str) -> None:
            for h in other_hashes:
                assert h[2:] not in text.lower(), f"the other chain's block {h} served"

        # the honest chain's transaction is found, in the honest chain's block
        resp = await client.post("/api/v1/validate/transaction", json={"txHash": tx_hash})
        assert resp.status_code == 200, resp.text
        data = resp.json()["data"]
        assert data["valid"] is True, data
        assert data["data"]["blockHash"] == honest_tx["blockHash"]
        none_of_the_other_chain(resp.text)
        # blocks: at numbers both chains have, the honest one; above, not served
        for n in (1, number, honest_head, honest_head + 3, other_head):
            resp = await client.post("/api/v1/validate/block", json={"blockNumber": n})
            none_of_the_other_chain(resp.text)
            assert resp.status_code in (200, 404, 503), resp.text
            resp = await rpc(client, "eth_getBlockByNumber", hex(n), False)
            none_of_the_other_chain(resp.text)
            if n <= honest_head and resp.status_code == 200:
                assert resp.json()["result"]["hash"] == anvil_rpc(
                    honest_url, "eth_getBlockByNumber", [hex(n), False])["hash"]
        # the balance the other chain gives is not served (the honest chain's is 0)
        resp = await client.post("/api/v1/validate/address", json={"address": rich})
        assert "7000000000000000000" not in resp.text and hex(7 * 10**18) not in resp.text
        resp = await rpc(client, "eth_getBalance", rich, "latest")
        if resp.status_code == 200 and "result" in resp.json():
            assert int(resp.json()["result"], 16) == 0
        # the two serving the other chain are blamed, the honest one never
        assert blamed(node, honest) == {}
        assert all(blamed(node, name) for name in liar_names)
        assert node.metrics.anchor_incidents.get(("checkpoint",)) + \
            node.metrics.anchor_incidents.get(("unlinked",)) >= 1


async def test_a_checkpoint_above_the_finalized_block_is_the_anchor_and_no_incident(
        fresh_devnet: Devnet) -> None:
    """A checkpoint pinned above what the upstreams have finalized stays the anchor
    until finality passes it: nothing to link yet, nobody blamed, no incident."""
    head = int(anvil_rpc(fresh_devnet.url, "eth_blockNumber"), 16)
    pinned = anvil_rpc(fresh_devnet.url, "eth_getBlockByNumber", [hex(head), False])["hash"]
    async with AsyncExitStack() as stack:
        proxies = [await stack.enter_async_context(lying_proxy(fresh_devnet.url))
                   for _ in range(2)]
        node, client = await stack.enter_async_context(node_behind(
            fresh_devnet.url, *(p.url for p in proxies), anchor_checkpoint=f"{head}:{pinned}"))
        anchor = await node.chain.anchor()
        assert anchor is not None and (anchor.number, "0x" + anchor.hash.hex()) == (head, pinned)
        assert node.chain.anchors.incident is None
        assert all(blamed(node, name) == {} for name in node.upstreams.names)
        anvil_rpc(fresh_devnet.url, "anvil_mine", [hex(8)])  # finality passes it
        node.chain.anchors.expire()
        moved = await node.chain.anchor()
        assert moved is not None and moved.number > head
        assert (await ready(client))["status"] == "ok"
        assert all(blamed(node, name) == {} for name in node.upstreams.names)


async def test_two_upstreams_on_two_chains_are_a_quorum_that_cannot_agree(
        fresh_devnet: Devnet, other_chain: Devnet) -> None:
    """Two upstreams (ANCHOR_QUORUM 2) on two chains: no anchor can be agreed on. An
    incident (no_quorum), not a lie either can be blamed for."""
    async with AsyncExitStack() as stack:
        other = await stack.enter_async_context(lying_proxy(other_chain.url))
        node, client = await stack.enter_async_context(node_behind(fresh_devnet.url,
                                                                   other.url))
        assert await node.chain.anchor() is None
        incident = node.chain.anchors.incident
        assert incident is not None and incident["reason"] == "no_quorum"
        assert node.metrics.anchor_incidents.get(("no_quorum",)) >= 1
        assert node.metrics.anchor_incident.get(()) == 1.0
        check = await ready(client)
        assert check["status"] == "degraded" and check["anchor"] is None
        assert all(blamed(node, name) == {} for name in node.upstreams.names)
