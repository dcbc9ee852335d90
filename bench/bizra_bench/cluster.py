"""Several real anvil nodes holding the same chain, each behind a fault proxy.

The first anvil is seeded (``devnet.seed``); its state is dumped and loaded into the
others (``anvil_dumpState`` / ``anvil_loadState``), so blocks, hashes and
transactions are identical on every upstream, as on replicas of one network. An
upstream is "killed" by stopping its anvil process (its proxy then answers 502, as a
load balancer in front of a dead node would) and revived on the same port.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from bizra_bench.faultproxy import FaultProxy
from bizra_node.devnet import Anvil, SeedManifest, rpc, seed

__all__ = ["Cluster", "start_cluster"]


@dataclass
class Cluster:
    anvils: list[Anvil]
    proxies: list[FaultProxy]
    manifest: SeedManifest
    state: str
    """anvil_dumpState of the seeded chain (loaded into revived nodes)."""
    killed: set[int] = field(default_factory=set)

    @property
    def urls(self) -> list[str]:
        return [p.url for p in self.proxies]

    @property
    def node_url(self) -> str:
        """BIZRA_NODE_URL for a node using every upstream."""
        return ",".join(self.urls)

    def kill(self, i: int) -> None:
        """Stop anvil ``i`` (the process exits; its port refuses connections)."""
        self.anvils[i].stop()
        self.killed.add(i)

    async def kill_async(self, i: int) -> None:
        await asyncio.to_thread(self.kill, i)

    def revive(self, i: int) -> None:
        """Start anvil ``i`` again on its port with the same chain."""
        self.anvils[i].start()
        rpc(self.anvils[i].url, "anvil_loadState", [self.state])
        self.killed.discard(i)

    async def revive_async(self, i: int) -> None:
        await asyncio.to_thread(self.revive, i)

    async def close(self) -> None:
        for p in self.proxies:
            await p.stop()
        for a in self.anvils:
            a.stop()

    def stats(self) -> list[dict[str, Any]]:
        return [p.stats() for p in self.proxies]


def _start_anvils(n: int) -> tuple[list[Anvil], SeedManifest, str]:
    anvils: list[Anvil] = []
    try:
        first = Anvil().start()
        anvils.append(first)
        manifest = seed(first.url)
        state = str(rpc(first.url, "anvil_dumpState"))
        for _ in range(n - 1):
            other = Anvil().start()
            anvils.append(other)
            rpc(other.url, "anvil_loadState", [state])
    except BaseException:
        for a in anvils:
            a.stop()
        raise
    return anvils, manifest, state


async def start_cluster(n: int = 3, *, seed_rng: int | None = 1) -> Cluster:
    """``n`` identical anvils, each behind a started FaultProxy (no faults yet)."""
    anvils, manifest, state = await asyncio.to_thread(_start_anvils, n)
    proxies: list[FaultProxy] = []
    try:
        for i, a in enumerate(anvils):
            seed_i = None if seed_rng is None else seed_rng + i
            proxies.append(await FaultProxy(a.url, seed=seed_i, name=f"upstream{i}").start())
    except BaseException:
        for p in proxies:
            await p.stop()
        for a in anvils:
            a.stop()
        raise
    return Cluster(anvils, proxies, manifest, state)
