"""`bizra-node bench slow-connections`: normal requests' latency while slow clients hold
connections (before the read timeouts, with 2 200 of them, p99 of normal requests rose to
4.4 s).

The node (`bizra-node serve`, 2 workers, RSGI) against anvil, in two set-ups:

- ``before``: what the node did before: `serve --http auto` (granian never times out a
  silent connection), granian's 30 s header timeout, no body timeout, and granian's
  default backpressure (backlog / workers = 1 024 connections per worker);
- ``after``: the defaults (HTTP/1, HTTP_HEADER_TIMEOUT, HTTP_BODY_TIMEOUT,
  HTTP_MAX_CONNECTIONS).

For each, normal requests (GET of a cached transaction: the hit path) are offered at
--rate req/s, open loop (latency from when each was due), for --duration s: once with
no slow clients (baseline), once while a process of its own (bizra_bench.slowclients)
holds --slow connections, a quarter of each kind (silent, trickled headers, a body
that never completes, a trickled chunked body), each reconnecting as soon as the
server lets it go. Reported per set-up and repetition: p50, p99, max, failures, and
how many slow connections the server closed. Median and range over --repeat.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import subprocess
import sys
from typing import Any

from bizra_bench.paced import paced_run
from bizra_bench.results import publish
from bizra_bench.stack import start_node
from bizra_bench.watch import Watch
from bizra_bench.workload import Req
from bizra_node.devnet import Anvil, seed

SETUPS: dict[str, dict[str, str]] = {
    "before": {"HTTP_HEADER_TIMEOUT": "30", "HTTP_BODY_TIMEOUT": "0",
               "HTTP_MAX_CONNECTIONS": "1024"},
    "after": {},
}
SERVE_ARGS: dict[str, list[str]] = {"before": ["--http", "auto"], "after": []}


def _start_slow(url: str, n: int) -> subprocess.Popen[bytes]:
    per = max(n // 4, 1)
    proc = subprocess.Popen([sys.executable, "-m", "bizra_bench.slowclients", url,
                             "--idle", str(per), "--headers", str(per), "--body", str(per),
                             "--chunked", str(n - 3 * per)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != b"holding":
        proc.kill()
        raise RuntimeError("the slow clients did not start")
    return proc


def _stop_slow(proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    return dict(json.loads(out.decode().strip().splitlines()[-1]))


async def _measure(label: str, base: str, tx: str, args: argparse.Namespace,
                   pids: list[int]) -> dict[str, Any]:
    reqs = [Req("GET", f"/api/v1/transactions/{tx}")]
    with Watch(pids) as watched:
        r = await paced_run(label, base, rate=args.rate, duration=args.duration,
                            requests=reqs, warmup=1.0, timeout=30.0)
    return {"p50_ms": round(r.p50_ms, 2), "p99_ms": round(r.p99_ms, 2),
            "max_ms": round(r.max_ms, 2), "ok": r.ok, "failed": r.failed,
            "server_cpu_pct": round(watched.cpu_pct, 1)}


async def _one(setup: str, upstream: str, tx: str, args: argparse.Namespace) -> dict[str, Any]:
    await asyncio.sleep(args.settle)  # the last run's 2 200 sockets are torn down first
    server, _ = start_node(upstream, workers=2, extra=SETUPS[setup],
                           serve_args=SERVE_ARGS[setup])
    try:
        baseline = await _measure("baseline", server.base, tx, args, server.pids())
        slow = await asyncio.to_thread(_start_slow, server.base, args.slow)
        try:
            await asyncio.sleep(args.settle)  # the slow clients connect and settle in
            attacked = await _measure("slow", server.base, tx, args, server.pids())
        finally:
            counts = await asyncio.to_thread(_stop_slow, slow)
    finally:
        server.stop()
    return {"setup": setup, "baseline": baseline, "with_slow_clients": attacked,
            "slow_connections": counts}


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for setup in SETUPS:
        rows = [r for r in runs if r["setup"] == setup]
        if not rows:
            continue
        out[setup] = {}
        for phase in ("baseline", "with_slow_clients"):
            out[setup][phase] = {}
            for field in ("p50_ms", "p99_ms", "max_ms", "failed"):
                values = [r[phase][field] for r in rows]
                out[setup][phase][field] = {"median": round(statistics.median(values), 2),
                                            "min": min(values), "max": max(values)}
    return out


def _markdown(data: dict[str, Any]) -> str:
    lines = ["# bench slow-connections", "",
             f"normal requests: GET of a cached transaction at {data['rate']} req/s for "
             f"{data['duration']} s (open loop); {data['slow']} slow connections; "
             f"{data['repeat']} repetitions: median (min-max)", "",
             "| set-up | phase | p50 ms | p99 ms | max ms | failed |", "|---|---|---|---|---|---|"]
    for setup, phases in data["summary"].items():
        for phase, stats in phases.items():
            cells = [f"{stats[f]['median']} ({stats[f]['min']}-{stats[f]['max']})"
                     for f in ("p50_ms", "p99_ms", "max_ms", "failed")]
            lines.append(f"| {setup} | {phase} | " + " | ".join(cells) + " |")
    lines += ["", "Slow connections opened / closed by the server, per run:", ""]
    lines += [f"- {r['setup']}: {r['slow_connections']}" for r in data["runs"]]
    return "\n".join(lines) + "\n"


async def _main(args: argparse.Namespace) -> int:
    anvil = Anvil().start()
    try:
        tx = seed(anvil.url).legacy_tx
        runs = []
        setups = [s for s in args.setups.split(",") if s]
        for rep in range(args.repeat):
            for setup in setups[rep % len(setups):] + setups[:rep % len(setups)]:
                row = await _one(setup, anvil.url, tx, args)
                print(row, flush=True)
                runs.append(row)
    finally:
        anvil.stop()
    data = {"rate": args.rate, "duration": args.duration, "slow": args.slow,
            "repeat": args.repeat, "summary": _summary(runs), "runs": runs}
    markdown = _markdown(data)
    publish("slow-connections", data, markdown)
    return 0


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bizra-node bench slow-connections", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--slow", type=int, default=2200, help="slow connections held")
    parser.add_argument("--settle", type=float, default=5.0,
                        help="seconds between starting the slow clients and measuring")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--setups", default=",".join(SETUPS))
    parser.add_argument("--quick", action="store_true", help="one short repetition")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.repeat, args.settle = 8.0, 1, 3.0
    return asyncio.run(_main(args))
