"""/rpc answers proven where the method allows, through the node's API, against a
lying upstream (a real proxy rewriting answers in front of anvil): honest answers of
every proven method pass and say so in X-Verification (also on a cache hit); each lie
is refused with -32099 naming the check and the upstream, counted, and never cached;
with three upstreams of which one lies, web3.py gets the honest answers."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from bizra_bench.trust_seed import STORAGE, TrustDevnet
from bizra_node.chain import redact_url
from bizra_node.jsonrpc import INTEGRITY_FAILED
from tests.integration.validation.conftest import node_behind
from tests.support.lying_proxy import LyingProxy, lying_proxy
from tests.support.servers import http_to_asgi

SLOT0 = "0x0"


async def rpc(client: httpx.AsyncClient, method: str, *params: Any) -> httpx.Response:
    resp = await client.post("/rpc", json={"jsonrpc": "2.0", "id": 1, "method": method,
                                           "params": list(params)})
    assert resp.status_code == 200, resp.text
    return resp


def proven(resp: httpx.Response, *checks: str, anchor: str | None = None) -> Any:
    """The result of an answer whose X-Verification names ``checks``: anchored to an
    ``anchor`` of that kind; or (None: one upstream) anchored to its first-use anchor
    when the block is at or below it, else consistent -- one upstream vouches for no
    block above its anchor."""
    body = resp.json()
    assert "result" in body, body
    said = resp.headers["x-verification"]
    ran = said.split("checks=")[1].split(",")
    if anchor is None:
        if said.startswith("anchored; anchor=first-use; anchor-number="):
            assert "parent_link" in ran, said
        else:
            assert said.startswith("consistent; checks="), said
            assert "parent_link" not in ran, said
    else:
        assert said.startswith(f"anchored; anchor={anchor}; anchor-number="), said
        assert "parent_link" in ran, said
    for check in checks:
        assert check in ran, (check, said)
    return body["result"]


def refused(resp: httpx.Response, check: str, liar: LyingProxy) -> dict[str, Any]:
    body = resp.json()
    assert "error" in body, body
    error = body["error"]
    assert error["code"] == INTEGRITY_FAILED and error["message"] == "integrity check failed"
    assert error["data"]["check"] == check, error
    assert error["data"]["upstream"] == redact_url(liar.url)
    assert "x-verification" not in resp.headers
    return dict(error)


def _cases(devnet: TrustDevnet) -> list[tuple[str, tuple[Any, ...], tuple[str, ...]]]:
    m = devnet.manifest
    at = hex(m.head)
    block_hash = devnet.block(m.mixed_block, full=False)["hash"]
    return [
        ("eth_getBalance", (m.delegated, "latest"), ("header_hash", "account_proof")),
        ("eth_getBalance", (m.untouched, at), ("account_proof",)),
        ("eth_getTransactionCount", (m.delegated, at), ("account_proof",)),
        ("eth_getCode", (m.log_contract, "latest"), ("account_proof", "code_hash")),
        ("eth_getCode", (m.delegated, at), ("code_hash",)),
        ("eth_getStorageAt", (m.log_contract, SLOT0, at), ("storage_proof",)),
        ("eth_getStorageAt", (m.log_contract, "0x5", "latest"), ("storage_proof",)),
        *(("eth_getTransactionByHash", (h,), ("tx_hash", "tx_signature", "transactions_root",
                                              "not_in_block"))
          for h in (m.txs["blob"], m.txs["set_code"], m.txs["legacy_pre155"],
                    m.mixed_txs["dynamic_fee"])),
        *(("eth_getTransactionReceipt", (h,), ("receipts_root", "receipt_mismatch"))
          for h in (m.txs["reverted"], m.txs["logs"], m.txs["create"])),
        ("eth_getBlockByNumber", (hex(m.mixed_block), True), ("header_hash",
                                                              "transactions_root")),
        ("eth_getBlockByNumber", (hex(m.mixed_block), False), ("transactions_root",)),
        ("eth_getBlockByNumber", ("latest", False), ("header_hash",)),
        ("eth_getBlockByHash", (block_hash, False), ("header_hash", "transactions_root")),
        ("eth_getBlockByHash", (block_hash, True), ("withdrawals_root",)),
    ]


async def test_honest_answers_are_proven_for_every_method_and_say_so_on_hits(
        trust_devnet: TrustDevnet, liar: LyingProxy) -> None:
    async with node_behind(liar.url) as (_, client):
        for method, params, checks in _cases(trust_devnet):
            first = await rpc(client, method, *params)
            result = proven(first, *checks)
            pinned = [hex(trust_devnet.manifest.head) if p == "latest" else p for p in params]
            assert result == trust_devnet.call(method, *pinned), (method, params)
            asked = liar.requests
            again = await rpc(client, method, *params)  # a cache hit: same header, no upstream
            assert liar.requests == asked, method
            assert again.json()["result"] == result
            assert again.headers["x-verification"] == first.headers["x-verification"]


async def test_with_two_upstreams_that_agree_every_proven_answer_is_anchored(
        trust_devnet: TrustDevnet, liar: LyingProxy) -> None:
    """Two upstreams serve the same head: a quorum vouches for it, so every block up to
    it is anchored (to the quorum's anchor); with one upstream the same answers are
    consistent (above)."""
    async with node_behind(liar.url, trust_devnet.url) as (_, client):
        for method, params, checks in _cases(trust_devnet):
            proven(await rpc(client, method, *params), *checks, anchor="quorum")


async def test_a_state_miss_is_one_upstream_round_trip(trust_devnet: TrustDevnet,
                                                       liar: LyingProxy) -> None:
    """The call, eth_getProof and the header go in one batch (once the node knows the
    head, the anchor and the headers between them: the first proof links them)."""
    m = trust_devnet.manifest
    async with node_behind(liar.url) as (_, client):
        proven(await rpc(client, "eth_getBalance", m.untouched))
        for method, params in [("eth_getBalance", (m.delegated, hex(m.head - 1))),
                               ("eth_getStorageAt", (m.log_contract, "0x1", hex(m.head - 2))),
                               ("eth_getBlockByNumber", (hex(m.head - 3), False))]:
            before = dict(liar.calls), liar.requests
            proven(await rpc(client, method, *params))
            assert liar.requests == before[1] + 1, method
            if method != "eth_getBlockByNumber":
                assert liar.calls["eth_getProof"] == before[0].get("eth_getProof", 0) + 1


async def test_unprovable_methods_are_forwarded_and_say_unverified(
        trust_devnet: TrustDevnet, liar: LyingProxy) -> None:
    m = trust_devnet.manifest
    async with node_behind(liar.url) as (_, client):
        for method, params in [("eth_gasPrice", ()), ("eth_chainId", ()),
                               ("eth_call", ({"to": m.log_contract, "data": "0x"}, "latest")),
                               ("eth_getBalance", (m.delegated, "pending")),
                               ("eth_blockNumber", ())]:
            resp = await rpc(client, method, *params)
            assert "result" in resp.json(), (method, resp.json())
            assert resp.headers["x-verification"] == "unverified", method
        batch = await client.post("/rpc", json=[
            {"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": [m.delegated]},
            {"jsonrpc": "2.0", "id": 2, "method": "eth_chainId", "params": []}])
        # a batch is labelled with its weakest call: eth_chainId is never proven
        assert len(batch.json()) == 2 and batch.headers["x-verification"] == "unverified"


async def test_bad_input_is_still_a_json_rpc_error(trust_devnet: TrustDevnet,
                                                   liar: LyingProxy) -> None:
    async with node_behind(liar.url) as (_, client):
        for method, params in [("eth_getBalance", ["0x12", "latest"]),
                               ("eth_getStorageAt", [trust_devnet.manifest.log_contract,
                                                     "zz", "latest"]),
                               ("eth_getTransactionByHash", ["0x1234"]),
                               ("eth_getBlockByHash", ["0x00", False])]:
            body = (await rpc(client, method, *params)).json()
            assert body["error"]["code"] in (-32602, -32600), (method, body)
        resp = await client.post("/rpc", json={"jsonrpc": "2.0", "id": 1,
                                               "method": "eth_getBalance", "params": "x"})
        assert resp.json()["error"]["code"] == -32602


def _flip_leaf(proof_nodes: list[str]) -> None:
    leaf = bytearray.fromhex(proof_nodes[-1][2:])
    leaf[-3] ^= 0x01
    proof_nodes[-1] = "0x" + leaf.hex()


def _lies(devnet: TrustDevnet) -> dict[str, tuple[str, Any, str, tuple[Any, ...], str]]:
    """name -> (method lied about, edit, method asked, params, check that catches it)."""
    m = devnet.manifest
    at = hex(m.head)
    other_code = devnet.call("eth_getCode", m.reverting_contract, at)
    mixed = hex(m.mixed_block)

    def proof_node(p: list[Any], proof: dict[str, Any]) -> dict[str, Any]:
        _flip_leaf(proof["accountProof"])
        return proof

    def storage_node(p: list[Any], proof: dict[str, Any]) -> dict[str, Any]:
        _flip_leaf(proof["storageProof"][0]["proof"])
        return proof

    def hashes(p: list[Any], block: dict[str, Any]) -> dict[str, Any]:
        if p[1] is False:
            block["transactions"] = block["transactions"][1:]
        return block

    return {
        "inflated balance": ("eth_getBalance", lambda p, b: hex(int(b, 16) + 10**21),
                             "eth_getBalance", (m.delegated, at), "account_proof"),
        "changed nonce": ("eth_getTransactionCount", lambda p, n: hex(int(n, 16) + 1),
                          "eth_getTransactionCount", (m.delegated, "latest"), "account_proof"),
        "tampered account proof": ("eth_getProof", proof_node, "eth_getBalance",
                                   (m.delegated, at), "account_proof"),
        "swapped code": ("eth_getCode", lambda p, c: other_code, "eth_getCode",
                         (m.log_contract, at), "code_hash"),
        "tampered storage value": ("eth_getStorageAt", lambda p, v: "0x" + "00" * 31 + "2b",
                                   "eth_getStorageAt", (m.log_contract, SLOT0, at),
                                   "storage_proof"),
        "tampered storage proof": ("eth_getProof", storage_node, "eth_getStorageAt",
                                   (m.log_contract, SLOT0, "latest"), "storage_proof"),
        "transaction value": ("eth_getTransactionByHash", lambda p, tx: {**tx, "value": "0x1"},
                              "eth_getTransactionByHash", (m.txs["dynamic_fee"],), "tx_hash"),
        "flipped receipt status": ("eth_getTransactionReceipt",
                                   lambda p, r: {**r, "status": "0x1"},
                                   "eth_getTransactionReceipt", (m.txs["reverted"],),
                                   "receipt_mismatch"),
        "block transaction list": ("eth_getBlockByNumber",
                                   lambda p, b: {**b, "transactions": b["transactions"][1:]},
                                   "eth_getBlockByNumber", (mixed, True), "transactions_root"),
        "block transaction hashes": ("eth_getBlockByNumber", hashes, "eth_getBlockByNumber",
                                     (mixed, False), "transactions_root"),
    }


LIES = ["inflated balance", "changed nonce", "tampered account proof", "swapped code",
        "tampered storage value", "tampered storage proof", "transaction value",
        "flipped receipt status", "block transaction list", "block transaction hashes"]


@pytest.mark.parametrize("lie", LIES)
async def test_a_lie_is_refused_counted_and_never_cached(trust_devnet: TrustDevnet,
                                                         liar: LyingProxy, lie: str) -> None:
    lied_about, edit, method, params, check = _lies(trust_devnet)[lie]
    async with node_behind(liar.url) as (node, client):
        rule = liar.lie(lied_about, edit)
        refused(await rpc(client, method, *params), check, liar)
        refused(await rpc(client, method, *params), check, liar)  # not cached: asked again
        assert rule.applied >= 2
        name = node.upstreams.health[0].name
        assert node.metrics.upstream_integrity_failures.get((name, check)) == 2
        liar.tell_the_truth()
        proven(await rpc(client, method, *params), check)


async def test_a_lie_in_a_batch_fails_the_batch(trust_devnet: TrustDevnet,
                                                liar: LyingProxy) -> None:
    m = trust_devnet.manifest
    async with node_behind(liar.url) as (_, client):
        liar.lie("eth_getBalance", lambda p, b: hex(int(b, 16) + 1))
        resp = await client.post("/rpc", json=[
            {"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": [m.delegated]},
            {"jsonrpc": "2.0", "id": 2, "method": "eth_getCode", "params": [m.log_contract]}])
        answers = sorted(resp.json(), key=lambda a: a["id"])
        assert [a["error"]["code"] for a in answers] == [INTEGRITY_FAILED] * 2
        assert answers[0]["error"]["data"]["check"] == "account_proof"


async def test_three_upstreams_one_liar_web3_gets_the_honest_answers(
        trust_devnet: TrustDevnet) -> None:
    """The liar is the fastest, so it is asked first; before each call it is let back
    into rotation (as its breaker's reset timeout would), lies, is counted and taken
    out again, and web3.py gets the honest answer from another upstream."""
    from web3 import AsyncHTTPProvider, AsyncWeb3, Web3

    from bizra_node.resilience import State

    m = trust_devnet.manifest
    delegated, contract = (Web3.to_checksum_address(a) for a in (m.delegated, m.log_contract))
    at = hex(m.head)
    dynamic_fee = trust_devnet.bundle(m.txs["dynamic_fee"]).tx
    async with AsyncExitStack() as stack:
        proxies = [await stack.enter_async_context(lying_proxy(trust_devnet.url))
                   for _ in range(3)]
        bad = proxies[0]
        for honest in proxies[1:]:
            honest.delay = 0.05
        bad.lie("eth_getBalance", lambda p, b: hex(int(b, 16) + 10**21))
        bad.lie("eth_getTransactionCount", lambda p, n: hex(int(n, 16) + 5))
        bad.lie("eth_getCode", lambda p, c: "0x6000")
        bad.lie("eth_getStorageAt", lambda p, v: "0x" + "00" * 31 + "07")
        bad.lie("eth_getTransactionByHash", lambda p, tx: tx and {**tx, "value": "0x1"})
        bad.lie("eth_getTransactionReceipt", lambda p, r: r and {**r, "status": "0x1"})
        bad.lie("eth_getBlockByNumber", lambda p, b: (b and p[1] is True and {
            **b, "transactions": b["transactions"][1:]}) or b)
        node, client = await stack.enter_async_context(
            node_behind(*(p.url for p in proxies), head_poll_interval=0))
        url = await stack.enter_async_context(http_to_asgi(client))
        w3 = AsyncWeb3(AsyncHTTPProvider(url))
        liar = node.upstreams.health[0]
        assert liar.name == redact_url(bad.url)

        async def asked(call: Any) -> Any:
            liar.breaker.force(State.CLOSED)
            return await call

        assert await asked(w3.eth.get_balance(delegated)) == \
            int(trust_devnet.call("eth_getBalance", m.delegated, at), 16)
        assert await asked(w3.eth.get_transaction_count(delegated)) == \
            int(trust_devnet.call("eth_getTransactionCount", m.delegated, at), 16)
        assert (await asked(w3.eth.get_code(contract))).to_0x_hex() == \
            trust_devnet.call("eth_getCode", m.log_contract, at)
        assert int.from_bytes(await asked(w3.eth.get_storage_at(contract, 0)), "big") == \
            STORAGE[0]
        tx = await asked(w3.eth.get_transaction(m.txs["dynamic_fee"]))
        assert tx["value"] == int(dynamic_fee["value"], 16)
        receipt = await asked(w3.eth.get_transaction_receipt(m.txs["reverted"]))
        assert receipt["status"] == 0
        block = await asked(w3.eth.get_block(m.mixed_block, full_transactions=True))
        assert len(block["transactions"]) == len(m.mixed_txs)
        told = {r.method: r.applied for r in bad.rules}
        assert all(n >= 1 for n in told.values()), told
        counted = {check: v for (name, check), v in
                   node.metrics.upstream_integrity_failures.items() if name == liar.name}
        assert sum(counted.values()) >= 7, counted
        assert not any(v for (name, _), v in node.metrics.upstream_integrity_failures.items()
                       if name != liar.name)


async def test_a_pending_transaction_is_consistent_then_anchored_once_mined(
        fresh_devnet: Any) -> None:
    """Pending: the transaction itself is proven (hash, signature, chain id), there is
    no block to anchor it to, and it is not cached; mined: anchored."""
    from bizra_node.devnet.seed import rpc as anvil

    url = fresh_devnet.url
    accounts = anvil(url, "eth_accounts")
    anvil(url, "evm_setAutomine", [False])
    try:
        tx_hash = anvil(url, "eth_sendTransaction", [{"from": accounts[0], "to": accounts[1],
                                                      "value": "0x1"}])
        # two names of one anvil (one URL twice is refused): a quorum vouches the head
        async with node_behind(url, url.replace("127.0.0.1", "localhost")) as (_, client):
            pending = await rpc(client, "eth_getTransactionByHash", tx_hash)
            assert pending.json()["result"]["blockHash"] is None
            assert pending.headers["x-verification"] == \
                "consistent; checks=tx_fields,tx_hash,tx_signature,tx_chain_id"
            assert (await rpc(client, "eth_getTransactionReceipt", tx_hash)).json()["result"] \
                is None
            anvil(url, "evm_mine")
            mined = await rpc(client, "eth_getTransactionByHash", tx_hash)
            assert proven(mined, "tx_hash", "transactions_root",
                          anchor="quorum")["blockHash"] is not None
    finally:
        anvil(url, "evm_setAutomine", [True])


async def test_web3_sees_a_refusal_as_an_rpc_error(trust_devnet: TrustDevnet,
                                                   liar: LyingProxy) -> None:
    from web3 import AsyncHTTPProvider, AsyncWeb3, Web3
    from web3.exceptions import Web3RPCError

    liar.lie("eth_getBalance", lambda p, b: hex(int(b, 16) + 10**21))
    async with node_behind(liar.url) as (_, client), http_to_asgi(client) as url:
        w3 = AsyncWeb3(AsyncHTTPProvider(url))
        with pytest.raises(Web3RPCError) as err:
            await w3.eth.get_balance(Web3.to_checksum_address(trust_devnet.manifest.delegated))
        assert err.value.rpc_response is not None
        assert err.value.rpc_response["error"]["code"] == INTEGRITY_FAILED
        assert err.value.rpc_response["error"]["data"]["check"] == "account_proof"


async def test_an_upstream_without_eth_get_proof_is_served_unverified(
        trust_devnet: TrustDevnet, liar: LyingProxy) -> None:
    m = trust_devnet.manifest
    liar.refuse("eth_getProof")
    async with node_behind(liar.url) as (_, client):
        resp = await rpc(client, "eth_getBalance", m.delegated, hex(m.head))
        assert resp.json()["result"] == trust_devnet.call("eth_getBalance", m.delegated,
                                                          hex(m.head))
        assert resp.headers["x-verification"] == "unverified"
        assert liar.calls["eth_getProof"] == 1
