"""`bizra-node bench observability`: what metrics cost, measured on and off in one run.

1. In-process: the Dispatcher serving a hit-like route (prefix match, stored bytes with
   the request id spliced in) N times with metrics on and with metrics off (None),
   alternating rounds; reports the best round of each and the overhead.
2. The exporter: one flush of a realistic NodeMetrics (every value changed, and the
   steady state where a few changed), and one scrape merging two workers' files.
3. With wrk installed (`make bench-tools`): a 1-worker `bizra-node serve` on a free port,
   GET /_bench/constant for --duration s each with the API metrics on and off
   (Harness.metrics_enabled).

Options: --requests N (per round, default 200000), --rounds N (5), --duration S (5),
--wrk-rounds N (2), --no-wrk.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

import httpx
import psutil

from bizra_bench.node import node_argv_app, node_env
from bizra_bench.results import publish
from bizra_node.api import Dispatcher, Request, Response, Route, ok_body
from bizra_node.devnet import free_port
from bizra_node.observability import Exporter, MultiprocWriter, NodeMetrics

_CACHED = b'{"valid":true,"data":{"hash":"0x' + b"ab" * 32 + b'","finalized":true},"networkId":1}'
_HEADERS: dict[str, str] = {}


async def _hit(req: Request) -> Response:
    return Response(200, ok_body(_CACHED, req.request_id))


def _dispatcher(metrics: NodeMetrics | None) -> Dispatcher:
    async def other(req: Request) -> Response:
        return Response(200, b"{}")

    routes = [Route(f"/api/v1/validate/{k}", ("POST",), other)
              for k in ("transaction", "block", "address")]
    routes += [Route("/api/v1/blocks/{number}", ("GET",), other),
               Route("/api/v1/addresses/{address}", ("GET",), other),
               Route("/api/v1/transactions/{hash}", ("GET",), _hit)]
    return Dispatcher(routes, 65536, metrics)


async def _drive(dispatcher: Dispatcher, n: int) -> float:
    """Requests per second of ``n`` sequential dispatches of the hit route."""
    path = "/api/v1/transactions/0x" + "ab" * 32
    get = _HEADERS.get
    start = time.perf_counter()
    for i in range(n):
        await dispatcher.dispatch(Request("GET", path, "", get, b"", str(i)))
    return n / (time.perf_counter() - start)


def in_process(requests: int, rounds: int) -> dict[str, Any]:
    on, off = _dispatcher(NodeMetrics()), _dispatcher(None)
    rates: dict[str, list[float]] = {"on": [], "off": []}

    async def main() -> None:
        await _drive(on, requests // 10)  # warm-up
        await _drive(off, requests // 10)
        for _ in range(rounds):
            rates["off"].append(await _drive(off, requests))
            rates["on"].append(await _drive(on, requests))

    asyncio.run(main())
    best_on, best_off = max(rates["on"]), max(rates["off"])
    return {"requests_per_round": requests, "rounds": rounds,
            "on_rps": rates["on"], "off_rps": rates["off"],
            "best_on_rps": best_on, "best_off_rps": best_off,
            "per_request_ns_on": 1e9 / best_on, "per_request_ns_off": 1e9 / best_off,
            "overhead_pct": (best_off - best_on) / best_off * 100}


def _realistic(metrics: NodeMetrics, scale: int) -> None:
    routes = ["/api/v1/validate/transaction", "/api/v1/validate/block", "/api/v1/validate/address",
              "/api/v1/transactions/{param}", "/api/v1/blocks/{param}", "/api/v1/addresses/{param}",
              "/rpc", "/health", "/ready", "/metrics", "unmatched"]
    for r in routes:
        for status in ("200", "400", "503"):
            metrics.api_requests.inc((r, status), scale)
            metrics.api_latency.observe(0.003 * scale % 0.2, (r, status))
    for up in ("http://a:8545", "http://b:8545"):
        for m in ("eth_getTransactionByHash", "eth_getTransactionReceipt", "eth_getBlockByNumber",
                  "eth_getBalance", "eth_blockNumber"):
            metrics.upstream_calls.inc((up, m, "ok"), scale)
            metrics.upstream_latency.observe(0.01, (up, m))
        metrics.breaker_state.set(0, (up,))
    for tier in ("l1", "l2"):
        for kind in ("transaction", "block", "address", "head"):
            metrics.cache_hits.inc((tier, kind), scale)
            metrics.cache_misses.inc((tier, kind), scale)
    metrics.db_pool_in_use.set(scale % 7, ("primary",))


def exporter_costs(repeat: int = 50) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as d:
        m = NodeMetrics()
        _realistic(m, 1)
        writer = MultiprocWriter(m, d)
        first = writer.flush()
        t = time.perf_counter()
        for i in range(repeat):
            _realistic(m, i + 2)
            writer.flush()
        full_us = (time.perf_counter() - t) / repeat * 1e6
        t = time.perf_counter()
        for _ in range(repeat):
            m.api_requests.inc(("/health", "200"))
            m.api_latency.observe(0.001, ("/health", "200"))
            writer.flush()
        steady_us = (time.perf_counter() - t) / repeat * 1e6
        other = MultiprocWriter(m, d, pid=1)
        other.flush()
        exporter = Exporter(m, directory=d)

        async def scrape() -> tuple[float, int]:
            start = time.perf_counter()
            for _ in range(repeat):
                body = await exporter.render()
            return (time.perf_counter() - start) / repeat * 1e3, len(body)

        scrape_ms, size = asyncio.run(scrape())
        writer.close()
        other.close()
    return {"values_per_worker": first, "flush_all_changed_us": full_us,
            "flush_steady_us": steady_us, "scrape_two_workers_ms": scrape_ms,
            "scrape_bytes": size}


def _wrk(url: str, duration: int) -> tuple[float, int]:
    """Requests/s and requests completed."""
    out = subprocess.run(["wrk", "-t1", "-c32", f"-d{duration}s", url], capture_output=True,
                         text=True, timeout=duration + 30, check=True).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    return (float(rps.group(1)) if rps else 0.0), (int(total.group(1)) if total else 0)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of the server process and its workers."""
    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def _serve(enabled: bool) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "BIZRA_NODE_URL": "http://127.0.0.1:9", "DB_ENABLED": "false",
           "LOG_LEVEL": "warning",
           **node_env({"bench_endpoints": True, "metrics_enabled": enabled})}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    proc = subprocess.Popen([sys.executable, "-m", "bizra_node.cli", "serve", "--port", str(port),
                             "--workers", "1", *node_argv_app("rsgi")], env=env,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def over_http(duration: int, rounds: int = 2) -> dict[str, Any]:
    """wrk against a 1-worker server with metrics off, then on, ``rounds`` times. The
    machine is shared, so throughput is noisy; the server's CPU time per request
    (user + system of its processes over the run / requests served) is the steadier
    figure and the one the overhead is computed from."""
    runs: dict[str, list[float]] = {"off": [], "on": []}
    cpu: dict[str, list[float]] = {"off": [], "on": []}
    for i in range(rounds):
        order = [("off", False), ("on", True)]
        for label, enabled in order if i % 2 == 0 else order[::-1]:  # cancel order effects
            proc, base = _serve(enabled)
            try:
                _wrk(base + "/_bench/constant", 1)  # warm-up
                before = _cpu_seconds(proc.pid)
                rps, served = _wrk(base + "/_bench/constant", duration)
                used = _cpu_seconds(proc.pid) - before
                runs[label].append(rps)
                cpu[label].append(used / max(served, 1) * 1e6)
            finally:
                proc.terminate()
                proc.wait(timeout=30)
    off, on = max(runs["off"]), max(runs["on"])
    cpu_off, cpu_on = min(cpu["off"]), min(cpu["on"])
    return {"off_runs": runs["off"], "on_runs": runs["on"], "off_rps": off, "on_rps": on,
            "throughput_overhead_pct": (off - on) / off * 100,
            "cpu_us_per_request_off": cpu_off, "cpu_us_per_request_on": cpu_on,
            "cpu_runs_off": cpu["off"], "cpu_runs_on": cpu["on"],
            "overhead_pct": (cpu_on - cpu_off) / cpu_off * 100, "duration_s": duration}


def request_id_context_ns(n: int = 500_000) -> float:
    """Cost of setting and resetting the request-id contextvar (on in both modes)."""
    import timeit

    from bizra_node.observability import request_id_var

    stmt = "request_id_var.reset(request_id_var.set('rid'))"
    return timeit.timeit(stmt, globals={"request_id_var": request_id_var}, number=n) / n * 1e9


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bizra-node bench observability")
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--wrk-rounds", type=int, default=2)
    parser.add_argument("--no-wrk", action="store_true")
    args = parser.parse_args(argv)

    data: dict[str, Any] = {"in_process": in_process(args.requests, args.rounds),
                            "exporter": exporter_costs(),
                            "request_id_context_ns": request_id_context_ns()}
    if not args.no_wrk and shutil.which("wrk"):
        data["http"] = over_http(args.duration, args.wrk_rounds)
    ip, ex = data["in_process"], data["exporter"]
    lines = [
        "# Observability overhead", "",
        "Metrics on vs off in the same run (best of the rounds).", "",
        "| path | metrics off | metrics on | overhead |", "| --- | --- | --- | --- |",
        f"| Dispatcher, hit-like route, in-process | {ip['best_off_rps']:,.0f} req/s "
        f"({ip['per_request_ns_off']:.0f} ns) | {ip['best_on_rps']:,.0f} req/s "
        f"({ip['per_request_ns_on']:.0f} ns) | {ip['overhead_pct']:.1f} % |",
    ]
    if "http" in data:
        h = data["http"]
        lines.append(f"| granian 1 worker, GET /_bench/constant, wrk {h['duration_s']} s x "
                     f"{len(h['on_runs'])}, 32 conns: server CPU per request "
                     f"| {h['cpu_us_per_request_off']:.1f} µs | {h['cpu_us_per_request_on']:.1f} µs "
                     f"| {h['overhead_pct']:.1f} % |")
        lines.append(f"| same runs, throughput (noisy on a shared machine) "
                     f"| {h['off_rps']:,.0f} req/s | {h['on_rps']:,.0f} req/s "
                     f"| {h['throughput_overhead_pct']:.1f} % |")
    lines += [
        "", f"Both modes set the request-id contextvar for logging: "
        f"{data['request_id_context_ns']:.0f} ns per request.",
        "", "## Exporter", "",
        f"- values one worker publishes (realistic set): {ex['values_per_worker']}",
        f"- flush with every value changed: {ex['flush_all_changed_us']:.0f} µs; "
        f"steady flush (a few changed): {ex['flush_steady_us']:.0f} µs (once a second)",
        f"- scrape merging two workers' files: {ex['scrape_two_workers_ms']:.2f} ms, "
        f"{ex['scrape_bytes']} bytes",
    ]
    md = "\n".join(lines) + "\n"
    publish("observability", data, md)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run(sys.argv[1:]))
