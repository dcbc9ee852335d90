"""The head is cached for TTL_HEAD and refreshed ahead of expiry in the background:
a hit in the head's last part (Tuning.head_refresh_ahead) is served at once while one
refresh is in flight; past expiry, the head is fetched before answering."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import httpx
import orjson
from aiohttp import web

from tests.conftest import Devnet, make_settings, running_node, tuned
from tests.support.servers import scripted_upstream


class HeadGate:
    """A real forwarding upstream in front of anvil that counts lone eth_blockNumber
    calls (head refreshes) and can hold them until released."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.release.set()
        self.held = asyncio.Event()
        self.calls = 0

    def reset(self) -> None:
        """Count from here (the node asks for the head once at start)."""
        self.calls = 0
        self.held.clear()


@asynccontextmanager
async def head_gate(devnet: Devnet) -> AsyncIterator[tuple[str, HeadGate]]:
    gate = HeadGate()
    async with aiohttp.ClientSession() as session:
        async def forward(request: web.Request) -> web.Response:
            body = await request.read()
            doc = orjson.loads(body)
            if isinstance(doc, dict) and doc.get("method") == "eth_blockNumber":
                gate.calls += 1
                gate.held.set()
                await gate.release.wait()
            async with session.post(devnet.url, data=body,
                                    headers={"Content-Type": "application/json"}) as resp:
                return web.Response(body=await resp.read(), content_type="application/json")

        async with scripted_upstream(forward) as url:
            yield url, gate


async def _validate(client: httpx.AsyncClient, tx: str) -> dict[str, object]:
    resp = await client.post("/api/v1/validate/transaction", json={"txHash": tx})
    assert resp.status_code == 200
    return dict(resp.json()["data"]["data"])


async def test_a_hit_never_waits_for_the_head_refresh(devnet: Devnet) -> None:
    async with head_gate(devnet) as (url, gate):
        # refresh once less than 99 % of the minute is left: after 0.6 s, far from expiry
        settings = make_settings(url, ttl_head=60.0)
        async with running_node(settings, tuning=tuned(head_refresh_ahead=0.99)) as (node, client):
            gate.reset()
            tx = devnet.manifest.legacy_tx
            await _validate(client, tx)  # the head comes with the miss's batch
            first = node.cache.peek("head", "head")
            assert first is not None and gate.calls == 0
            await asyncio.sleep(0.7)
            gate.release.clear()
            for _ in range(3):  # served while the one refresh is held upstream
                tx_data = await _validate(client, tx)
                assert tx_data["confirmations"] == devnet.manifest.head - int(
                    str(tx_data["blockNumber"])) + 1
            await asyncio.wait_for(gate.held.wait(), 10)
            assert gate.calls == 1
            gate.release.set()
            for _ in range(500):  # the refresh lands: a new full TTL
                fresh = node.cache.peek("head", "head")
                if fresh is not None and fresh.expires > first.expires:
                    break
                await asyncio.sleep(0.01)
            assert fresh is not None and fresh.expires > first.expires
            await _validate(client, tx)
            assert gate.calls == 1


async def test_an_expired_head_is_fetched_before_answering(devnet: Devnet) -> None:
    async with head_gate(devnet) as (url, gate):
        settings = make_settings(url, ttl_head=0.2)
        async with running_node(settings, tuning=tuned(head_refresh_ahead=0.0)) as (_, client):
            gate.reset()
            tx = devnet.manifest.eip1559_tx
            await _validate(client, tx)
            await _validate(client, tx)
            assert gate.calls == 0  # fresh: no refresh, and never ahead of time (0)
            await asyncio.sleep(0.3)
            tx_data = await _validate(client, tx)
            assert gate.calls == 1
            assert tx_data["confirmations"] == devnet.manifest.head - int(
                str(tx_data["blockNumber"])) + 1


async def test_with_caching_off_every_head_is_asked_for(devnet: Devnet) -> None:
    async with head_gate(devnet) as (url, gate):
        settings = make_settings(url, l1_cache_size=0)
        async with running_node(settings) as (_, client):
            gate.reset()
            for _ in range(3):
                resp = await client.get("/api/v1/validate/block-number")
                assert resp.json()["data"]["blockNumber"] == devnet.manifest.head
            assert gate.calls == 3
