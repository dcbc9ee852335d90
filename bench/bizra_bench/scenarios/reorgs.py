"""`bizra-node bench reorgs`: how long a reorg takes to reach every cache.

Two `bizra-node serve` processes (1 worker each, RSGI) share one Redis (the same key
prefix and CACHE_SECRET) in front of one anvil whose finalized block is 16 behind the
head. Node A follows the heads (defaults: a newHeads subscription on anvil's WebSocket,
polling every HEAD_FOLLOW_INTERVAL while it is down); node B follows nothing, so only
the news over Redis pub/sub can change its cached answers. TTL_RECENT, TTL_NOT_FOUND and
L1_MAX_TTL are an hour.

Each round: a transfer is mined, both nodes answer GET /api/v1/transactions/{hash} (and
answer it again from cache); anvil_reorg replaces the last --depth blocks, the transfer
moved into the new branch; then both nodes are asked every --poll ms until their answer
names the new block. Measured per round, from the moment anvil_reorg returned:

- detection: until node A answers from the new chain (A notices, drops its L1 entry);
- propagation: until node B does (A publishes, B drops; the cost of one more hop);
- B's own reorg_propagation_seconds (from A noticing to B dropping; wall clocks of one
  machine), its mean over the run.

Reported: median and range of each over --rounds rounds per depth, and the CPU time of
both nodes per reorg. Options: --follow ws|poll (how A follows heads), --depths, --rounds, --poll, --redis,
--quick.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import urllib.request
import uuid
from typing import Any

import aiohttp

from bizra_bench.results import publish
from bizra_bench.stack import clear_redis_prefix, redis_up, start_node
from bizra_bench.watch import Watch
from bizra_node.devnet import Anvil, rpc, seed, wait_receipt

LONG = {"TTL_RECENT": "3600", "TTL_NOT_FOUND": "3600", "L1_MAX_TTL": "3600",
        "METRICS_FLUSH_INTERVAL": "0.2"}


def _signed_transfer(url: str, sender: str, to: str) -> str:
    nonce = rpc(url, "eth_getTransactionCount", [sender, "pending"])
    return str(rpc(url, "eth_signTransaction", [{
        "from": sender, "to": to, "value": "0x1", "gas": "0x5208", "nonce": nonce,
        "gasPrice": "0x3b9aca00", "chainId": rpc(url, "eth_chainId", [])}]))


async def _block_hash(http: aiohttp.ClientSession, base: str, tx_hash: str) -> str | None:
    async with http.get(f"{base}/api/v1/transactions/{tx_hash}") as resp:
        body = await resp.json()
    tx = body["data"].get("data")
    return None if tx is None else str(tx["blockHash"])


async def _until_changed(http: aiohttp.ClientSession, base: str, tx_hash: str, old: str,
                         start: float, poll: float, timeout: float = 10.0) -> float:
    """Seconds from ``start`` until ``base`` no longer names ``old`` (NaN: never)."""
    while time.perf_counter() - start < timeout:
        if await _block_hash(http, base, tx_hash) != old:
            return time.perf_counter() - start
        await asyncio.sleep(poll)
    return float("nan")


def _propagation(base: str) -> tuple[float, float]:
    """(sum, count) of reorg_propagation_seconds on a node."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(base + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    total = count = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "reorg_propagation_seconds_sum":
                total += sample.value
            elif sample.name == "reorg_propagation_seconds_count":
                count += sample.value
    return total, count


