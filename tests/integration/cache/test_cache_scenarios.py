"""The cache's scenarios (hits, misses, Redis down and back, reorgs), end to end: a Node
over a real anvil, upstream calls counted by a real forwarding proxy, Redis real (the machine's under a unique
prefix, or a redis-server of the test's own when it gets killed)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from bizra_node.app import Node, cache_config, upstream_config
from bizra_node.devnet import rpc
from tests.conftest import Devnet, make_settings, running_node, tuned
from tests.support.proxy import CountingProxy, counting_proxy
from tests.support.redis_server import SHARED_REDIS, RedisServer

TX = "/api/v1/validate/transaction"


@asynccontextmanager
async def proxied_node(upstream: str, **overrides: Any) -> AsyncIterator[
        tuple[CountingProxy, Node, httpx.AsyncClient]]:
    """A node whose upstream calls go through a counting proxy in front of ``upstream``;
    the counts start once the node has started (its anchor and canonical hashes)."""
    async with counting_proxy(upstream) as proxy, \
            running_node(make_settings(proxy.url, **overrides)) as (node, client):
        proxy.reset()
        yield proxy, node, client


async def validate_tx(client: httpx.AsyncClient, tx_hash: str) -> dict[str, Any]:
    resp = await client.post(TX, json={"txHash": tx_hash})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["success"] is True and body["meta"]["requestId"]
    return dict(body["data"])


STEADY_HEAD = {"ttl_head": 60.0}
"""For tests that count every upstream trip: the head read at start stays fresh for the
test's span however slow a loaded machine is (the default 2 s could run out between two
requests, and the head read again is one trip more)."""


async def test_final_tx_answered_twice_costs_one_miss(devnet: Devnet) -> None:
    async with proxied_node(devnet.url, **STEADY_HEAD) as (proxy, node, client):
        first = await validate_tx(client, devnet.manifest.legacy_tx)
        second = await validate_tx(client, devnet.manifest.legacy_tx)
        resp = await client.get(f"/api/v1/transactions/{devnet.manifest.legacy_tx}")
    assert first == second == resp.json()["data"]
    assert first["data"]["finalized"] is True
    assert proxy.round_trips == 2  # the transaction, then its block's proof; then nothing
    assert proxy.methods["eth_getTransactionByHash"] == 1
    assert node.metrics.cache_hits.get(("l1", "transaction")) == 2
    assert resp.headers["cache-control"] == "public, max-age=31536000, immutable"


async def test_hits_keep_the_envelope_and_their_own_request_id(devnet: Devnet) -> None:
    async with running_node(make_settings(devnet.url)) as (_, client):
        await validate_tx(client, devnet.manifest.eip1559_tx)
        resp = await client.post(TX, json={"txHash": devnet.manifest.eip1559_tx},
                                 headers={"x-request-id": "my-id-1"})
    body = resp.json()
    assert list(body) == ["success", "data", "meta"]
    assert body["meta"] == {"requestId": "my-id-1"}
    assert list(body["data"]) == ["valid", "validatedAt", "networkId", "data", "verification"]
    assert body["data"]["data"]["hash"] == devnet.manifest.eip1559_tx


async def test_after_node_restart_the_answer_comes_from_l2(devnet: Devnet,
                                                           shared_prefix: str) -> None:
    async with counting_proxy(devnet.url) as proxy:
        settings = make_settings(proxy.url, redis_url=SHARED_REDIS,
                                 cache_key_prefix=shared_prefix)
        async with running_node(settings) as (_, client):
            first = await validate_tx(client, devnet.manifest.eip2930_tx)
            block = (await client.post("/api/v1/validate/block", json={"blockNumber": 2})).json()
        assert proxy.methods["eth_getTransactionByHash"] == 1
        async with running_node(settings) as (node, client):  # a new process: empty L1
            proxy.reset()  # after its start (the anchor, the canonical hashes)
            again = await validate_tx(client, devnet.manifest.eip2930_tx)
            block_again = (await client.post("/api/v1/validate/block",
                                             json={"blockNumber": 2})).json()
            ready = (await client.get("/ready")).json()
    assert again == first and block_again["data"] == block["data"]
    assert proxy.methods["eth_getTransactionByHash"] == 0
    assert proxy.methods["eth_getBlockByNumber"] == 0
    assert node.metrics.cache_hits.get(("l2", "transaction")) == 1
    assert node.metrics.cache_hits.get(("l2", "block")) == 1
    assert ready["data"]["checks"]["redis"]["status"] == "up"


async def test_fifty_concurrent_identical_requests_cost_one_miss(devnet: Devnet) -> None:
    async with proxied_node(devnet.url, **STEADY_HEAD) as (proxy, node, client):
        answers = await asyncio.gather(*(validate_tx(client, devnet.manifest.transfers[0])
                                         for _ in range(50)))
    assert all(a == answers[0] for a in answers)
    assert proxy.round_trips == 2  # one miss: the transaction, then its block's proof
    assert node.metrics.dedup_requests.get(("transaction",)) == 49
    assert node.cache.stats()["keys"]["transaction"]["deduplicated"] == 49


async def test_latest_moves_on_after_a_new_block(fresh_devnet: Devnet) -> None:
    settings = make_settings(fresh_devnet.url, ttl_head=0.05)
    async with running_node(settings) as (_, client):
        async def latest() -> dict[str, Any]:
            resp = await client.post("/api/v1/validate/block", json={"blockNumber": "latest"})
            return dict(resp.json()["data"]["data"])

        before = await latest()
        assert (await latest()) == before  # cached while the head stands
        rpc(fresh_devnet.url, "anvil_mine", ["0x1"])
        await asyncio.sleep(0.1)  # past ttl_head: the node looks at the head again
        after = await latest()
        head = (await client.get("/api/v1/validate/block-number")).json()["data"]
    assert after["number"] == before["number"] + 1
    assert after["parentHash"] == before["hash"]
    assert head == {"blockNumber": after["number"]}


async def test_confirmations_follow_the_head_on_cache_hits(fresh_devnet: Devnet) -> None:
    async with proxied_node(fresh_devnet.url, ttl_head=0.05) as (proxy, _, client):
        before = (await validate_tx(client, fresh_devnet.manifest.legacy_tx))["data"]
        rpc(fresh_devnet.url, "anvil_mine", ["0x3"])
        await asyncio.sleep(0.1)
        after = (await validate_tx(client, fresh_devnet.manifest.legacy_tx))["data"]
    assert after["confirmations"] == before["confirmations"] + 3
    assert {k: v for k, v in after.items() if k != "confirmations"} == \
        {k: v for k, v in before.items() if k != "confirmations"}
    assert proxy.methods["eth_getTransactionByHash"] == 1  # the tx itself came from cache
    # the head was asked again after the mining (the confirmations say so); how many
    # times more depends on scheduling (a refresh started ahead of the head's expiry)
    assert proxy.methods["eth_blockNumber"] >= 2


async def test_address_state_is_cached_until_the_next_block(fresh_devnet: Devnet) -> None:
    addr = fresh_devnet.manifest.accounts[5]
    async with proxied_node(fresh_devnet.url, ttl_head=0.05) as (proxy, _, client):
        async def account() -> dict[str, Any]:
            resp = await client.post("/api/v1/validate/address", json={"address": addr})
            return dict(resp.json()["data"]["data"])

        first = await account()
        assert await account() == first
        assert proxy.methods["eth_getProof"] == 1
        rpc(fresh_devnet.url, "eth_sendTransaction",
            [{"from": fresh_devnet.manifest.accounts[0], "to": addr, "value": hex(12345)}])
        await asyncio.sleep(0.1)
        second = await account()
    assert int(second["balance"]) == int(first["balance"]) + 12345
    assert second["blockNumber"] > first["blockNumber"]
    assert proxy.methods["eth_getProof"] == 2


async def test_not_found_is_negative_cached_but_never_an_error(devnet: Devnet) -> None:
    unknown = "0x" + "ee" * 32
    # one attempt per call: the injected failure must reach the client, not be retried
    async with proxied_node(devnet.url, retry_attempts=1) as (proxy, _, client):
        first = await validate_tx(client, unknown)
        second = await validate_tx(client, unknown)
        proxy.fail_next = 1  # an upstream failure: 503, and not cached
        failed = await client.post(TX, json={"txHash": "0x" + "dd" * 32})
        recovered = await validate_tx(client, "0x" + "dd" * 32)
    assert first == second and first["valid"] is False
    assert first["error"] == "Transaction not found"
    assert proxy.methods["eth_getTransactionByHash"] == 3
    assert failed.status_code == 503
    assert failed.json()["error"]["code"] == "UPSTREAM_UNAVAILABLE"
    assert recovered["error"] == "Transaction not found"


async def test_redis_killed_mid_run_costs_no_request(devnet: Devnet,
                                                     redis_server: RedisServer) -> None:
    settings = make_settings(devnet.url, redis_url=redis_server.url, l2_timeout=0.05)
    m = devnet.manifest
    hashes = [m.legacy_tx, m.eip2930_tx, m.eip1559_tx, *m.transfers, m.deploy_tx,
              m.call_ok_tx, m.reverted_tx]
    statuses: list[int] = []
    async with running_node(settings, tuning=tuned(l2_breaker_reset=0.05)) as (node, client):
        for tx in hashes[:3]:
            statuses.append((await client.post(TX, json={"txHash": tx})).status_code)
        redis_server.kill()
        for tx in hashes:  # L1 hits and fresh misses, with Redis gone
            statuses.append((await client.post(TX, json={"txHash": tx})).status_code)
        for n in range(1, 6):
            resp = await client.post("/api/v1/validate/block", json={"blockNumber": n})
            statuses.append(resp.status_code)
        ready = await client.get("/ready")
        redis_server.start()
        await asyncio.sleep(0.06)
        statuses.append((await client.post(TX, json={"txHash": m.legacy_tx})).status_code)
        statuses.append((await client.post("/api/v1/validate/block",
                                           json={"blockNumber": 7})).status_code)
        await node.cache.flush()
        back = node.cache.stats()["l2"]
    assert statuses == [200] * len(statuses)
    assert ready.status_code == 200
    assert ready.json()["data"]["checks"]["redis"]["status"] == "degraded"
    assert node.metrics.cache_l2_errors.total() > 0
    assert back["breaker"] == "closed"


async def test_corrupt_l2_bytes_are_a_miss_not_a_500(devnet: Devnet,
                                                     redis_server: RedisServer) -> None:
    import redis.asyncio as aioredis

    settings = make_settings(devnet.url, redis_url=redis_server.url)
    async with running_node(settings) as (node, client):
        raw = aioredis.Redis.from_url(redis_server.url)
        key = node.cache.key("transaction", devnet.manifest.call_ok_tx)
        assert node.cache._auth is not None
        # authentic (sealed with the node's secret) but not an entry: a miss, "decode"
        await raw.set(key, node.cache._auth.seal(key, b"zstdd1:\xde\xad\xbe\xef"))
        await raw.aclose()
        answer = await validate_tx(client, devnet.manifest.call_ok_tx)
    assert answer["valid"] is True
    assert node.metrics.cache_l2_errors.get(("decode",)) == 1


async def test_recorder_sees_only_fresh_results(devnet: Devnet) -> None:
    from bizra_node.cache import TieredCache
    from bizra_node.chain import UpstreamPool
    from bizra_node.observability import NodeMetrics
    from bizra_node.validation import ChainView, ChainViewConfig, Prover, ValidationService

    settings = make_settings(devnet.url)
    recorded: list[tuple[str, str]] = []
    pool = UpstreamPool(upstream_config(settings))
    await pool.start()
    cache = TieredCache(cache_config(settings), NodeMetrics())
    chain = ChainView(pool, ChainViewConfig(finality_depth=64), cache)
    svc = ValidationService(pool, chain, Prover(pool, chain), network_id=31337, cache=cache,
                            recorder=lambda kind, subject, _: recorded.append((kind, subject)))
    try:
        for _ in range(3):
            await svc.transaction_answer(devnet.manifest.legacy_tx)
            await svc.block_answer(1)
            await svc.address_answer(devnet.manifest.contract)
    finally:
        await cache.close()
        await pool.close()
    assert [k for k, _ in recorded] == ["transaction", "block", "address"]


async def test_resources_answer_304_from_cache(devnet: Devnet) -> None:
    async with proxied_node(devnet.url) as (proxy, _, client):
        first = await client.get("/api/v1/blocks/3")
        again = await client.get("/api/v1/blocks/3",
                                 headers={"if-none-match": first.headers["etag"]})
        latest = await client.get("/api/v1/blocks/latest")
    assert first.status_code == 200 and again.status_code == 304
    assert again.headers["etag"] == first.headers["etag"]
    assert latest.headers["cache-control"] == "public, max-age=2"
    assert latest.headers["etag"].startswith('W/"')
    # block 3 and latest (finality is the anchor's, from memory); the 304 cost nothing
    assert proxy.methods["eth_getBlockByNumber"] == 2


async def test_block_number_is_cached(devnet: Devnet) -> None:
    async with proxied_node(devnet.url, **STEADY_HEAD) as (proxy, _, client):
        a = (await client.get("/api/v1/validate/block-number")).json()["data"]
        b = (await client.get("/api/v1/validate/block-number")).json()["data"]
    assert a == b and a["blockNumber"] >= devnet.manifest.head
    assert proxy.round_trips == 0  # the head the node fetched at start is still fresh


async def test_readiness_without_redis_is_ok(node_client: Any) -> None:
    _, client = node_client
    resp = await client.get("/ready")
    assert resp.status_code == 200
    assert resp.json()["data"]["checks"]["redis"] == {"ok": True, "configured": False,
                                                      "mode": "l1-only"}


async def test_service_without_a_cache_answers_fresh_every_time(devnet: Devnet) -> None:
    import msgspec

    from bizra_node.chain import UpstreamPool
    from bizra_node.validation import ChainView, ChainViewConfig, Prover, ValidationService

    settings = make_settings(devnet.url)
    pool = UpstreamPool(upstream_config(settings))
    await pool.start()
    recorded: list[str] = []
    chain = ChainView(pool, ChainViewConfig(finality_depth=64))
    svc = ValidationService(pool, chain, Prover(pool, chain), network_id=31337,
                            recorder=lambda kind, subject, _: recorded.append(kind))
    try:
        tx = msgspec.json.decode((await svc.transaction_answer(devnet.manifest.legacy_tx)).body)
        await svc.transaction_answer(devnet.manifest.legacy_tx)
        assert (await svc.block_answer("latest")).final is False
        assert await svc.chain.head() >= devnet.manifest.head
    finally:
        await pool.close()
    assert tx["data"]["confirmations"] == devnet.manifest.head
    assert recorded == ["transaction", "transaction", "block"]


async def test_cached_answers_are_served_while_no_upstream_answers(devnet: Devnet) -> None:
    """An upstream that stops answering (an overload, a breaker open) leaves cached answers
    served with the last head, the transaction's and the address's alike (the lower-case
    address goes the awaited way), while an answer not cached is a 503; once an upstream
    answers again, a fresh head is taken."""
    tx = devnet.manifest.legacy_tx
    address = devnet.manifest.contract.lower()
    async with proxied_node(devnet.url, ttl_head=0.5, retry_attempts=1) as (proxy, node,
                                                                             client):
        first = await validate_tx(client, tx)
        account = (await client.post("/api/v1/validate/address",
                                     json={"address": address})).json()["data"]
        proxy.fail_next = 10_000
        await asyncio.sleep(0.6)  # the head expired
        resp = await client.post("/api/v1/validate/block", json={"blockNumber": 2})
        assert resp.status_code == 503  # not cached: nobody to ask
        for _ in range(3):
            assert await validate_tx(client, tx) == first
            again = await client.post("/api/v1/validate/address", json={"address": address})
            assert again.status_code == 200 and again.json()["data"] == account
        proxy.fail_next = 0
        for _ in range(50):  # the background retry finds the upstream back
            await asyncio.sleep(0.05)
            if node.chain.fresh_head() is not None:
                break
        assert node.chain.fresh_head() is not None
