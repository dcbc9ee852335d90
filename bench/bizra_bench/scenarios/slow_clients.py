"""`bizra-node bench slow-clients`: do idle and slow connections starve the workers?

The node (`bizra-node serve`, --workers, the seeded devnet) answers an L1-hit GET at a
constant rate (open loop, `paced`), three ways:

1. baseline: nothing else connected;
2. under attack: ``--idle`` idle keep-alive connections (one request, then silence)
   and ``--slow`` slow clients (half trickle their headers, half declare a body and
   trickle it, one byte a second), each reopened as soon as the server closes it;
3. connection budget: a node whose budget is small (HTTP_MAX_CONNECTIONS=--budget)
   and ``2 x budget + 50`` connections that never send a byte: does a new client get
   an answer? (granian's backpressure counts connections, idle ones included; a
   connection that sends nothing is never timed out by granian 2.8, so this is
   what the budget and a proxy in front must cover; see docs/security.md.)

Reported: p50/p99/max of the paced requests, failures, and how many attack
connections the server closed (granian closes slow headers and idle keep-alives after
its header-read timeout, HTTP_HEADER_TIMEOUT; a body that does not arrive within
HTTP_BODY_TIMEOUT gets a 408).

Options: --rate R (300), --duration S (10), --idle N (500), --slow N (50),
--workers N (2), --budget N (128), --rounds N (3: baseline and attack alternate).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from bizra_bench.loadgen import node_argv, start_server
from bizra_bench.paced import paced_run
from bizra_bench.results import publish
from bizra_node.devnet import Anvil, seed


@dataclass
class Attack:
    host: str
    port: int
    idle: int
    slow: int
    closed_by_server: int = 0
    opened: int = 0
    failed_to_open: int = 0
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def _idle(self) -> None:
        while True:
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                self.failed_to_open += 1
                await asyncio.sleep(0.5)
                continue
            self.opened += 1
            try:
                writer.write(b"GET /health HTTP/1.1\r\nHost: bench\r\n\r\n")
                await reader.readuntil(b"\r\n\r\n")
                await reader.read(64)
                while await reader.read(1024):  # silence until the server closes it
                    pass
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                pass
            finally:
                writer.close()
            self.closed_by_server += 1

    async def _slow(self, body: bool) -> None:
        head = (b"POST /api/v1/validate/transaction HTTP/1.1\r\nHost: bench\r\n"
                b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n") if body else \
            b"GET /health HTTP/1.1\r\nHost: bench\r\n"
        while True:
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                self.failed_to_open += 1
                await asyncio.sleep(0.5)
                continue
            self.opened += 1
            try:
                writer.write(head)
                while True:  # a byte a second
                    await asyncio.sleep(1.0)
                    writer.write(b"x" if body else b"X")
                    await writer.drain()
                    if reader.at_eof():
                        break
            except OSError:
                pass
            finally:
                writer.close()
            self.closed_by_server += 1

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.tasks = [loop.create_task(self._idle()) for _ in range(self.idle)]
        self.tasks += [loop.create_task(self._slow(i % 2 == 1)) for i in range(self.slow)]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(BaseException):
                await task


async def _phase(label: str, url: str, args: argparse.Namespace,
                 attack: Attack | None) -> dict[str, Any]:
    if attack is not None:
        attack.start()
        await asyncio.sleep(3.0)  # all connected and idle
    try:
        result = await paced_run(label, url, rate=args.rate, duration=args.duration, warmup=2.0)
    finally:
        if attack is not None:
            await attack.stop()
    out = result.as_dict()
    if attack is not None:
        out.update(attack_opened=attack.opened, attack_closed_by_server=attack.closed_by_server,
                   attack_failed_to_open=attack.failed_to_open)
    print(f"  {label:<40} p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:7.2f} ms  "
          f"max {result.max_ms:7.1f} ms  failed {result.failed}", file=sys.stderr)
    return out


async def _budget(base: str, host: str, port: int, connections: int) -> dict[str, Any]:
    """Open ``connections`` silent connections, then time one normal request."""
    held = []
    for _ in range(connections):
        with contextlib.suppress(OSError):
            held.append(await asyncio.open_connection(host, port))
    await asyncio.sleep(1.0)
    start = time.monotonic()
    try:
        await asyncio.to_thread(urllib.request.urlopen, base + "/health", timeout=5)
        outcome, took = "answered", time.monotonic() - start
    except Exception as exc:
        outcome, took = f"no answer ({type(exc).__name__})", time.monotonic() - start
    for _, writer in held:
        writer.close()
    return {"silent_connections": len(held), "new_request": outcome, "seconds": round(took, 3)}


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bizra-node bench slow-clients")
    parser.add_argument("--rate", type=float, default=300.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--idle", type=int, default=500)
    parser.add_argument("--slow", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--budget", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    anvil = Anvil().start()
    data: dict[str, Any] = {"rate": args.rate, "duration_s": args.duration, "idle": args.idle,
                            "slow": args.slow, "workers": args.workers}
    try:
        manifest = seed(anvil.url)
        env = {"BIZRA_NODE_URL": anvil.url, "DB_ENABLED": "false", "LOG_LEVEL": "warning",
               "REDIS_URL": ""}
        server = start_server(node_argv(args.workers, "rsgi"), env, "/health")
        host, port = "127.0.0.1", int(server.base.rsplit(":", 1)[1])
        url = f"{server.base}/api/v1/transactions/{manifest.legacy_tx}"
        try:
            urllib.request.urlopen(url, timeout=10).read()  # into L1
            data["rounds"] = []
            for _ in range(args.rounds):  # alternate, so drift hits both alike
                data["rounds"].append({
                    "baseline": asyncio.run(_phase("baseline", url, args, None)),
                    "attack": asyncio.run(_phase(
                        f"{args.idle} idle + {args.slow} slow connections", url, args,
                        Attack(host, port, args.idle, args.slow)))})
            for phase in ("baseline", "attack"):
                p99 = sorted(r[phase]["p99_ms"] for r in data["rounds"])
                data[phase] = {**data["rounds"][-1][phase], "p99_ms": statistics.median(p99),
                               "p99_range_ms": [p99[0], p99[-1]],
                               "p50_ms": statistics.median(r[phase]["p50_ms"]
                                                           for r in data["rounds"]),
                               "max_ms": max(r[phase]["max_ms"] for r in data["rounds"]),
                               "failed": sum(r[phase]["failed"] for r in data["rounds"])}
            data["default_budget"] = asyncio.run(_budget(server.base, host, port,
                                                         2 * args.budget + 50))
        finally:
            server.stop()
        small = start_server(node_argv(args.workers, "rsgi"),
                             {**env, "HTTP_MAX_CONNECTIONS": str(args.budget)}, "/health")
        try:
            host, port = "127.0.0.1", int(small.base.rsplit(":", 1)[1])
            data["small_budget"] = {"budget_per_worker": args.budget, **asyncio.run(
                _budget(small.base, host, port, args.workers * args.budget + 50))}
        finally:
            small.stop()
    finally:
        anvil.stop()
    b, a = data["baseline"], data["attack"]
    md = "\n".join([
        "# Slow and idle clients", "",
        f"Node with {args.workers} workers; an L1-hit GET paced at {args.rate:.0f} req/s for "
        f"{args.duration:.0f} s (open loop, latency from when each request was due).", "",
        f"Medians over {args.rounds} rounds, alternating (p99 range in brackets).", "",
        "| phase | p50 | p99 | max | failed |", "| --- | --- | --- | --- | --- |",
        f"| baseline | {b['p50_ms']:.2f} ms | {b['p99_ms']:.2f} ms ({b['p99_range_ms'][0]:.2f}-"
        f"{b['p99_range_ms'][1]:.2f}) | {b['max_ms']:.1f} ms | {b['failed']} |",
        f"| {args.idle} idle + {args.slow} slow connections | {a['p50_ms']:.2f} ms | "
        f"{a['p99_ms']:.2f} ms ({a['p99_range_ms'][0]:.2f}-{a['p99_range_ms'][1]:.2f}) | "
        f"{a['max_ms']:.1f} ms | {a['failed']} |", "",
        f"Attack connections (last round) opened {a['attack_opened']}, closed by the server "
        f"{a['attack_closed_by_server']}, refused {a['attack_failed_to_open']}.", "",
        "Connection budget (silent connections, then one normal request):", "",
        f"- default budget: {data['default_budget']['silent_connections']} silent connections"
        f" -> {data['default_budget']['new_request']} in {data['default_budget']['seconds']} s",
        f"- HTTP_MAX_CONNECTIONS={args.budget}: {data['small_budget']['silent_connections']} "
        f"silent connections -> {data['small_budget']['new_request']} in "
        f"{data['small_budget']['seconds']} s", ""])
    publish("slow-clients", data, md)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run(sys.argv[1:]))