async def _round(http: aiohttp.ClientSession, url: str, accounts: list[str], a: str, b: str,
                 depth: int, poll: float) -> dict[str, Any]:
    raw = _signed_transfer(url, accounts[3], accounts[4])
    tx_hash = rpc(url, "eth_sendRawTransaction", [raw])
    old = wait_receipt(url, tx_hash)["blockHash"]
    for base in (a, b, a, b):  # cached on both
        if await _block_hash(http, base, tx_hash) != old:
            raise RuntimeError("a node does not answer the transfer's block")
    await asyncio.sleep(0.3)  # A has linked the new block
    rpc(url, "anvil_reorg", [depth, [[raw, depth // 2]]])
    start = time.perf_counter()
    detection, propagation = await asyncio.gather(
        _until_changed(http, a, tx_hash, old, start, poll),
        _until_changed(http, b, tx_hash, old, start, poll))
    return {"depth": depth, "detection_ms": round(detection * 1000, 1),
            "propagation_ms": round(propagation * 1000, 1)}


def _stats(values: list[float]) -> dict[str, float] | None:
    values = [v for v in values if v == v]  # NaN: not reached
    if not values:
        return None
    return {"median": round(statistics.median(values), 1), "min": min(values),
            "max": max(values), "n": len(values)}


def _markdown(data: dict[str, Any]) -> str:
    lines = ["# bench reorgs: from a reorg on the upstream to every cache", "",
             f"2 nodes (1 worker each) sharing Redis, anvil on loopback; node A follows heads "
             f"({data['follow']}), "
             f"node B only listens to A's notices; {data['rounds']} rounds per depth, clients "
             f"poll every {data['poll_ms']} ms: median (min-max) in ms", "",
             "| depth | A answers from the new chain | B answers from the new chain | "
             "B's reorg_propagation_seconds (mean) | not reached |",
             "|---|---|---|---|---|"]

    def cell(stats: dict[str, float] | None) -> str:
        return "-" if stats is None else f"{stats['median']} ({stats['min']}-{stats['max']})"

    for row in data["summary"]:
        lines.append(f"| {row['depth']} | {cell(row['detection_ms'])} | "
                     f"{cell(row['propagation_ms'])} | {row['b_propagation_mean_ms']} | "
                     f"{row['missed']} |")
    lines += ["", f"CPU of both nodes per round (a transfer, 8 cached reads, a reorg, the "
              f"polling): {data['cpu_ms_per_round']} ms", "", "Rounds:", ""]
    lines += [f"- {r}" for r in data["runs"]]
    return "\n".join(lines) + "\n"


async def _main(args: argparse.Namespace) -> int:
    if not redis_up(args.redis):
        print(f"no Redis at {args.redis}: the reorg feed needs one")
        return 2
    depths = [int(d) for d in args.depths.split(",") if d]
    anvil = Anvil(slots_in_an_epoch=8).start()
    prefix = f"bizra-bench-reorgs-{uuid.uuid4().hex[:8]}"
    shared = {**LONG, "CACHE_KEY_PREFIX": prefix, "CACHE_SECRET": os.urandom(32).hex()}
    servers = []
    try:
        manifest = seed(anvil.url, extra_blocks=30)
        follow = {"HEAD_FOLLOW_WS": "off"} if args.follow == "poll" else {}
        node_a, _ = start_node(anvil.url, workers=1, redis_url=args.redis,
                               extra={**shared, **follow})
        servers.append(node_a)
        node_b, _ = start_node(anvil.url, workers=1, redis_url=args.redis,
                               extra={**shared, "HEAD_FOLLOW_WS": "off",
                                      "HEAD_FOLLOW_INTERVAL": "0"})
        servers.append(node_b)
        runs: list[dict[str, Any]] = []
        summary = []
        cpu_rounds = 0
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            with Watch([*node_a.pids(), *node_b.pids()]) as watched:
                started = time.perf_counter()
                for depth in depths:
                    before = await asyncio.to_thread(_propagation, node_b.base)
                    rows = []
                    for _ in range(args.rounds):
                        row = await _round(http, anvil.url, manifest.accounts, node_a.base,
                                           node_b.base, depth, args.poll / 1000)
                        print(row, flush=True)
                        rows.append(row)
                        cpu_rounds += 1
                    await asyncio.sleep(0.5)  # a metrics flush
                    after = await asyncio.to_thread(_propagation, node_b.base)
                    count = after[1] - before[1]
                    summary.append({
                        "depth": depth,
                        "detection_ms": _stats([r["detection_ms"] for r in rows]),
                        "propagation_ms": _stats([r["propagation_ms"] for r in rows]),
                        "b_propagation_mean_ms": (round((after[0] - before[0]) / count * 1000, 1)
                                                  if count else None),
                        "missed": sum(1 for r in rows
                                      if r["propagation_ms"] != r["propagation_ms"])})
                    runs += rows
                wall = time.perf_counter() - started
    finally:
        for server in servers:
            server.stop()
        anvil.stop()
        clear_redis_prefix(args.redis, prefix)
    cpu_ms = watched.cpu_pct / 100 * wall / max(cpu_rounds, 1) * 1000
    data = {"follow": args.follow, "rounds": args.rounds, "poll_ms": args.poll,
            "summary": summary, "runs": runs, "cpu_ms_per_round": round(cpu_ms, 1)}
    markdown = _markdown(data)
    publish(f"reorgs-{args.follow}", data, markdown)
    return 0


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bizra-node bench reorgs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--depths", default="1,3,10")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--poll", type=float, default=5.0, metavar="MS",
                        help="how often the clients ask each node while waiting")
    parser.add_argument("--redis", default=os.environ.get("BENCH_REDIS_URL",
                                                          "redis://127.0.0.1:6379/0"))
    parser.add_argument("--follow", choices=("ws", "poll"), default="ws",
                        help="how node A follows heads: anvil's newHeads subscription, or "
                        "polling every HEAD_FOLLOW_INTERVAL (0.25 s)")
    parser.add_argument("--quick", action="store_true", help="3 rounds per depth")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds = 3
    return asyncio.run(_main(args))
