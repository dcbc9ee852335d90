"""`bizra-node bench server-options`: granian's options, one at a time, on the hit path.

Every configuration is the harness's node (``bizra_bench.node:create_rsgi_app``, the
same environment as `bench suite`'s node, 2 workers) started by granian's own CLI with
what `bizra-node serve` passes (HTTP/1, no access log, backlog 2048, backpressure
as serve computes it, uvloop) and one option changed. All of them run at once,
idle between loads; each round loads every configuration in turn (wrk, POST
validate/transaction, L1 hit, then GET transactions/{hash}), so a burst of load
from elsewhere hits all alike. Reported: req/s and server CPU µs per request,
median over the rounds, and each configuration's median per-round ratio to the
baseline.

Options: --rounds N (3), --duration S (4), --connections N (32), --only a,b (names).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import urllib.request
from typing import Any

from bizra_bench.loadgen import Server, have_wrk, start_server, wrk
from bizra_bench.node import node_env
from bizra_bench.results import write_results
from bizra_bench.stack import ProxyProcess
from bizra_bench.workload import validation_request
from bizra_node.cli import connection_budget
from bizra_node.devnet import Anvil, seed

BASE = ["--interface", "rsgi", "--factory", "--workers", "2", "--http", "1", "--loop", "uvloop",
        "--backlog", "2048", "--backpressure", str(connection_budget(8192, 2)), "--no-access-log",
        "--log-level", "warning", "--respawn-failed-workers"]
CONFIGS: dict[str, dict[str, str]] = {
    # name: options replaced or added (flag: value; value "" for a bare flag)
    "baseline (serve's options, uvloop)": {},
    "loop asyncio": {"--loop": "asyncio"},
    "loop rloop": {"--loop": "rloop"},
    "http auto (HTTP/1 + HTTP/2)": {"--http": "auto"},
    "websockets off (--no-ws)": {"--no-ws": ""},
    "backpressure 64": {"--backpressure": "64"},
    "backpressure 512": {"--backpressure": "512"},
    "runtime threads 2": {"--runtime-threads": "2"},
    "runtime mode mt": {"--runtime-mode": "mt"},
    "task impl rust": {"--task-impl": "rust"},
}
TARGET = "bizra_bench.node:create_rsgi_app"


def _argv(changes: dict[str, str]) -> list[str]:
    argv, i = [], 0
    while i < len(BASE):
        flag = BASE[i]
        takes_value = i + 1 < len(BASE) and not BASE[i + 1].startswith("--")
        if flag in changes:
            i += 2 if takes_value else 1
            continue
        argv += BASE[i:i + (2 if takes_value else 1)]
        i += 2 if takes_value else 1
    for flag, value in changes.items():
        argv += [flag, value] if value else [flag]
    return [sys.executable, "-m", "granian", *argv, "--port", "{port}", TARGET]


def _env(upstream: str, metrics_dir: str) -> dict[str, str]:
    return {"BIZRA_NODE_URL": upstream, **node_env({"bench_endpoints": True}), "LOG_LEVEL": "warning",
            "REDIS_URL": "", "CACHE_KEY_PREFIX": "bizra-bench-options",
            "CACHE_SECRET": os.urandom(32).hex(), "DB_ENABLED": "false",
            "PROMETHEUS_MULTIPROC_DIR": metrics_dir, "BIZRA_WORKERS": "2"}


def _warm(url: str, body: bytes | None) -> None:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    for _ in range(4):
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()


def run(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="bizra-node bench server-options")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=4)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--only", default="", help="comma-separated configuration names (prefixes)")
    a = p.parse_args(argv)
    if not have_wrk():
        print("wrk is not installed: run `make bench-tools`", file=sys.stderr)
        return 2
    wanted = [w.strip() for w in a.only.split(",") if w.strip()]
    configs = {k: v for k, v in CONFIGS.items()
               if not wanted or k.startswith("baseline") or any(k.startswith(w) for w in wanted)}
    anvil = Anvil().start()
    proxy = None
    servers: dict[str, Server] = {}
    folders: list[str] = []
    figures: dict[str, dict[str, list[tuple[float, float]]]] = {}
    loads: list[float] = []
    try:
        m = seed(anvil.url)
        proxy = ProxyProcess(anvil.url, 0.05).start()
        post = validation_request("transaction", m.legacy_tx)
        get = validation_request("transaction", m.legacy_tx, "get")
        for name, changes in configs.items():
            folders.append(tempfile.mkdtemp(prefix="bizra-metrics-"))
            try:
                servers[name] = start_server(_argv(changes), _env(proxy.url, folders[-1]),
                                             "/health")
            except (RuntimeError, TimeoutError) as exc:
                print(f"{name}: did not start ({str(exc)[-300:]})", file=sys.stderr)
                continue
            _warm(servers[name].base + post.path, post.body)
            _warm(servers[name].base + get.path, None)
        for r in range(a.rounds):
            loads.append(os.getloadavg()[0])
            for name, server in servers.items():
                for hit, req in (("POST hit", post), ("GET hit", get)):
                    res = wrk(name, server.base + req.path, duration=a.duration,
                              connections=a.connections, body=req.body, watch=server.pids())
                    figures.setdefault(name, {}).setdefault(hit, []).append(
                        (res.rps, res.server_cpu_us_per_req))
                print(f"round {r + 1} {name}: " + ", ".join(
                    f"{h} {v[-1][0]:.0f} req/s {v[-1][1]:.1f} µs" for h, v in figures[name].items()),
                    file=sys.stderr, flush=True)
    finally:
        for server in servers.values():
            server.stop()
        if proxy is not None:
            proxy.stop()
        anvil.stop()
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
    base = next(iter(figures.values()), {})
    rows: list[dict[str, Any]] = []
    for name, hits in figures.items():
        for hit, rounds in hits.items():
            ref = base.get(hit) or rounds
            rows.append({
                "config": name, "hit": hit,
                "rps": statistics.median(x[0] for x in rounds),
                "cpu_us": statistics.median(x[1] for x in rounds),
                "rps_vs_base": statistics.median(x[0] / y[0] for x, y in zip(rounds, ref, strict=True)),
                "cpu_vs_base": statistics.median(x[1] / y[1] for x, y in zip(rounds, ref, strict=True)),
                "rounds": rounds})
    lines = [f"# bench server-options ({a.rounds} rounds, wrk {a.connections} connections x "
             f"{a.duration:g} s, 1-min load at each round's start {', '.join(f'{x:.2f}' for x in loads)})",
             "", "| configuration | hit | req/s | CPU µs/request | req/s vs baseline | "
             "CPU/request vs baseline |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r['config']} | {r['hit']} | {r['rps']:.0f} | {r['cpu_us']:.1f} | "
              f"{r['rps_vs_base']:.3f} | {r['cpu_vs_base']:.3f} |" for r in rows]
    text = "\n".join(lines) + "\n"
    write_results("server-options", {"rows": rows, "loads": loads, "args": vars(a)}, text)
    print(text)
    return 0
