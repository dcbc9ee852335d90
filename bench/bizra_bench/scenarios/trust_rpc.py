"""`bizra-node bench trust`, the /rpc part: what proving /rpc answers costs.

1. Misses (``rpc_misses``): each proven method on keys never asked before, through a
   node (granian, one worker, TRUST_RPC on) behind the fault proxy at 50 ms upstream
   latency: upstream round trips per miss (HTTP requests the proxy received / misses)
   and the median miss latency against the plain call sent to the upstream directly
   (one round trip of what a forwarding proxy would ask). The node's background
   requests are switched off so that every request the proxy counts is a miss's (the
   devnet does not move): no head polls (the proxy has no WebSocket to subscribe
   over; HEAD_FOLLOW_INTERVAL=0, TTL_HEAD=600) and no anchor refresh
   (Tuning.anchor_refresh 600 s).
2. Hits (``rpc_hits``): a cached /rpc answer (eth_getTransactionByHash, final) under
   wrk (16 connections): req/s and the node's CPU µs per request, with proofs on and,
   if ``--baseline-src`` names another source tree (e.g. main's ``src``), a node run
   from that tree, so "the hit path is unchanged" is a measured claim.
"""

from __future__ import annotations

import json
import statistics
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bizra_bench.loadgen import have_wrk, wrk
from bizra_bench.stack import ProxyProcess, start_node
from bizra_node.devnet import Anvil, SeedManifest, seed

__all__ = ["RPC_MISS_TRIPS", "proxied_devnet", "rpc_hits", "rpc_markdown", "rpc_misses"]

RPC_MISS_TRIPS = {
    "eth_getBalance (latest)": 1, "eth_getTransactionCount (number)": 1,
    "eth_getCode (latest)": 1, "eth_getStorageAt (number)": 1,
    "eth_getBlockByNumber (hashes)": 1, "eth_getBlockByNumber (full)": 1,
    "eth_getTransactionByHash (block proven)": 1,
    "eth_getTransactionReceipt (block not proven yet)": 2,
}
"""The upstream round trips each kind of /rpc miss needs (a transaction's block is
known only from the answer: a block not proven yet is one more)."""


_QUIET = {"HEAD_FOLLOW_WS": "off", "HEAD_FOLLOW_INTERVAL": "0", "TTL_HEAD": "600"}
_QUIET_TUNING = {"anchor_refresh": 600.0}
"""No background requests to the upstream while misses are counted."""


@contextmanager
def proxied_devnet(latency: float) -> Iterator[tuple[SeedManifest, ProxyProcess]]:
    """A seeded anvil behind the fault proxy adding ``latency`` s to every request."""
    anvil = Anvil().start()
    proxy = None
    try:
        manifest = seed(anvil.url)
        proxy = ProxyProcess(anvil.url, latency).start()
        yield manifest, proxy
    finally:
        if proxy is not None:
            proxy.stop()
        anvil.stop()


def _body(method: str, *params: Any) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                       "params": list(params)}).encode()


def _post(url: str, body: bytes) -> tuple[float, dict[str, Any], str]:
    """Seconds, the decoded answer and its X-Verification header."""
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=30) as resp:
        data = resp.read()
        said = resp.headers.get("x-verification", "")
    return time.perf_counter() - t0, json.loads(data), said


def _keys(url: str, m: SeedManifest) -> dict[str, list[tuple[str, tuple[Any, ...]]]]:
    """Per kind, six calls never asked before (distinct keys)."""
    def rpc(method: str, *params: Any) -> Any:
        return _post(url, _body(method, *params))[1]["result"]

    head = int(rpc("eth_blockNumber"), 16)
    txs = [m.eip2930_tx, m.eip1559_tx, *m.transfers, m.deploy_tx, m.call_ok_tx, m.reverted_tx]
    blocks = {tx: int(rpc("eth_getTransactionByHash", tx)["blockNumber"], 16) for tx in txs}
    by_block: dict[int, str] = {}
    for tx, n in blocks.items():
        by_block.setdefault(n, tx)
    distinct = list(by_block.values())
    half = len(distinct) // 2
    accounts = m.accounts[1:7]
    return {
        "eth_getBalance (latest)": [("eth_getBalance", (a, "latest")) for a in accounts],
        "eth_getTransactionCount (number)": [("eth_getTransactionCount", (a, hex(head - i)))
                                             for i, a in enumerate(accounts)],
        "eth_getCode (latest)": [("eth_getCode", (a, "latest"))
                                 for a in [m.contract, *accounts[:5]]],
        "eth_getStorageAt (number)": [("eth_getStorageAt", (m.contract, hex(i), hex(head)))
                                      for i in range(6)],
        "eth_getBlockByNumber (hashes)": [("eth_getBlockByNumber", (hex(head - i), False))
                                          for i in range(6)],
        "eth_getBlockByNumber (full)": [("eth_getBlockByNumber", (hex(head - i), True))
                                        for i in range(6, 12)],
        # the blocks of the first half are proven before (their receipts asked once)
        "eth_getTransactionByHash (block proven)": [("eth_getTransactionByHash", (tx,))
                                                    for tx in distinct[:half]],
        "eth_getTransactionReceipt (block not proven yet)": [
            ("eth_getTransactionReceipt", (tx,)) for tx in distinct[half:]],
    }


