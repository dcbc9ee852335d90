"""`bizra-node bench ws-fanout`: one upstream newHeads subscription per worker, fanned
out to many WebSocket clients.

A devnet (anvil) and the node (granian RSGI, ``--workers``) run side by side; the
bench opens ``--clients`` WebSocket connections to ``ws://node/rpc`` (aiohttp, one
process), each subscribing to ``newHeads``, plus ``--slow`` clients that subscribe
``--slow-subscriptions`` times each and never read (socket buffers hold megabytes
on loopback: a slow client is dropped only once they are full). Then it mines
``--blocks`` blocks, one every ``--interval`` s, and records when each client
receives each head.

Reported: heads delivered out of expected (every client, every block); the latency
from the mining call to each client's receipt (median, p99, max over all client x
block pairs); the spread of one block over all clients (last receipt - first); the
node's CPU time per notification above its idle CPU; its memory; and whether the
slow clients were dropped while the others went on (close code 1013, or 1006
when not even the close frame fits in the full socket). The clients
run in this process and their own time counts in the latencies: an upper bound.

Options: --clients N (1000), --slow N (0), --slow-subscriptions N (128), --blocks N
(20), --interval S (0.5), --workers N (2), --buffer N (Tuning.ws_client_buffer; 0: default).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import time
from typing import Any

import aiohttp
import orjson

from bizra_bench.results import publish
from bizra_bench.stack import start_node
from bizra_bench.watch import Watch
from bizra_node.devnet import Anvil

_NUMBER = re.compile(r'"number":"(0x[0-9a-fA-F]+)"')
_SUBSCRIBE = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe",
                           "params": ["newHeads"]}).decode()


class Client:
    def __init__(self, drain: asyncio.Event | None = None) -> None:
        self.arrivals: dict[int, float] = {}
        self.closed_with: int | None = None
        self._drain = drain
        """Slow clients: read nothing until this is set, then read to the end."""

    async def run(self, session: aiohttp.ClientSession, url: str, ready: asyncio.Event,
                  counter: list[int], total: int, slow: int) -> None:
        async with session.ws_connect(url, max_msg_size=0, heartbeat=None) as ws:
            for _ in range(slow or 1):
                await ws.send_str(_SUBSCRIBE)
                answer = await ws.receive()
                if answer.type is not aiohttp.WSMsgType.TEXT or \
                        "result" not in orjson.loads(answer.data):
                    raise RuntimeError(f"subscribe failed: {answer.data!r}")
            counter[0] += 1
            if counter[0] == total:
                ready.set()
            if slow and self._drain is not None:
                # read nothing while blocks are mined: the node must drop this client, not
                # wait for it; afterwards read what is left, to see how the socket ended
                await self._drain.wait()
                async with asyncio.timeout(30):
                    async for _ in ws:
                        pass
                self.closed_with = ws.close_code
                return
            async for msg in ws:
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    break
                now = time.perf_counter()
                found = _NUMBER.search(msg.data)  # cheaper than decoding: the client's own
                if found is not None:              # time is part of what is measured
                    self.arrivals[int(found.group(1), 16)] = now
            self.closed_with = ws.close_code


async def _mine(session: aiohttp.ClientSession, url: str) -> int:
    body = {"jsonrpc": "2.0", "id": 1, "method": "anvil_mine", "params": ["0x1"]}
    async with session.post(url, json=body) as resp:
        await resp.read()
    async with session.post(url, json={"jsonrpc": "2.0", "id": 2,
                                       "method": "eth_blockNumber"}) as resp:
        return int((await resp.json())["result"], 16)


async def _run(args: argparse.Namespace, node_base: str, anvil_url: str,
               pids: list[int]) -> dict[str, Any]:
    ws_url = node_base.replace("http://", "ws://") + "/rpc"
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session, \
            aiohttp.ClientSession() as chain:
        clients = [Client() for _ in range(args.clients)]
        drain = asyncio.Event()
        slow = [Client(drain) for _ in range(args.slow)]
        ready = asyncio.Event()
        counter = [0]
        total = len(clients) + len(slow)
        tasks = [asyncio.create_task(c.run(session, ws_url, ready, counter, total, 0))
                 for c in clients]
        tasks += [asyncio.create_task(c.run(session, ws_url, ready, counter, total,
                                            args.slow_subscriptions)) for c in slow]
        t_connect = time.perf_counter()
        await asyncio.wait_for(ready.wait(), 120)
        connect_s = time.perf_counter() - t_connect
        with Watch(pids) as idle:  # the node's own background work, for comparison
            await asyncio.sleep(2.0)
        mined: dict[int, float] = {}
        with Watch(pids) as watch:
            t0 = time.perf_counter()
            for _ in range(args.blocks):
                started = time.perf_counter()
                number = await _mine(chain, anvil_url)
                mined[number] = started
                deadline = time.perf_counter() + 10
                while time.perf_counter() < deadline and any(
                        number not in c.arrivals for c in clients):
                    await asyncio.sleep(0.005)
                await asyncio.sleep(max(args.interval - (time.perf_counter() - mined[number]),
                                        0))
            wall = time.perf_counter() - t0
        cpu_pct = watch.cpu_pct
        drain.set()
        if slow:
            await asyncio.wait(tasks[len(clients):], timeout=30)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    latencies = [(c.arrivals[n] - t) * 1000 for c in clients for n, t in mined.items()
                 if n in c.arrivals]
    spreads = []
    for n in mined:
        times = [c.arrivals[n] for c in clients if n in c.arrivals]
        if times:
            spreads.append((max(times) - min(times)) * 1000)
    delivered = len(latencies)
    expected = len(clients) * len(mined)
    cpu_s = max(cpu_pct - idle.cpu_pct, 0.0) / 100 * wall
    qs = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else [0.0] * 99
    return {
        "clients": args.clients, "slow_clients": args.slow, "blocks": len(mined),
        "workers": args.workers, "connect_s": round(connect_s, 2),
        "delivered": delivered, "expected": expected,
        "latency_ms": {"p50": round(statistics.median(latencies), 2) if latencies else None,
                       "p99": round(qs[98], 2), "max": round(max(latencies), 2)
                       if latencies else None},
        "spread_ms": {"median": round(statistics.median(spreads), 2) if spreads else None,
                      "max": round(max(spreads), 2) if spreads else None},
        "node_cpu_pct": round(cpu_pct, 1), "node_idle_cpu_pct": round(idle.cpu_pct, 1),
        "node_cpu_us_per_notification": round(cpu_s / delivered * 1e6, 2) if delivered else None,
        "node_rss_peak_mb": round(watch.rss_peak_mb, 1),
        "slow_dropped": sum(1 for c in slow if c.closed_with is not None),
        "slow_close_codes": [c.closed_with for c in slow],
    }


def run(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="bizra-node bench ws-fanout", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--slow", type=int, default=0)
    p.add_argument("--slow-subscriptions", type=int, default=128)
    p.add_argument("--blocks", type=int, default=20)
    p.add_argument("--interval", type=float, default=0.5)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--buffer", type=int, default=0,
                   help="messages waiting per WebSocket client (0: the node's 1 024)")
    args = p.parse_args(argv)
    anvil = Anvil().start()
    server = None
    try:
        tuning = {"ws_client_buffer": args.buffer} if args.buffer else {}
        server, _ = start_node(anvil.url, workers=args.workers, tuning=tuning)
        print(f"ws-fanout: {args.clients} clients (+{args.slow} slow), {args.blocks} blocks "
              f"every {args.interval:g} s, {args.workers} workers", file=sys.stderr)
        result = asyncio.run(_run(args, server.base, anvil.url, server.pids()))
    finally:
        if server is not None:
            server.stop()
        anvil.stop()
    md = _markdown(result)
    publish("ws-fanout", {"settings": vars(args), "result": result}, md)
    return 0 if result["delivered"] == result["expected"] else 1


def _markdown(r: dict[str, Any]) -> str:
    lat, spread = r["latency_ms"], r["spread_ms"]
    lines = [
        f"# bench ws-fanout: {r['clients']} WebSocket clients, newHeads", "",
        f"{r['workers']} workers; {r['blocks']} blocks mined on anvil; the clients run in the "
        "bench process (their own time is in the latencies).", "",
        "| figure | value |", "| --- | ---: |",
        f"| heads delivered / expected | {r['delivered']} / {r['expected']} |",
        f"| latency mining call -> client, median | {lat['p50']} ms |",
        f"| latency p99 | {lat['p99']} ms |",
        f"| latency max | {lat['max']} ms |",
        f"| one block over all clients (last - first), median | {spread['median']} ms |",
        f"| same, max | {spread['max']} ms |",
        f"| node CPU (all workers) | {r['node_cpu_pct']} % of one core "
        f"(idle: {r['node_idle_cpu_pct']} %) |",
        f"| node CPU per notification (above idle) | {r['node_cpu_us_per_notification']} µs |",
        f"| node RSS peak | {r['node_rss_peak_mb']} MiB |",
        f"| connecting and subscribing all clients | {r['connect_s']} s |",
    ]
    if r["slow_clients"]:
        lines.append(f"| slow clients dropped (close codes {sorted(set(r['slow_close_codes']))}) "
                     f"| {r['slow_dropped']} / {r['slow_clients']} |")
    return "\n".join(lines) + "\n"
