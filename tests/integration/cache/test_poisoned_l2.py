"""A poisoned Redis is never served: a value written into Redis by hand under
the node's key for a final transaction -- a well-formed entry with the writer's body
and ETag, bytes that are not JSON, a genuine entry moved from another key -- is a miss
after a restart, through POST and GET, counted and logged; the node answers what the
chain says."""

from __future__ import annotations

import time

import pytest
import redis.asyncio as aioredis

from bizra_node.cache import Entry, encode_entry
from tests.conftest import Devnet, make_settings, running_node
from tests.support.redis_server import RedisServer

FORGED_BODY = b'{"valid":true,"data":{"hash":"forged","status":"confirmed"},"networkId":31337}'


def forged_entries() -> list[bytes]:
    entry = Entry(body=FORGED_BODY, expires=time.time() + 3600, final=True,
                  etag='"forged-etag"')
    raw = encode_entry(entry)
    return [
        b"raw:" + raw,  # what the node wrote before entries were sealed
        b"raw:" + b"\xff\xfenot json at all",
        b"\x00" * 16 + b"raw:" + raw,  # a tag of the right size, made up
    ]


@pytest.mark.parametrize("variant", range(3))
async def test_a_forged_entry_is_a_miss_through_post_and_get(
        devnet: Devnet, redis_server: RedisServer, variant: int,
        caplog: pytest.LogCaptureFixture) -> None:
    tx = devnet.manifest.legacy_tx
    settings = make_settings(devnet.url, redis_url=redis_server.url)
    async with running_node(settings) as (node, _):
        key = node.cache.key("transaction", tx)
    raw = aioredis.Redis.from_url(redis_server.url)
    try:
        await raw.set(key, forged_entries()[variant])
        async with running_node(settings) as (node, client):  # after a restart: L1 empty
            post = await client.post("/api/v1/validate/transaction", json={"txHash": tx})
            get = await client.get(f"/api/v1/transactions/{tx}")
            errors = node.metrics.cache_l2_errors.get(("invalid",))
    finally:
        await raw.aclose()
    for resp in (post, get):
        assert resp.status_code == 200
        data = resp.json()["data"]
        assert data["valid"] is True and data["data"]["hash"] == tx
        assert b"forged" not in resp.content
    assert get.headers["etag"] != '"forged-etag"'
    assert errors >= 1
    assert "refused an entry from Redis" in caplog.text


async def test_a_genuine_entry_under_another_key_is_a_miss(devnet: Devnet,
                                                          redis_server: RedisServer) -> None:
    """The MAC covers the key: an entry cannot be replayed under another subject."""
    settings = make_settings(devnet.url, redis_url=redis_server.url)
    m = devnet.manifest
    async with running_node(settings) as (node, client):
        assert (await client.get(f"/api/v1/transactions/{m.legacy_tx}")).status_code == 200
        await node.cache.flush()
        source, target = (node.cache.key("transaction", m.legacy_tx),
                          node.cache.key("transaction", m.eip1559_tx))
    raw = aioredis.Redis.from_url(redis_server.url)
    try:
        value = await raw.get(source)
        assert value is not None
        await raw.set(target, value)
        async with running_node(settings) as (node, client):
            resp = await client.get(f"/api/v1/transactions/{m.eip1559_tx}")
            errors = node.metrics.cache_l2_errors.get(("invalid",))
    finally:
        await raw.aclose()
    assert resp.json()["data"]["data"]["hash"] == m.eip1559_tx
    assert errors == 1


async def test_nodes_sharing_a_secret_share_entries(devnet: Devnet,
                                                    redis_server: RedisServer) -> None:
    settings = make_settings(devnet.url, redis_url=redis_server.url)
    tx = devnet.manifest.legacy_tx
    async with running_node(settings) as (node, client):
        await client.get(f"/api/v1/transactions/{tx}")
        await node.cache.flush()
    async with running_node(settings) as (node, client):
        assert (await client.get(f"/api/v1/transactions/{tx}")).status_code == 200
        assert node.metrics.cache_hits.get(("l2", "transaction")) == 1
        assert node.metrics.cache_l2_errors.get(("invalid",)) == 0
    other = make_settings(devnet.url, redis_url=redis_server.url,
                          cache_secret="another-secret-another-secret-another-secret")
    async with running_node(other) as (node, client):  # another secret: not trusted
        assert (await client.get(f"/api/v1/transactions/{tx}")).status_code == 200
        assert node.metrics.cache_hits.get(("l2", "transaction")) == 0
        assert node.metrics.cache_l2_errors.get(("invalid",)) >= 1
