"""`bizra-node bench batch`: what one answer costs through
``POST /api/v1/validate/transactions`` (up to 100 hashes, one envelope) beside the same
answers asked one request each, all L1 hits, in process (the node's dispatcher, no
HTTP: what the batch saves is the node's per-request work, not the transport's).

- single: ``POST /api/v1/validate/transaction`` for each hash, through the synchronous
  lane (its hit handler) as the server runs it.
- batch of N (1, 10, 100): one ``POST /api/v1/validate/transactions`` with N hashes
  through the full path (the route has no synchronous lane); µs per answer.

Median and range over --rounds rounds of each round's best. Options: --quick, --rounds N.

With --http, the same over HTTP too (bizra_bench.batch_http): the harness's node
(2 workers) and wrk, single POSTs (cycling through the seed's 10 transactions) beside
batches of 10 and 100 of them in the same rounds, as the side-by-side check loads
(wrk -t1 -c64, 3 rounds of 5 s, 1 s warm-up; --duration S, --http-rounds N): req/s,
answers/s and the node's CPU per request and per answer. --no-in-process: HTTP only.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import time
from typing import Any

import orjson

from bizra_bench import batch_http
from bizra_bench.loadgen import OUTSIDE, have_wrk
from bizra_bench.results import publish
from bizra_bench.stack import start_node
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
    lines = []
    if "per_answer" in data:
        lines += [f"# One answer's cost, alone and in a batch ({data['rounds']} rounds, "
                  f"{data['calls']} answers each)", "", "| how | µs per answer, median (range) |",
                  "| --- | --- |"]
        for name, m in data["per_answer"].items():
            lines.append(f"| {name} | {m['median_us']} ({m['min_us']}-{m['max_us']}) |")
    if "http" in data:
        lines += ["", *http_markdown(data["http"])]
    return "\n".join(lines) + "\n"


def _fmt(m: dict[str, float], digits: int = 0) -> str:
    return f"{m['median']:.{digits}f} ({m['min']:.{digits}f}-{m['max']:.{digits}f})"


def http_markdown(http: dict[str, Any]) -> list[str]:
    """The HTTP part's table: median (range) of the rounds."""
    lines = [f"# Over HTTP ({http['setup']}; the node: 2 workers; load {http['load']})", "",
             "| how | req/s | answers/s | node CPU µs per request | per answer | answers/s, "
             "CPU per answer over single | response bytes | errors |",
             "| --- | ---: | ---: | ---: | ---: | --- | ---: | --- |"]
    for name, t in http["targets"].items():
        over = (f"{t['answers/s over single']:.2f}x, {t['cpu per answer over single']:.3f}x"
                if "answers/s over single" in t else "")
        lines.append(f"| {name} | {_fmt(t['req/s'])} | {_fmt(t['answers/s'])} | "
                     f"{_fmt(t['cpu_us_per_request'], 1)} | {_fmt(t['cpu_us_per_answer'], 2)} "
                     f"| {over} | {t.get('response_bytes', '')} | {t['errors']} |")
    return lines


def _http(args: argparse.Namespace, url: str, hashes: list[str]) -> dict[str, Any]:
    """The HTTP part: the harness's node against ``url``, every answer in each worker's
    L1 first (the warm-up does that), then the rounds."""
    import os
    import urllib.request

    node, _ = start_node(url, workers=2)
    try:
        for body in [orjson.dumps({"txHash": h}) for h in hashes] * 4:
            req = urllib.request.Request(node.base + "/api/v1/validate/transaction", data=body,
                                         headers=_HEADERS)
            with urllib.request.urlopen(req, timeout=60) as resp:
                resp.read()
        setup = dataclasses.replace(OUTSIDE, duration=args.duration, rounds=args.http_rounds)
        load = "{:.2f} / {:.2f} / {:.2f}".format(*os.getloadavg())
        data = batch_http.measure(node.base, hashes, setup=setup, watch=node.pids)
        data["load"] = f"{load} before, " + "{:.2f} / {:.2f} / {:.2f} after".format(
            *os.getloadavg())
        return data
    finally:
        node.stop()


async def _main(args: argparse.Namespace) -> int:
    n = 2_000 if args.quick else 20_000
    anvil = Anvil().start()
    try:
        m = seed(anvil.url)
        hashes = [m.legacy_tx, m.eip2930_tx, m.eip1559_tx, m.reverted_tx, m.deploy_tx]
        data: dict[str, Any] = {"rounds": args.rounds, "calls": n}
        if not args.no_in_process:
            data["per_answer"] = await _measure(anvil.url, hashes, n, args.rounds)
        if args.http:
            if not have_wrk():
                print("--http needs wrk (make bench-tools)")
                return 2
            every = [*hashes[:3], *m.transfers, m.deploy_tx, m.call_ok_tx, m.reverted_tx]
            data["http"] = await asyncio.to_thread(_http, args, anvil.url, every)
    finally:
        anvil.stop()
    md = _markdown(data)
    publish("batch", data, md)
    return 0


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bizra-node bench batch", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer answers per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--http", action="store_true",
                        help="also over HTTP with wrk: single POSTs beside batches of 10, 100")
    parser.add_argument("--no-in-process", action="store_true", help="HTTP only")
    parser.add_argument("--duration", type=float, default=OUTSIDE.duration,
                        help="s per wrk round (--http)")
    parser.add_argument("--http-rounds", type=int, default=OUTSIDE.rounds,
                        help="wrk rounds (--http)")
    return asyncio.run(_main(parser.parse_args(argv)))
