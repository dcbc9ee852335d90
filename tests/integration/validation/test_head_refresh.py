"""The cached head is refreshed ahead of expiry, in the background: a hit in the
head's last half-life is served at once while one refresh is in flight."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import orjson
from aiohttp import web

from bizra_node.cache import Entry
from tests.conftest import Devnet, make_settings, running_node
from tests.support.servers import scripted_upstream


async def test_a_hit_never_waits_for_the_head_refresh(devnet: Devnet) -> None:
    release = asyncio.Event()
    held = asyncio.Event()
    head_calls = 0

    async with aiohttp.ClientSession() as session:
        async def forward(request: web.Request) -> web.Response:
            nonlocal head_calls
            body = await request.read()
            doc = orjson.loads(body)
            if isinstance(doc, dict) and doc.get("method") == "eth_blockNumber":
                head_calls += 1
                held.set()
                await release.wait()  # the refresh hangs until the test lets it go
            async with session.post(devnet.url, data=body,
                                    headers={"Content-Type": "application/json"}) as resp:
                return web.Response(body=await resp.read(), content_type="application/json")

        async with scripted_upstream(forward) as url:
            settings = make_settings(url, ttl_head=60.0)
            async with running_node(settings) as (node, client):
                tx = devnet.manifest.legacy_tx
                first = await client.post("/api/v1/validate/transaction", json={"txHash": tx})
                assert first.status_code == 200
                # the head seen on the way is cached; put it in its last half-life
                head = node.cache.peek("head", "head")
                assert head is not None
                node.cache.put("head", "head", Entry(body=b"", expires=time.time() + 20,
                                                     head=head.head))
                for _ in range(3):  # served while the one refresh is held upstream
                    resp = await client.post("/api/v1/validate/transaction", json={"txHash": tx})
                    assert resp.status_code == 200
                    assert resp.json()["data"]["data"]["confirmations"] >= 1
                await asyncio.wait_for(held.wait(), 10)
                assert head_calls == 1
                release.set()
                for _ in range(200):  # the refresh lands: a full TTL again
                    fresh = node.cache.peek("head", "head")
                    if fresh is not None and fresh.expires > time.time() + 30:
                        break
                    await asyncio.sleep(0.01)
                assert fresh is not None and fresh.expires > time.time() + 30
                assert head_calls == 1


async def test_an_expired_head_is_fetched_before_answering(devnet: Devnet) -> None:
    settings = make_settings(devnet.url, ttl_head=60.0)
    async with running_node(settings) as (node, client):
        tx = devnet.manifest.eip1559_tx
        assert (await client.post("/api/v1/validate/transaction",
                                  json={"txHash": tx})).status_code == 200
        node.cache.l1.delete(("head", "head"))
        resp = await client.post("/api/v1/validate/transaction", json={"txHash": tx})
        assert resp.status_code == 200
        assert resp.json()["data"]["data"]["confirmations"] == \
            devnet.manifest.head - resp.json()["data"]["data"]["blockNumber"] + 1
        assert node.cache.peek("head", "head") is not None
