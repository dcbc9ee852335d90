"""`bizra-node bench durability`: what each DURABILITY costs on the miss path.

For each mode (async, local, sync), `bizra-node serve` (2 workers, RSGI) on a scratch
PostgreSQL database and a DATA_DIR of its own, against anvil (directly, or through the
latency proxy with --upstream-latency MS), asked only for validations it has never
seen: each request validates a new random address (one upstream batch, one record),
so every answer is a miss that records. Measured, per mode and repetition (the modes'
order rotates between repetitions):

- open loop at --rate req/s for --duration s (latency counted from when each request
  was due, so a stall shows): p50, p95, p99 in ms;
- closed loop, --concurrency clients for --duration s: answers per second, and the
  node's CPU time per answer (µs, all its processes);
- for local: fsyncs of the local log per answer (group commit at work).

Reported: the median and the range over --repeat repetitions. Options: --quick,
--dsn (the PostgreSQL server to make scratch databases on), --modes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from typing import Any

import aiohttp

from bizra_bench.paced import paced_run
from bizra_bench.results import publish
from bizra_bench.stack import ProxyProcess, drop_database, scratch_database, start_node
from bizra_bench.watch import Watch
from bizra_node.devnet import Anvil

MODES = ("async", "local", "sync")
PATH = "/api/v1/validate/address"


def _bodies(n: int) -> list[bytes]:
    return [b'{"address":"0x' + os.urandom(20).hex().encode() + b'"}' for _ in range(n)]


async def _closed_loop(url: str, concurrency: int, duration: float) -> tuple[int, int, float]:
    """(answers, failures, wall s) with ``concurrency`` clients each sending a new
    validation as soon as the last one was answered."""
    ok = failed = 0
    stop = time.perf_counter() + duration
    headers = {"content-type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=30)) as http:
        async def client() -> None:
            nonlocal ok, failed
            while time.perf_counter() < stop:
                try:
                    async with http.post(url, data=_bodies(1)[0], headers=headers) as resp:
                        await resp.read()
                        if resp.status == 200:
                            ok += 1
                        else:
                            failed += 1
                except (aiohttp.ClientError, TimeoutError):
                    failed += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return ok, failed, wall


def _journal_commits(base: str) -> dict[str, float]:
    """Local-log fsyncs and records so far (summed over workers), from /metrics."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(base + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    out = {"fsyncs": 0.0, "records": 0.0}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == "write_journal_fsyncs_total":
                out["fsyncs"] += s.value
            elif (s.name == "write_behind_records_total"
                  and s.labels.get("outcome") == "journaled"):
                out["records"] += s.value
    return out


async def _one(mode: str, upstream: str, admin: str, args: argparse.Namespace) -> dict[str, Any]:
    database = await asyncio.to_thread(scratch_database, admin)
    if not database:
        raise RuntimeError(f"no PostgreSQL at {admin}")
    with tempfile.TemporaryDirectory(prefix="bizra-durability-") as data_dir:
        server, _ = start_node(upstream, workers=2, database_url=database,
                               extra={"DURABILITY": mode, "DATA_DIR": data_dir,
                                      "METRICS_FLUSH_INTERVAL": "0.2"})
        try:
            url = server.base + PATH
            warm = await paced_run("warmup", url, rate=args.rate, duration=1.0,
                                   bodies=_bodies(int(args.rate * 1.5) + 10))
            if warm.failed:
                raise RuntimeError(f"{mode}: {warm.failed} warm-up requests failed")
            with Watch(server.pids()) as watched:
                paced = await paced_run(mode, url, rate=args.rate, duration=args.duration,
                                        bodies=_bodies(int(args.rate * (args.duration + 1))),
                                        warmup=0.5)
            before = await asyncio.to_thread(_journal_commits, server.base)
            with Watch(server.pids()) as loaded:
                ok, failed, wall = await _closed_loop(url, args.concurrency, args.duration)
            await asyncio.sleep(0.5)  # a metrics flush
            after = await asyncio.to_thread(_journal_commits, server.base)
        finally:
            server.stop()
            await asyncio.to_thread(drop_database, admin, database)
    cpu_us = loaded.cpu_pct / 100 * wall / max(ok, 1) * 1e6
    records = after["records"] - before["records"]
    return {"mode": mode, "p50_ms": round(paced.p50_ms, 2), "p95_ms": round(paced.p95_ms, 2),
            "p99_ms": round(paced.p99_ms, 2), "paced_failed": paced.failed,
            "paced_cpu_pct": round(watched.cpu_pct, 1),
            "closed_rps": round(ok / wall, 1), "closed_failed": failed,
            "cpu_us_per_answer": round(cpu_us, 1),
            "fsyncs_per_answer": (round((after["fsyncs"] - before["fsyncs"]) / records, 3)
                                  if records else None)}


