"""Scenarios on real anvil upstreams behind the fault proxy, through the node's HTTP
API: an upstream killed mid-load, a slow one, all down and back, Retry-After, and
each fault kind. Assertions are on answers and counts, not on speed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from bizra_bench.cluster import Cluster
from bizra_bench.faultproxy import Fault, FaultKind
from bizra_node.app import Node
from bizra_node.resilience import State
from bizra_node.settings import Settings
from tests.conftest import make_settings, running_node, tuned


def requests_for(c: Cluster) -> list[Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]]:
    m = c.manifest
    return [
        lambda cl: cl.post("/api/v1/validate/transaction", json={"txHash": m.eip1559_tx}),
        lambda cl: cl.post("/api/v1/validate/address", json={"address": m.accounts[1]}),
        lambda cl: cl.get("/api/v1/validate/block-number"),
        lambda cl: cl.get("/api/v1/blocks/3"),
    ]


async def until(check: Callable[[], bool], timeout: float = 15.0) -> None:
    """Wait for a condition (generous bound: a stuck condition fails, speed does not)."""
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)


def uncached_settings(upstream: str, **overrides: Any) -> Settings:
    """These scenarios count upstream traffic: every request must reach the pool, so
    the answer cache is off (L1 of size 0, no Redis)."""
    return make_settings(upstream, l1_cache_size=0, **overrides)


def after_start(node: Node, cluster: Cluster, fault: Fault) -> tuple[int, int]:
    """Once the node has started (its start asks every upstream for the anchor: a fault
    then would teach it which one is bad before the scenario begins), the upstream it
    would ask first turns bad; counts start from here. Returns (bad, good) indices."""
    for proxy in cluster.proxies:
        proxy.reset_counts()
    health = node.upstreams.health
    bad = min(range(len(health)), key=lambda i: (health[i].score(), i))
    cluster.proxies[bad].set_faults(fault)
    return bad, 1 - bad


def state(node: Node, i: int) -> State:
    return node.upstreams.health[i].breaker.state


async def test_one_upstream_killed_mid_load_no_client_request_fails(cluster3: Cluster) -> None:
    settings = uncached_settings(cluster3.node_url, head_poll_interval=0.2, cb_reset_timeout=60.0)
    reqs = requests_for(cluster3)
    statuses: list[int] = []
    async with running_node(settings) as (node, client):
        async def worker(w: int) -> None:
            for i in range(30):
                resp = await reqs[(w + i) % len(reqs)](client)
                statuses.append(resp.status_code)

        workers = [asyncio.create_task(worker(w)) for w in range(8)]
        await until(lambda: len(statuses) >= 60)
        victim = max(range(3), key=lambda i: cluster3.proxies[i].forwarded)
        await cluster3.kill_async(victim)
        await asyncio.gather(*workers)
        await until(lambda: state(node, victim) is State.OPEN)
        others = [i for i in range(3) if i != victim]
        assert all(state(node, i) is State.CLOSED for i in others)
    assert len(statuses) == 240
    assert set(statuses) == {200}
    assert cluster3.proxies[victim].backend_errors >= 1  # it was asked, and failed over


async def test_slow_upstream_is_hedged_and_answers_come_from_the_fast_one(cluster2: Cluster) -> None:
    settings = uncached_settings(cluster2.node_url, head_poll_interval=0)
    durations: list[float] = []
    async with running_node(settings, tuning=tuned(hedge_delay=0.05)) as (node, client):
        i, j = after_start(node, cluster2, Fault("latency", latency=5.0))
        slow, fast = cluster2.proxies[i], cluster2.proxies[j]
        for _ in range(6):
            started = time.monotonic()
            resp = await client.get("/api/v1/validate/block-number")
            durations.append(time.monotonic() - started)
            assert resp.status_code == 200
        hedges = dict(node.metrics.upstream_hedges.items())
    assert hedges.get(("won",), 0) >= 1
    assert slow.forwarded == 0  # the slow one never got to answer: its calls were cancelled
    assert fast.forwarded >= 6
    assert max(durations) < 5.0 / 2  # generous: at the fast one's speed, not the slow one's


async def test_all_down_503_fast_once_open_then_half_open_and_closed(cluster2: Cluster) -> None:
    settings = uncached_settings(cluster2.node_url, head_poll_interval=0, cb_reset_timeout=3.0)
    async with running_node(settings, tuning=tuned(cb_half_open_probes=2)) as (node, client):
        assert (await client.get("/api/v1/validate/block-number")).status_code == 200
        await cluster2.kill_async(0)
        await cluster2.kill_async(1)
        for _ in range(40):
            resp = await client.get("/api/v1/validate/block-number")
            assert resp.status_code == 503
            if state(node, 0) is State.OPEN and state(node, 1) is State.OPEN:
                break
        assert state(node, 0) is State.OPEN and state(node, 1) is State.OPEN
        received = [p.received for p in cluster2.proxies]
        slowest = 0.0
        for _ in range(20):
            started = time.monotonic()
            resp = await client.get("/api/v1/validate/block-number")
            slowest = max(slowest, time.monotonic() - started)
            assert resp.status_code == 503
            assert resp.json()["error"]["code"] == "UPSTREAM_UNAVAILABLE"
        assert [p.received for p in cluster2.proxies] == received  # nobody was even asked
        assert slowest < 0.5
        ready = await client.get("/ready")
        assert ready.status_code == 503
        ups = ready.json()["data"]["checks"]["upstream"]["upstreams"]
        assert [u["state"] for u in ups.values()] == ["open", "open"]
        assert all(u["rejections"] > 0 for u in ups.values())

        await cluster2.revive_async(0)
        await cluster2.revive_async(1)
        await until(lambda: all(h.breaker.retry_in() == 0 for h in node.upstreams.health))
        for _ in range(10):
            assert (await client.get("/api/v1/validate/block-number")).status_code == 200
        transitions = dict(node.metrics.breaker_transitions.items())
        served = max(range(2), key=lambda i: cluster2.proxies[i].forwarded)
        name = node.upstreams.health[served].name
        assert transitions[(name, "half_open")] >= 1
        assert transitions[(name, "closed")] >= 1
        assert state(node, served) is State.CLOSED
        assert node.metrics.breaker_state.get((name,)) == 0
        ready = await client.get("/ready")
        assert ready.status_code == 200


async def test_retry_after_pauses_the_upstream(cluster2: Cluster) -> None:
    settings = uncached_settings(cluster2.node_url, head_poll_interval=0)
    async with running_node(settings) as (node, client):
        i, j = after_start(node, cluster2, Fault("http", status=429, retry_after=60))
        limited, other = cluster2.proxies[i], cluster2.proxies[j]
        for _ in range(10):
            assert (await client.get("/api/v1/validate/block-number")).status_code == 200
    assert limited.received == 1  # asked once, then left alone for its Retry-After
    assert other.forwarded == 10


@pytest.mark.parametrize("kind", ["drop", "http", "malformed", "rpc_error", "stall"])
async def test_each_fault_kind_on_one_upstream_is_invisible_to_clients(
        cluster2: Cluster, kind: FaultKind) -> None:
    settings = uncached_settings(cluster2.node_url, head_poll_interval=0, rpc_timeout=0.5)
    reqs = requests_for(cluster2)
    async with running_node(settings) as (node, client):
        b, g = after_start(node, cluster2, Fault(kind, status=502))
        bad, good = cluster2.proxies[b], cluster2.proxies[g]
        for i in range(12):
            resp = await reqs[i % len(reqs)](client)
            assert resp.status_code == 200, resp.text
        status: dict[str, Any] = node.upstreams.status()
        hedges_won = node.metrics.upstream_hedges.get(("won",))
        bad_name = node.upstreams.health[b].name
    assert bad.injected[kind] >= 1
    assert good.forwarded >= 12
    bad_info = status["upstreams"][bad_name]
    if kind == "stall":  # a hedge answers first and the stalled call is cancelled
        assert hedges_won >= 1
    else:
        assert bad_info["failures"] >= 1
