"""`bizra-node bench batch`: what one answer costs through
``POST /api/v1/validate/transactions`` (up to 100 hashes, one envelope) beside the same
answers asked one request each, all L1 hits, in process (the node's dispatcher, no
HTTP: what the batch saves is the node's per-request work, not the transport's).

- single: ``POST /api/v1/validate/transaction`` for each hash, through the synchronous
  lane (its hit handler) as the server runs it.
- batch of N (1, 10, 100): one ``POST /api/v1/validate/transactions`` with N hashes
  through the full path (the route has no synchronous lane); µs per answer.

Median and range over --rounds rounds of each round's best. Options: --quick, --rounds N.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import orjson

from bizra_bench.results import write_results
from bizra_node.api import Request
from bizra_node.app import Node
from bizra_node.devnet import Anvil, seed
from bizra_node.settings import Settings

__all__ = ["run"]

SIZES = (1, 10, 100)
_HEADERS = {"content-type": "application/json"}


def _request(path: str, body: bytes) -> Request:
    return Request("POST", path, "", _HEADERS.get, body, "bench-request-id")


async def _measure(url: str, hashes: list[str], n: int, rounds: int) -> dict[str, Any]:
    settings = Settings(_env_file=None, bizra_node_url=url, db_enabled=False,  # type: ignore[call-arg]
                        redis_url="", log_level="warning", head_follow_ws="off",
                        head_follow_interval=0)
    node = Node(settings)
    await node.start()
    try:
        for tx in hashes:
            await node.service.transaction_answer(tx)  # every answer in L1
        disp = node.dispatcher
        singles = [orjson.dumps({"txHash": tx}) for tx in hashes]
        batches = {size: orjson.dumps({"txHashes": (hashes * (size // len(hashes) + 1))[:size]})
                   for size in SIZES}
        samples: dict[str, list[float]] = {"single": [], **{f"batch_{s}": [] for s in SIZES}}
        for _ in range(rounds):
            best = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                for i in range(n):
                    response = disp.answer_now(_request("/api/v1/validate/transaction",
                                                        singles[i % len(singles)]))
                    assert response is not None and response.status == 200
                best = min(best, (time.perf_counter() - t0) / n)
            samples["single"].append(best)
            for size, body in batches.items():
                calls = max(n // size, 20)
                best = float("inf")
                for _ in range(3):
                    t0 = time.perf_counter()
                    for _ in range(calls):
                        response = await disp.dispatch(
                            _request("/api/v1/validate/transactions", body))
                        assert response.status == 200
                    best = min(best, (time.perf_counter() - t0) / (calls * size))
                samples[f"batch_{size}"].append(best)
        return {name: {"median_us": round(statistics.median(v) * 1e6, 2),
                       "min_us": round(min(v) * 1e6, 2), "max_us": round(max(v) * 1e6, 2)}
                for name, v in samples.items()}
    finally:
        await node.stop()


def _markdown(data: dict[str, Any]) -> str:
    lines = [f"# One answer's cost, alone and in a batch ({data['rounds']} rounds, "
             f"{data['calls']} answers each)", "", "| how | µs per answer, median (range) |",
             "| --- | --- |"]
    for name, m in data["per_answer"].items():
        lines.append(f"| {name} | {m['median_us']} ({m['min_us']}-{m['max_us']}) |")
    return "\n".join(lines) + "\n"


async def _main(args: argparse.Namespace) -> int:
    n = 2_000 if args.quick else 20_000
    anvil = Anvil().start()
    try:
        m = seed(anvil.url)
        hashes = [m.legacy_tx, m.eip2930_tx, m.eip1559_tx, m.reverted_tx, m.deploy_tx]
        data: dict[str, Any] = {"rounds": args.rounds, "calls": n,
                                "per_answer": await _measure(anvil.url, hashes, n, args.rounds)}
    finally:
        anvil.stop()
    md = _markdown(data)
    out = write_results("batch", data, md)
    print(md)
    print(f"results: {out}")
    return 0


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bizra-node bench batch", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer answers per round")
    parser.add_argument("--rounds", type=int, default=5)
    return asyncio.run(_main(parser.parse_args(argv)))
