"""eth_getLogs made by the node from proven headers and receipts, against real anvil:
a contract emitting events over several blocks (several transactions and logs per
block, empty blocks, two emitters); the node's answer equals anvil's for each filter
(address, topic OR-lists, null positions, ranges, blockHash) and says anchored; the
node never asks the upstream's eth_getLogs, so a proxy that drops, alters or
fabricates logs there changes nothing, and one that lies in the receipts is refused
(or, with an honest upstream beside it, passed over)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from bizra_node.chain import redact_url
from bizra_node.devnet import Anvil
from bizra_node.devnet.seed import rpc, wait_receipt
from bizra_node.jsonrpc import INTEGRITY_FAILED
from tests.integration.validation.conftest import node_behind
from tests.support.contracts import deploy_emitter, emit_topics
from tests.support.lying_proxy import lying_proxy
from tests.support.servers import http_to_asgi


def topic(v: int) -> str:
    return "0x" + f"{v:064x}"


@dataclass
class LogChain:
    url: str
    a: str
    b: str
    head: int


@pytest.fixture(scope="module")
def log_chain() -> Iterator[LogChain]:
    """Blocks 3..14: emitter A and B called a few times per block (some blocks only one
    of them, some empty); read-only afterwards."""
    anvil = Anvil().start()
    try:
        url = anvil.url
        a, b = deploy_emitter(url), deploy_emitter(url)
        rpc(url, "evm_setAutomine", [False])
        last = ""
        for k in range(12):
            if k % 4 != 3:
                last = emit_topics(url, a, (k % 3, 100 + k, 7), data=k, sender_index=1)
            if k % 2 == 0:
                last = emit_topics(url, b, (k % 3, 200, 8 + k % 2), data=k, sender_index=2)
                last = emit_topics(url, a, (5, 100 + k, 7), data=k, sender_index=3)
            rpc(url, "evm_mine", [])
        wait_receipt(url, last)
        head = int(rpc(url, "eth_blockNumber"), 16)
        yield LogChain(url, a, b, head)
    finally:
        anvil.stop()


async def call(client: httpx.AsyncClient, method: str, *params: Any) -> httpx.Response:
    resp = await client.post("/rpc", json={"jsonrpc": "2.0", "id": 1, "method": method,
                                           "params": list(params)})
    assert resp.status_code == 200, resp.text
    return resp


def filters(c: LogChain) -> list[dict[str, Any]]:
    everything = {"fromBlock": "0x0", "toBlock": hex(c.head)}
    return [
        everything,
        {"fromBlock": "earliest", "toBlock": "latest"},
        {**everything, "address": c.a},
        {**everything, "address": [c.a, c.b]},
        {**everything, "address": c.b.upper().replace("0X", "0x")},
        {**everything, "topics": [topic(0)]},
        {**everything, "topics": [[topic(1), topic(2)]]},
        {**everything, "topics": [None, topic(200)]},
        {**everything, "topics": [None, [topic(104), topic(105), topic(999)], topic(7)]},
        {**everything, "topics": [topic(5), None, topic(7)], "address": c.a},
        {**everything, "topics": [topic(0), None, topic(9)]},
        {**everything, "topics": [[], topic(200)]},
        {**everything, "topics": [topic(999)]},
        {**everything, "address": "0x" + "11" * 20},
        {"fromBlock": hex(5), "toBlock": hex(8)},
        {"fromBlock": hex(6), "toBlock": hex(6), "topics": [None, topic(106)]},
        {"fromBlock": hex(c.head - 2)},
        {"fromBlock": hex(c.head - 1), "toBlock": hex(c.head + 50)},
        {},
    ]


async def test_the_nodes_logs_are_anvils_for_every_filter(log_chain: LogChain) -> None:
    # two upstreams: a head one upstream alone serves is not vouched for (the head rule)
    async with lying_proxy(log_chain.url) as honest, lying_proxy(log_chain.url) as second, \
            node_behind(honest.url, second.url) as (_, client):
        by_hash = rpc(log_chain.url, "eth_getBlockByNumber", [hex(4), False])["hash"]
        cases = [*filters(log_chain), {"blockHash": by_hash},
                 {"blockHash": by_hash, "address": log_chain.b}]
        for criteria in cases:
            resp = await call(client, "eth_getLogs", criteria)
            body = resp.json()
            assert "result" in body, (criteria, body)
            assert body["result"] == rpc(log_chain.url, "eth_getLogs", [criteria]), criteria
            said = resp.headers["x-verification"]
            assert said.startswith("anchored; anchor=quorum"), (criteria, said)
            assert "header_hash" in said and "parent_link" in said
        assert sum(len(rpc(log_chain.url, "eth_getLogs", [f])) for f in cases) > 40
        # never asked: the node made every answer
        assert honest.calls["eth_getLogs"] == second.calls["eth_getLogs"] == 0
        assert honest.calls["eth_getBlockReceipts"] + second.calls["eth_getBlockReceipts"] > 0


async def test_the_bloom_skips_blocks_and_a_repeat_costs_no_round_trip(
        log_chain: LogChain) -> None:
    c = log_chain
    async with lying_proxy(c.url) as honest, node_behind(honest.url) as (node, client):
        everything = {"fromBlock": "0x0", "toBlock": hex(c.head)}
        await call(client, "eth_getLogs", {"fromBlock": hex(c.head), "topics": [topic(999)]})
        assert node.logs is not None and node.logs.scanned == 0  # linked the head, no receipts
        before, skipped = honest.requests, node.logs.skipped
        await call(client, "eth_getLogs", {**everything, "topics": [None, topic(200)]})
        # B emits topic 200 in the 6 even blocks only: every other block is skipped
        assert node.logs.scanned == 6 and node.logs.skipped - skipped == c.head + 1 - 6
        # a miss: one batch of headers, one batch of the 6 blocks with their receipts
        assert honest.requests - before == 2
        asked = honest.requests
        again = await call(client, "eth_getLogs", {**everything, "topics": [None, topic(200)]})
        assert honest.requests == asked and len(again.json()["result"]) == 6
        nothing = await call(client, "eth_getLogs", {**everything, "topics": [topic(999)]})
        assert nothing.json()["result"] == [] and honest.requests == asked
        assert honest.calls["eth_getLogs"] == 0


def _drop_first_log(params: list[Any], receipts: Any) -> Any:
    for r in receipts or []:
        if r["logs"]:
            r["logs"] = r["logs"][1:]
            break
    return receipts


def _alter_first_log(params: list[Any], receipts: Any) -> Any:
    for r in receipts or []:
        if r["logs"]:
            r["logs"][0]["data"] = "0x" + "ee" * 32
            break
    return receipts


def _fabricate_log(params: list[Any], receipts: Any) -> Any:
    for r in receipts or []:
        r["logs"].append({**(r["logs"] or [{}])[0], "address": "0x" + "66" * 20,
                          "topics": [topic(200)], "data": "0x"})
        break
    return receipts


@pytest.mark.parametrize("lie", [_drop_first_log, _alter_first_log, _fabricate_log])
async def test_receipts_that_do_not_match_the_root_are_refused(log_chain: LogChain,
                                                               lie: Any) -> None:
    async with lying_proxy(log_chain.url) as liar, node_behind(liar.url) as (_, client):
        liar.lie("eth_getBlockReceipts", lie)
        resp = await call(client, "eth_getLogs", {"fromBlock": "0x0", "toBlock": hex(5)})
        error = resp.json()["error"]
        assert error["code"] == INTEGRITY_FAILED, error
        assert error["data"]["check"] == "receipts_root"
        assert error["data"]["upstream"] == redact_url(liar.url)
        assert "x-verification" not in resp.headers


async def test_lies_in_get_logs_and_positions_change_nothing(log_chain: LogChain) -> None:
    """The upstream's eth_getLogs drops, alters and fabricates logs, its receipts carry
    wrong logIndex and blockHash (fields the receipts root does not cover): the node's
    answer is anvil's, complete."""
    c = log_chain
    async with lying_proxy(c.url) as liar, node_behind(liar.url) as (_, client):
        liar.lie("eth_getLogs", lambda p, logs: [{**x, "data": "0x"} for x in logs[1:]] +
                 [{**logs[0], "address": "0x" + "66" * 20}])

        def positions(params: list[Any], receipts: Any) -> Any:
            for r in receipts or []:
                for entry in r["logs"]:
                    entry["logIndex"] = "0x63"
                    entry["blockHash"] = "0x" + "00" * 32
            return receipts

        liar.lie("eth_getBlockReceipts", positions)
        for criteria in filters(c):
            body = (await call(client, "eth_getLogs", criteria)).json()
            assert body.get("result") == rpc(c.url, "eth_getLogs", [criteria]), criteria
        assert liar.calls["eth_getLogs"] == 0