def _one_round(node_url: str, proxy: ProxyProcess, m: SeedManifest
               ) -> tuple[dict[str, float], dict[str, float], dict[str, float], dict[str, str]]:
    """(miss ms, direct ms, round trips per miss, an X-Verification seen) per kind."""
    keys = _keys(proxy.url, m)
    miss_ms: dict[str, float] = {}
    direct_ms: dict[str, float] = {}
    trips: dict[str, float] = {}
    said: dict[str, str] = {}
    _post(node_url, _body("eth_getBalance", m.accounts[0], "latest"))  # anchor, headers
    for _method, params in keys["eth_getTransactionByHash (block proven)"]:
        _post(node_url, _body("eth_getTransactionReceipt", *params))  # proves the block
    for kind, calls in keys.items():
        proxy.reset()
        seconds = []
        for method, params in calls:
            took, answer, header = _post(node_url, _body(method, *params))
            if "result" not in answer:
                raise RuntimeError(f"{kind}: {answer}")
            seconds.append(took)
            said[kind] = header
        trips[kind] = int(proxy.stats()["received"]) / len(calls)
        miss_ms[kind] = statistics.median(seconds) * 1000
        direct_ms[kind] = statistics.median(
            _post(proxy.url, _body(method, *params))[0] for method, params in calls) * 1000
    return miss_ms, direct_ms, trips, said


def rpc_misses(rounds: int, latency: float = 0.05) -> dict[str, dict[str, Any]]:
    """Per kind: round trips per miss and miss / direct, median (min..max) over
    ``rounds`` fresh nodes."""
    ratios: dict[str, list[float]] = {k: [] for k in RPC_MISS_TRIPS}
    trips: dict[str, list[float]] = {k: [] for k in RPC_MISS_TRIPS}
    ms: dict[str, list[float]] = {k: [] for k in RPC_MISS_TRIPS}
    said: dict[str, str] = {}
    with proxied_devnet(latency) as (manifest, proxy):
        for _ in range(rounds):
            node, _prefix = start_node(proxy.url, workers=1, extra=_QUIET,
                                       tuning=_QUIET_TUNING)
            try:
                miss, direct, counted, said = _one_round(node.base + "/rpc", proxy, manifest)
            finally:
                node.stop()
            for kind in RPC_MISS_TRIPS:
                ratios[kind].append(miss[kind] / direct[kind])
                trips[kind].append(counted[kind])
                ms[kind].append(miss[kind])
    return {kind: {"median": statistics.median(v), "min": min(v), "max": max(v),
                   "miss_ms": statistics.median(ms[kind]),
                   "round_trips": statistics.median(trips[kind]),
                   "expected_round_trips": RPC_MISS_TRIPS[kind], "x_verification": said[kind]}
            for kind, v in ratios.items()}


def rpc_hits(duration: float = 5.0, baseline_src: str = "",
             repeats: int = 3) -> dict[str, dict[str, float]]:
    """A cached /rpc answer under wrk: req/s and node CPU µs per request, median of
    ``repeats`` runs; this tree's node and, with ``baseline_src``, another tree's."""
    if not have_wrk():
        return {}
    anvil = Anvil().start()
    out: dict[str, dict[str, float]] = {}
    try:
        manifest = seed(anvil.url)
        body = _body("eth_getTransactionByHash", manifest.eip1559_tx)
        for tree, m in rpc_hit_in_process(anvil.url, body, baseline_src).items():
            out[f"in process, {tree}"] = m
        trees: list[tuple[str, dict[str, str]]] = [("this tree", {})]
        if baseline_src:
            trees.append(("baseline", {"PYTHONPATH": baseline_src}))
        for name, env in trees:
            node, _prefix = start_node(anvil.url, workers=1, extra=env)
            try:
                url = node.base + "/rpc"
                _post(url, body)
                rps, cpu = [], []
                for _ in range(repeats):
                    r = wrk(f"rpc hit ({name})", url, duration=duration, connections=16,
                            body=body, watch=node.pids())
                    rps.append(r.rps)
                    cpu.append(r.server_cpu_pct / 100 / r.rps * 1e6 if r.rps else 0.0)
                out[name] = {"rps": statistics.median(rps), "cpu_us": statistics.median(cpu),
                             "rps_min": min(rps), "rps_max": max(rps)}
            finally:
                node.stop()
    finally:
        anvil.stop()
    return out


