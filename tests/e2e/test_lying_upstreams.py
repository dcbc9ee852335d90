"""`bizra-node serve` (a real granian process) behind three upstreams in front of the
same anvil, of which one answers `eth_blockNumber` with a 1 600-bit number and one
answers every call with 50 MB: the node starts, stays up through its head polls and
metric flushes, serves the honest head and counts both liars."""

from __future__ import annotations

import asyncio
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from typing import Any

import aiohttp

from bizra_node.devnet import rpc
from tests.conftest import Devnet
from tests.e2e.test_serve import start_server, stop_server
from tests.support.lying_proxy import LyingProxy, lying_proxy

HUGE = "0x" + "f" * 400


class ProxiesInAThread:
    """Lying proxies served from an event loop of their own (the server's start is
    waited on with blocking calls in the test's thread)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._stack = AsyncExitStack()

    def __enter__(self) -> ProxiesInAThread:
        self._thread.start()
        return self

    def proxy(self, target: str) -> LyingProxy:
        future = asyncio.run_coroutine_threadsafe(
            self._stack.enter_async_context(lying_proxy(target)), self.loop)
        return future.result(10)

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stack.aclose(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@contextmanager
def proxies(devnet: Devnet) -> Iterator[tuple[LyingProxy, LyingProxy]]:
    # a thread each: the 50 MB liar's answers take the CPU for a while, and must not hold
    # up the other one's; the honest upstream is anvil itself (a proxy in this process
    # would be slowed by the liars, here, not in the node)
    with ProxiesInAThread() as a, ProxiesInAThread() as b:
        huge, big = a.proxy(devnet.url), b.proxy(devnet.url)
        huge.lie("eth_blockNumber", lambda p, r: HUGE)
        big.lie("*", lambda p, r: "0x" + "00" * 25_000_000)
        yield huge, big


def metric_lines(base: str, name: str) -> list[str]:
    with urllib.request.urlopen(base + "/metrics", timeout=5) as resp:
        return [line for line in resp.read().decode().splitlines() if line.startswith(name)]


async def test_the_node_starts_and_serves_the_honest_head(devnet: Devnet) -> None:
    with proxies(devnet) as (huge, big):
        urls = ",".join((huge.url, big.url, devnet.url))
        proc, base = start_server({"BIZRA_NODE_URL": urls, "HEAD_POLL_INTERVAL": "0.5"})
        try:
            await asyncio.sleep(2.5)  # several head polls and metric flushes
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
            honest_head = rpc(devnet.url, "eth_blockNumber")
            async with aiohttp.ClientSession() as http:
                for _ in range(5):
                    async with http.post(base + "/rpc", json={
                            "jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"}) as resp:
                        body: dict[str, Any] = await resp.json()
                    assert resp.status == 200 and body.get("result") == honest_head, body
            bounds = [line for line in metric_lines(base, "upstream_integrity_failures_total")
                      if 'check="bounds"' in line and huge.url in line]
            assert bounds and float(bounds[0].split()[-1]) >= 1, bounds
            too_large = [line for line in metric_lines(base, "upstream_calls_total")
                         if 'outcome="too_large"' in line and big.url in line]
            assert too_large and sum(float(x.split()[-1]) for x in too_large) >= 1
            assert huge.rules[0].applied >= 1 and big.rules[0].applied >= 1
            assert not [line for line in metric_lines(base, "upstream_integrity_failures_total")
                        if devnet.url in line and not line.endswith(" 0.0")]
        finally:
            assert stop_server(proc) == 0
