"""One worker killed under load (issue 15): the node keeps serving, the killed worker's
in-flight requests are the only failures, and a new worker takes its place."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import aiohttp
import psutil

from tests.conftest import Devnet
from tests.e2e.test_serve import start_server, stop_server

CONCURRENCY = 16


def workers(pid: int) -> list[psutil.Process]:
    return [p for p in psutil.Process(pid).children(recursive=True)
            if "bizra" in " ".join(p.cmdline()) or "granian" in " ".join(p.cmdline())
            or p.name().startswith("python")]


async def test_a_killed_worker_is_replaced_and_only_its_requests_fail(devnet: Devnet) -> None:
    proc, base = start_server({"BIZRA_NODE_URL": devnet.url}, "--workers", "2")
    try:
        deadline = time.monotonic() + 20
        while len(workers(proc.pid)) < 2:
            assert time.monotonic() < deadline, "two workers did not start"
            await asyncio.sleep(0.1)
        before = {p.pid for p in workers(proc.pid)}
        url = f"{base}/api/v1/transactions/{devnet.manifest.legacy_tx}"
        results: list[tuple[float, bool]] = []
        stop = asyncio.Event()

        async def client(http: aiohttp.ClientSession) -> None:
            while not stop.is_set():
                try:
                    async with http.get(url) as resp:
                        await resp.read()
                        ok = resp.status == 200
                except (aiohttp.ClientError, TimeoutError):
                    ok = False
                results.append((time.monotonic(), ok))

        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            tasks = [asyncio.create_task(client(http)) for _ in range(CONCURRENCY)]
            await asyncio.sleep(1.5)
            victim = sorted(before)[0]
            killed_at = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            await asyncio.sleep(4)
            stop.set()
            await asyncio.gather(*tasks)
        assert proc.poll() is None, "the server shut down when one worker died"
        after_kill = [ok for at, ok in results if at > killed_at + 0.5]
        assert after_kill and all(after_kill), "requests failed after the kill settled"
        failures = sum(1 for _, ok in results if not ok)
        assert failures <= CONCURRENCY, f"{failures} failures: more than the in-flight requests"
        deadline = time.monotonic() + 15
        while True:
            now = {p.pid for p in workers(proc.pid)}
            if len(now) == 2 and victim not in now:
                break
            assert time.monotonic() < deadline, f"no new worker: {now}"
            await asyncio.sleep(0.2)
    finally:
        assert stop_server(proc) == 0