def _summary(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for mode in MODES:
        rows = [r for r in runs if r["mode"] == mode]
        if not rows:
            continue
        out[mode] = {}
        for field in ("p50_ms", "p95_ms", "p99_ms", "closed_rps", "cpu_us_per_answer",
                      "fsyncs_per_answer"):
            values = [r[field] for r in rows if r[field] is not None]
            if values:
                out[mode][field] = {"median": round(statistics.median(values), 2),
                                    "min": min(values), "max": max(values)}
    return out


def _markdown(data: dict[str, Any]) -> str:
    lines = ["# bench durability: the miss path under each DURABILITY", "",
             f"2 workers, upstream {data['upstream']}, open loop {data['rate']} req/s for "
             f"{data['duration']} s, closed loop {data['concurrency']} clients; "
             f"{data['repeat']} repetitions: median (min-max)", "",
             "| mode | p50 ms | p95 ms | p99 ms | closed-loop answers/s | CPU µs/answer | "
             "fsyncs/answer |", "|---|---|---|---|---|---|---|"]

    def cell(stats: dict[str, Any], field: str) -> str:
        s = stats.get(field)
        return "-" if s is None else f"{s['median']} ({s['min']}-{s['max']})"

    for mode, stats in data["summary"].items():
        lines.append(f"| {mode} | " + " | ".join(cell(stats, f) for f in (
            "p50_ms", "p95_ms", "p99_ms", "closed_rps", "cpu_us_per_answer",
            "fsyncs_per_answer")) + " |")
    lines += ["", "Runs:", ""] + [f"- {r}" for r in data["runs"]]
    return "\n".join(lines) + "\n"


async def _main(args: argparse.Namespace) -> int:
    modes = [m for m in args.modes.split(",") if m]
    anvil = Anvil().start()
    proxy = None
    try:
        upstream = anvil.url
        if args.upstream_latency:
            proxy = ProxyProcess(anvil.url, args.upstream_latency / 1000).start()
            upstream = proxy.url
        runs = []
        for rep in range(args.repeat):
            order = modes[rep % len(modes):] + modes[:rep % len(modes)]
            for mode in order:
                row = await _one(mode, upstream, args.dsn, args)
                print(row, flush=True)
                runs.append(row)
    finally:
        if proxy is not None:
            proxy.stop()
        anvil.stop()
    data = {"upstream": f"anvil + {args.upstream_latency} ms" if args.upstream_latency
            else "anvil (loopback)", "rate": args.rate, "duration": args.duration,
            "concurrency": args.concurrency, "repeat": args.repeat,
            "summary": _summary(runs), "runs": runs}
    markdown = _markdown(data)
    publish("durability", data, markdown)
    return 0


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bizra-node bench durability", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dsn", default=os.environ.get(
        "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--upstream-latency", type=float, default=0.0, metavar="MS")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--quick", action="store_true", help="one short repetition")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.repeat = 3.0, 1
    return asyncio.run(_main(args))
