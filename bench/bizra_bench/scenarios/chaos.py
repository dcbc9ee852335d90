"""`bizra-node bench chaos`: client requests through a node whose upstreams (three
identical anvils) sit behind fault proxies, one phase per fault kind and rate.

Reports, per phase: requests, client-visible failures (any answer but 200), p50 and
p99 latency as the client sees it, and what the pool did about it (retries, hedges,
breaker openings). The node runs in this process and requests enter at its
dispatcher (no HTTP client in the way), so the latencies are the node's own plus the
proxies' (which share this event loop: a fair worst case, not a throughput number).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bizra_bench.cluster import Cluster, start_cluster
from bizra_bench.faultproxy import Fault
from bizra_bench.results import publish
from bizra_node.api import Request
from bizra_node.app import Node
from bizra_node.settings import Settings

_JSON = {"content-type": "application/json"}.get


@dataclass
class Phase:
    name: str
    faults: list[Fault]
    kill: bool = False
    """Stop the anvil of the upstream serving the most a third of the way in."""


PHASES = [
    Phase("baseline (no faults)", []),
    Phase("latency +200 ms, 10 %", [Fault("latency", 0.10, latency=0.2)]),
    Phase("HTTP 503, 10 %", [Fault("http", 0.10, status=503)]),
    Phase("HTTP 429 + Retry-After 1 s, 5 %", [Fault("http", 0.05, status=429, retry_after=1)]),
    Phase("dropped connections, 10 %", [Fault("drop", 0.10)]),
    Phase("malformed JSON, 10 %", [Fault("malformed", 0.10)]),
    Phase("JSON-RPC -32603 errors, 10 %", [Fault("rpc_error", 0.10)]),
    Phase("stalls, 5 %", [Fault("stall", 0.05)]),
    Phase("mixed: all of the above, 3 % each", [
        Fault("latency", 0.03, latency=0.2), Fault("http", 0.03), Fault("drop", 0.03),
        Fault("malformed", 0.03), Fault("rpc_error", 0.03), Fault("stall", 0.03)]),
    Phase("busiest upstream killed mid-phase", [], kill=True),
]


def _requests(c: Cluster) -> list[Callable[[str], Request]]:
    m = c.manifest
    tx = f'{{"txHash":"{m.eip1559_tx}"}}'.encode()
    addr = f'{{"address":"{m.accounts[1]}"}}'.encode()

    def post(path: str, body: bytes) -> Callable[[str], Request]:
        return lambda rid: Request("POST", path, "", _JSON, body, rid)

    def get(path: str) -> Callable[[str], Request]:
        return lambda rid: Request("GET", path, "", _JSON, b"", rid)

    return [post("/api/v1/validate/transaction", tx), post("/api/v1/validate/address", addr),
            get("/api/v1/validate/block-number"), get("/api/v1/blocks/3")]


def _pct(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return 0.0
    return sorted_ms[min(int(q * len(sorted_ms)), len(sorted_ms) - 1)]


def _totals(node: Node) -> dict[str, float]:
    m = node.metrics
    return {"retries": m.upstream_retries.total(), "hedges": m.upstream_hedges.get(("sent",)),
            "opens": sum(v for k, v in m.breaker_transitions.items() if k[1] == "open")}


async def _phase(node: Node, c: Cluster, phase: Phase, n: int, concurrency: int) -> dict[str, Any]:
    for p in c.proxies:
        p.set_faults(*phase.faults)
    reqs = _requests(c)
    latencies: list[float] = []
    failures: dict[int, int] = {}
    before = _totals(node)
    issued = 0

    async def worker() -> None:
        nonlocal issued
        while issued < n:
            i = issued
            issued += 1
            if phase.kill and i == n // 3:
                victim = max(range(len(c.proxies)), key=lambda k: c.proxies[k].forwarded)
                await c.kill_async(victim)
            req = reqs[i % len(reqs)](f"chaos-{i}")
            started = time.perf_counter()
            resp = await node.dispatcher.dispatch(req)
            latencies.append((time.perf_counter() - started) * 1000)
            if resp.status != 200:
                failures[resp.status] = failures.get(resp.status, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    after = _totals(node)
    latencies.sort()
    return {"phase": phase.name, "requests": n, "failures": sum(failures.values()),
            "failures_by_status": failures, "p50_ms": _pct(latencies, 0.5),
            "p99_ms": _pct(latencies, 0.99), "max_ms": latencies[-1] if latencies else 0.0,
            "wall_s": wall, **{k: after[k] - before[k] for k in after},
            "injected": [dict(p.injected) for p in c.proxies]}


async def _main(n: int, concurrency: int) -> list[dict[str, Any]]:
    cluster = await start_cluster(3)
    settings = Settings(_env_file=None, bizra_node_url=cluster.node_url,  # type: ignore[call-arg]
                        db_enabled=False, redis_url="", log_level="error", rpc_timeout=1.0,
                        request_deadline=5.0, cb_reset_timeout=2.0, head_poll_interval=0.5)
    node = Node(settings)
    await node.start()
    rows: list[dict[str, Any]] = []
    try:
        for phase in PHASES:
            for p in cluster.proxies:
                p.reset_counts()
            rows.append(await _phase(node, cluster, phase, n, concurrency))
            r = rows[-1]
            print(f"{r['phase']:<36} failures {r['failures']:>3}/{n}  p50 {r['p50_ms']:7.2f} ms  "
                  f"p99 {r['p99_ms']:8.2f} ms  retries {r['retries']:>4.0f}  "
                  f"hedges {r['hedges']:>4.0f}  opens {r['opens']:.0f}", flush=True)
    finally:
        await node.stop()
        await cluster.close()
    return rows


def _markdown(rows: list[dict[str, Any]], n: int, concurrency: int) -> str:
    lines = [f"# chaos: {n} requests per phase, concurrency {concurrency}, 3 anvil upstreams "
             "behind fault proxies (faults on every upstream at the given rate)", "",
             "| phase | client failures | p50 ms | p99 ms | max ms | retries | hedges | "
             "breaker opens |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['phase']} | {r['failures']}/{r['requests']} | {r['p50_ms']:.2f} | "
                     f"{r['p99_ms']:.2f} | {r['max_ms']:.0f} | {r['retries']:.0f} | "
                     f"{r['hedges']:.0f} | {r['opens']:.0f} |")
    lines += ["", "Node settings: RPC_TIMEOUT 1 s, REQUEST_DEADLINE 5 s, CB_RESET_TIMEOUT 2 s, "
              "HEAD_POLL_INTERVAL 0.5 s, the rest default (3 attempts, 10 % retry budget, "
              "hedge at the upstream's p95)."]
    return "\n".join(lines) + "\n"


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bizra-node bench chaos")
    parser.add_argument("--requests", type=int, default=400, help="per phase")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    logging.getLogger("bizra_node").setLevel(logging.ERROR)  # the run's faults are expected
    rows = asyncio.run(_main(args.requests, args.concurrency))
    md = _markdown(rows, args.requests, args.concurrency)
    publish("chaos", {"requests": args.requests, "concurrency": args.concurrency,
                                   "phases": rows}, md)
    return 0