async def test_a_liar_beside_an_honest_upstream_is_passed_over_web3(
        log_chain: LogChain) -> None:
    """web3.py's get_logs through the node, the fastest upstream lying in its receipts:
    the honest, complete set (the liar is counted and passed over)."""
    from web3 import AsyncHTTPProvider, AsyncWeb3, Web3

    c = log_chain
    async with AsyncExitStack() as stack:
        bad = await stack.enter_async_context(lying_proxy(c.url))
        good = await stack.enter_async_context(lying_proxy(c.url))
        good.delay = 0.05
        bad.lie("eth_getBlockReceipts", _drop_first_log)
        _, client = await stack.enter_async_context(node_behind(bad.url, good.url))
        url = await stack.enter_async_context(http_to_asgi(client))
        w3 = AsyncWeb3(AsyncHTTPProvider(url))
        criteria: dict[str, Any] = {"fromBlock": 0, "toBlock": c.head,
                                    "address": Web3.to_checksum_address(c.a),
                                    "topics": [None, [topic(102), topic(104)]]}
        got = await w3.eth.get_logs(criteria)  # type: ignore[arg-type]
        honest = rpc(c.url, "eth_getLogs", [{**criteria, "fromBlock": "0x0",
                                             "toBlock": hex(c.head)}])
        assert len(got) == len(honest) == 4
        assert [(x["transactionHash"].to_0x_hex(), x["logIndex"]) for x in got] == \
            [(x["transactionHash"], int(x["logIndex"], 16)) for x in honest]
        assert bad.calls["eth_getLogs"] == good.calls["eth_getLogs"] == 0
        assert bad.calls["eth_getBlockReceipts"] > 0  # asked first, lied, passed over


