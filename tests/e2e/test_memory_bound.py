"""Many distinct large /rpc calls (an attack on memory, scaled down): 20 000 eth_calls with 30 KB
of call data grew each worker by 500 MiB while L1 reported 4 MB, because L1 counted
only the answers' bytes, not the 60 KB keys. Now long keys are digests and L1 counts
keys: L1's bytes stay under L1_MAX_BYTES and the worker's RSS stays bounded."""

from __future__ import annotations

import asyncio
import os

import httpx
import psutil

from tests.conftest import Devnet
from tests.e2e.test_serve import start_server, stop_server

CALLS = 2_000
CALL_DATA = 30_000
L1_MAX_BYTES = 256 * 1024


async def test_distinct_large_eth_calls_keep_memory_bounded(devnet: Devnet) -> None:
    proc, base = start_server({"BIZRA_NODE_URL": devnet.url,
                               "L1_MAX_BYTES": str(L1_MAX_BYTES), "TTL_RECENT": "600"})
    try:
        worker = psutil.Process(proc.pid).children(recursive=True)[0]
        target = devnet.manifest.contract
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            async def call(i: int) -> None:
                data = "0x" + os.urandom(4).hex() + f"{i:08x}" * (CALL_DATA // 4)
                resp = await client.post("/rpc", json={
                    "jsonrpc": "2.0", "id": i, "method": "eth_call",
                    "params": [{"to": target, "data": data[:2 + CALL_DATA * 2]}, "0x1"]})
                assert resp.status_code == 200, resp.text[:300]

            for i in range(100):  # warm up: the worker's steady state
                await call(i)
            before = worker.memory_info().rss
            sem = asyncio.Semaphore(16)

            async def bounded(i: int) -> None:
                async with sem:
                    await call(i)

            await asyncio.gather(*(bounded(i) for i in range(100, CALLS)))
            grew = worker.memory_info().rss - before
            await asyncio.sleep(1.5)  # a metrics flush
            stats = (await client.get("/api/metrics")).json()["cache"]
    finally:
        assert stop_server(proc) == 0
    assert 0 < stats["bytes"]["l1"] <= L1_MAX_BYTES
    assert stats["evictions"]["bytes"] > 0  # the bound was reached and held
    # unbounded, the keys alone would be ~2 000 x 60 KB = 120 MB
    assert grew < 40 * 1024 * 1024, f"RSS grew by {grew / 2**20:.0f} MiB"