_IN_PROCESS = """
import asyncio, json, statistics, sys, time
from bizra_node.api import Request
from bizra_node.app import Node
from bizra_node.settings import Settings

async def main(url, body, reps, runs):
    node = Node(Settings(_env_file=None, bizra_node_url=url, db_enabled=False, redis_url="",
                         log_level="warning", head_follow_ws="off", head_follow_interval=0))
    await node.start()
    try:
        def req():
            return Request("POST", "/rpc", "", {"content-type": "application/json"}.get,
                           body, "rid")
        await node.dispatcher.dispatch(req())
        await node.dispatcher.dispatch(Request("POST", "/rpc", "",
            {"content-type": "application/json"}.get,
            b'{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}', "rid"))
        answer = node.dispatcher.answer_now
        assert answer(req()) is not None
        samples = []
        for _ in range(runs):
            t0 = time.perf_counter()
            for _ in range(reps):
                answer(req())
            samples.append((time.perf_counter() - t0) / reps * 1e6)
        print(json.dumps(samples))
    finally:
        await node.stop()

asyncio.run(main(sys.argv[1], sys.argv[2].encode(), int(sys.argv[3]), int(sys.argv[4])))
"""


def rpc_hit_in_process(url: str, body: bytes, baseline_src: str = "", reps: int = 20000,
                       runs: int = 7, rounds: int = 3) -> dict[str, dict[str, float]]:
    """µs per /rpc L1 hit through the dispatcher's synchronous lane (request object to
    response object, no HTTP), median (min..max) of ``rounds`` x ``runs``, in fresh
    processes of this tree and, with ``baseline_src``, of that tree, alternated."""
    import os
    import subprocess
    import sys

    trees = [("this tree", "")] + ([("baseline", baseline_src)] if baseline_src else [])
    samples: dict[str, list[float]] = {name: [] for name, _ in trees}
    for _ in range(rounds):  # alternated, so both see the same load on a shared machine
        for name, src in trees:
            env = {**os.environ, **({"PYTHONPATH": src} if src else {})}
            samples[name] += json.loads(subprocess.run(
                [sys.executable, "-c", _IN_PROCESS, url, body.decode(), str(reps), str(runs)],
                capture_output=True, text=True, check=True, env=env, timeout=300).stdout)
    return {name: {"median": statistics.median(v), "min": min(v), "max": max(v)}
            for name, v in samples.items()}


def rpc_markdown(misses: dict[str, dict[str, Any]], hits: dict[str, dict[str, float]]) -> str:
    lines: list[str] = []
    if misses:
        lines += ["", "## /rpc misses with proofs, 50 ms upstream latency", "",
                  "| miss | upstream round trips (expected) | x the plain call direct, median "
                  "(min..max) | miss ms |", "| --- | ---: | --- | ---: |"]
        for kind, m in misses.items():
            lines.append(f"| {kind} | {m['round_trips']:.2f} ({m['expected_round_trips']}) | "
                         f"{m['median']:.2f} ({m['min']:.2f}..{m['max']:.2f}) | "
                         f"{m['miss_ms']:.1f} |")
        lines += ["", "X-Verification seen: " + "; ".join(
            f"{k}: `{m['x_verification'][:60]}...`" for k, m in list(misses.items())[:2])]
    for name, h in hits.items():
        if name.startswith("in process"):
            lines += ["", f"/rpc L1 hit through the synchronous lane ({name}): "
                          f"{h['median']:.2f} µs ({h['min']:.2f}..{h['max']:.2f})"]
    if hits:
        lines += ["", "## /rpc hit (cached eth_getTransactionByHash), wrk -c16, one worker", "",
                  "| node | req/s median (min..max) | node CPU µs per request |",
                  "| --- | --- | ---: |"]
        for name, h in hits.items():
            if name.startswith("in process"):
                continue
            lines.append(f"| {name} | {h['rps']:,.0f} ({h['rps_min']:,.0f}..{h['rps_max']:,.0f})"
                         f" | {h['cpu_us']:.1f} |")
    return "\n".join(lines) + "\n"