async def test_bad_criteria_are_json_rpc_errors(log_chain: LogChain) -> None:
    c = log_chain
    async with node_behind(c.url) as (_, client):
        for bad, code in [
            ({"address": "0x12"}, -32602),
            ({"address": 5}, -32602),
            ({"topics": "x"}, -32602),
            ({"topics": [None] * 5}, -32602),
            ({"topics": [["0x1234"]]}, -32602),
            ({"topics": [7]}, -32602),
            ({"fromBlock": "yesterday"}, -32602),
            ({"fromBlock": hex(6), "toBlock": hex(5)}, -32602),
            ({"blockHash": "0x00"}, -32602),
            ({"blockHash": "0x" + "00" * 32, "fromBlock": "0x1"}, -32602),
            ({"adress": c.a}, -32602),
            ("nonsense", -32602),
            ({"fromBlock": "0x0", "toBlock": hex(20_000)}, -32005),
        ]:
            body = (await call(client, "eth_getLogs", bad)).json()
            assert body["error"]["code"] == code, (bad, body)
        body = (await call(client, "eth_getLogs")).json()
        assert body["error"]["code"] == -32602


async def test_log_filters_are_made_from_proven_receipts() -> None:
    """eth_newFilter + eth_getFilterLogs / eth_getFilterChanges on a chain that grows:
    anvil's logs, while the upstream's eth_getLogs lies."""
    anvil = Anvil().start()
    try:
        url = anvil.url
        a = deploy_emitter(url)
        wait_receipt(url, emit_topics(url, a, (1, 2, 3)))
        async with lying_proxy(url) as liar, \
                node_behind(liar.url, head_follow_interval=0.05) as (node, client):
            liar.lie("eth_getLogs", lambda p, logs: [])
            criteria = {"fromBlock": "0x0", "address": a, "topics": [topic(1)]}
            for bad in ({"address": "0x12"}, {"topics": [["0x1234"]]}, {"topics": [None] * 5}):
                refused = (await call(client, "eth_newFilter", bad)).json()
                assert refused["error"]["code"] == -32602, (bad, refused)
            fid = (await call(client, "eth_newFilter", criteria)).json()["result"]
            everything = (await call(client, "eth_getFilterLogs", fid)).json()["result"]
            assert everything == rpc(url, "eth_getLogs", [criteria]) and len(everything) == 1
            start = int(rpc(url, "eth_blockNumber"), 16)
            wait_receipt(url, emit_topics(url, a, (1, 4, 5)))
            wait_receipt(url, emit_topics(url, a, (2, 4, 5)))
            head = int(rpc(url, "eth_blockNumber"), 16)
            async with asyncio.timeout(5):
                while node.chain.best_head < head:
                    await asyncio.sleep(0.01)
            changes = (await call(client, "eth_getFilterChanges", fid)).json()["result"]
            assert changes == rpc(url, "eth_getLogs", [{**criteria, "fromBlock": hex(start + 1)}])
            assert len(changes) == 1
            assert liar.calls["eth_getLogs"] == 0
    finally:
        anvil.stop()


