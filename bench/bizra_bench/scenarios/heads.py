"""`bizra-node bench heads`: what it costs the hit path that the workers of one node
share the heads they have shown (the heads file, validation/shared_heads.py), and
what the other way (Redis) would take.

- In process, one node on a seeded anvil, its chain view with and without a heads
  file, rounds taking each in turn: ns per call of ``ChainView.fresh_head`` (what
  every hit asks), ``RpcService.hit`` for ``eth_blockNumber`` and ``eth_getBalance``
  at ``latest``, and µs per dispatched ``GET /api/v1/transactions/{hash}`` L1 hit
  (the synchronous lane, no HTTP). Median and range of the rounds' best.
- The primitives: one load from the mapped file, and a raise (compare-and-max under
  ``flock``, what a worker pays once per new head).
- Redis instead (loopback, the machine's or --redis): µs from PUBLISH to a
  subscriber's receipt of a head, and of one GET: what every worker would wait for
  or lag by, and it exists only with REDIS_URL.

Options: --quick (fewer iterations), --rounds N (5), --redis URL, --no-redis.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from bizra_bench.results import publish
from bizra_node.api import Request
from bizra_node.app import Node
from bizra_node.devnet import Anvil, seed
from bizra_node.settings import Settings
from bizra_node.validation import HEAD, SharedHeads, create_heads_file, remove_heads_file

__all__ = ["run"]


def _best_per_call(fn: Callable[[], Any], n: int, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def _summary(values: list[float], scale: float) -> dict[str, float]:
    return {"median": round(statistics.median(values) * scale, 1),
            "min": round(min(values) * scale, 1), "max": round(max(values) * scale, 1)}


async def _in_process(url: str, tx: str, address: str, n: int, rounds: int,
                      heads_path: str) -> dict[str, Any]:
    nodes: dict[str, Node] = {}
    for name, path in (("alone", ""), ("shared", heads_path)):
        settings = Settings(_env_file=None, bizra_node_url=url, db_enabled=False,  # type: ignore[call-arg]
                            redis_url="", log_level="warning", heads_file=path,
                            ttl_head=3600, head_follow_ws="off", head_follow_interval=0)
        node = Node(settings)
        await node.start()
        nodes[name] = node
    try:
        headers = {"content-type": "application/json"}
        for node in nodes.values():  # warm: the answers in L1, the head fresh
            await node.service.transaction_answer(tx)
            await node.rpc.answer([_call("eth_getBalance", address)])
            await node.chain.head()
        samples: dict[str, dict[str, list[float]]] = {
            name: {"fresh_head_ns": [], "rpc_blockNumber_hit_ns": [],
                   "rpc_getBalance_latest_hit_ns": [], "get_tx_hit_us": []}
            for name in nodes}
        for _ in range(rounds):
            for name, node in nodes.items():
                chain, rpc, disp = node.chain, node.rpc, node.dispatcher
                assert rpc.hit("eth_getBalance", [address, "latest"]) is not None
                s = samples[name]
                s["fresh_head_ns"].append(_best_per_call(chain.fresh_head, n * 5))

                def block_number(rpc: Any = rpc) -> Any:
                    return rpc.hit("eth_blockNumber", [])

                def balance(rpc: Any = rpc) -> Any:
                    return rpc.hit("eth_getBalance", [address, "latest"])

                s["rpc_blockNumber_hit_ns"].append(_best_per_call(block_number, n * 5))
                s["rpc_getBalance_latest_hit_ns"].append(_best_per_call(balance, n * 2))

                def get_hit(disp: Any = disp) -> None:
                    req = Request("GET", f"/api/v1/transactions/{tx}", "", headers.get, b"",
                                  "bench-request-id")
                    assert disp.answer_now(req) is not None

                s["get_tx_hit_us"].append(_best_per_call(get_hit, n))
        out: dict[str, Any] = {}
        for name, s in samples.items():
            out[name] = {k: _summary(v, 1e6 if k.endswith("_us") else 1e9)
                         for k, v in s.items()}
        return out
    finally:
        for node in nodes.values():
            await node.stop()


def _call(method: str, address: str) -> Any:
    from bizra_node.jsonrpc import Call

    return Call(method, (address, "latest"))


def _primitives(path: str, n: int) -> dict[str, float]:
    heads = SharedHeads.open(path, 31337)
    try:
        words = heads.words
        load = _best_per_call(lambda: words[HEAD], n * 10)
        start = heads.head + 1
        numbers = iter(range(start, start + n * 3 + 10))
        raise_s = _best_per_call(lambda: heads.raise_head(next(numbers)), n)
        same = _best_per_call(lambda: heads.raise_head(start), n * 5)  # not higher: no lock
    finally:
        heads.close()
    return {"load_ns": round(load * 1e9, 1), "raise_us": round(raise_s * 1e6, 2),
            "raise_not_higher_ns": round(same * 1e9, 1)}


async def _redis(url: str, n: int) -> dict[str, Any]:
    import redis.asyncio as aioredis

    channel = f"bizra-bench-heads:{os.getpid()}:{os.urandom(4).hex()}"
    sender = aioredis.Redis.from_url(url)
    listener = aioredis.Redis.from_url(url)
    try:
        await sender.ping()
    except Exception as exc:
        await sender.aclose()
        await listener.aclose()
        return {"skipped": f"redis not answering: {type(exc).__name__}"}
    pubsub = listener.pubsub()
    await pubsub.subscribe(channel)
    await pubsub.get_message(timeout=1.0)  # the subscribe confirmation
    delays, gets = [], []
    try:
        for i in range(n):
            t0 = time.perf_counter()
            await sender.publish(channel, str(i))
            while (msg := await pubsub.get_message(timeout=1.0)) is None \
                    or msg.get("type") != "message":
                pass
            delays.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            await sender.get(channel)
            gets.append(time.perf_counter() - t0)
    finally:
        await pubsub.unsubscribe(channel)
        await pubsub.aclose()
        await sender.aclose()
        await listener.aclose()
    delays.sort()
    gets.sort()
    return {"publish_to_receipt_us": {"median": round(statistics.median(delays) * 1e6, 1),
                                      "p99": round(delays[int(len(delays) * 0.99)] * 1e6, 1)},
            "get_us": {"median": round(statistics.median(gets) * 1e6, 1),
                       "p99": round(gets[int(len(gets) * 0.99)] * 1e6, 1)}}


def _markdown(data: dict[str, Any]) -> str:
    lines = ["# bench heads", "",
             f"{data['rounds']} rounds, each the best of 3 runs; median [min, max] of the "
             "rounds.", "", "## Hit path in process, without and with the heads file", "",
             "| measure | alone | shared | shared - alone (medians) |", "|---|---|---|---|"]
    alone, shared = data["in_process"]["alone"], data["in_process"]["shared"]
    for key in alone:
        a, s = alone[key], shared[key]
        lines.append(f"| {key} | {a['median']} [{a['min']}, {a['max']}] | "
                     f"{s['median']} [{s['min']}, {s['max']}] | "
                     f"{round(s['median'] - a['median'], 2)} |")
    lines += ["", "## The heads file's primitives", ""]
    lines += [f"- {k}: {v}" for k, v in data["primitives"].items()]
    lines += ["", "## Redis instead (loopback)", ""]
    lines += [f"- {k}: {v}" for k, v in data["redis"].items()]
    return "\n".join(lines) + "\n"


async def _main(args: argparse.Namespace) -> int:
    n = 2_000 if args.quick else 20_000
    anvil = Anvil().start()
    path, made = create_heads_file("", 31337)
    try:
        manifest = seed(anvil.url)
        data: dict[str, Any] = {"rounds": args.rounds, "calls": n}
        data["in_process"] = await _in_process(anvil.url, manifest.legacy_tx,
                                               manifest.contract, n, args.rounds, path)
        data["primitives"] = _primitives(path, n)
        data["redis"] = ({"skipped": "--no-redis"} if args.no_redis
                         else await _redis(args.redis, max(n // 10, 200)))
    finally:
        remove_heads_file(path, made)
        anvil.stop()
    md = _markdown(data)
    publish("heads", data, md)
    return 0


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bizra-node bench heads", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--no-redis", action="store_true")
    return asyncio.run(_main(parser.parse_args(argv)))