async def test_the_logs_subscription_is_made_from_proven_receipts() -> None:
    """eth_subscribe("logs") through the node, whose upstream's eth_getLogs answers
    nothing: every log arrives, as anvil has it, from the block's proven receipts."""
    from bizra_node.api import ASGIApp
    from tests.support.asgi_ws import asgi_websocket

    anvil = Anvil().start()
    try:
        url = anvil.url
        a, other = deploy_emitter(url), deploy_emitter(url)
        async with lying_proxy(url) as liar, \
                node_behind(liar.url, head_follow_ws="off", head_follow_interval=0.05) as (
                    node, _), asgi_websocket(ASGIApp(node)) as ws:
            liar.lie("eth_getLogs", lambda p, logs: [])
            await node.follower.settled()
            sub = (await ws.call("eth_subscribe", ["logs", {"address": a}]))["result"]
            sent = [emit_topics(url, a, (1, 2, 3)), emit_topics(url, other, (1, 2, 3)),
                    emit_topics(url, a, (4, 5, 6), data=9)]
            for tx in sent:
                wait_receipt(url, tx)
            got: list[Any] = []
            async with asyncio.timeout(10):
                while len(got) < 2:
                    doc = await ws.recv()
                    if doc.get("method") == "eth_subscription":
                        assert doc["params"]["subscription"] == sub
                        got.append(doc["params"]["result"])
            assert [g["transactionHash"] for g in got] == [sent[0], sent[2]]
            assert got == rpc(url, "eth_getLogs", [{"fromBlock": "0x0", "address": a}])
            assert liar.calls["eth_getLogs"] == 0
    finally:
        anvil.stop()


async def test_an_upstream_without_block_receipts_gets_them_one_by_one(
        log_chain: LogChain) -> None:
    c = log_chain
    async with lying_proxy(c.url) as plain, node_behind(plain.url) as (_, client):
        plain.refuse("eth_getBlockReceipts")
        for criteria in filters(c)[:4]:
            resp = await call(client, "eth_getLogs", criteria)
            assert resp.json()["result"] == rpc(c.url, "eth_getLogs", [criteria]), criteria
            assert "receipts_root" in resp.headers["x-verification"]
        assert plain.calls["eth_getTransactionReceipt"] > 0 and plain.calls["eth_getLogs"] == 0


async def test_lying_headers_and_an_unknown_block_hash(log_chain: LogChain) -> None:
    """Headers of the range that are not the blocks asked for are refused (header_hash);
    a blockHash no upstream knows is a JSON-RPC error, not a 500."""
    c = log_chain
    async with lying_proxy(c.url) as liar, node_behind(liar.url) as (_, client):
        other = rpc(c.url, "eth_getBlockByNumber", ["0x1", False])
        liar.lie("eth_getBlockByNumber", lambda p, b: other if p[0] == hex(6) else b)
        resp = await call(client, "eth_getLogs", {"fromBlock": hex(4), "toBlock": hex(8)})
        error = resp.json()["error"]
        assert error["code"] == INTEGRITY_FAILED and error["data"]["check"] == "header_hash"
        liar.tell_the_truth()
        unknown = await call(client, "eth_getLogs", {"blockHash": "0x" + "12" * 32})
        assert unknown.json()["error"]["code"] < 0, unknown.json()
