"""Capacity figures from a local cluster (docs/scaling.md, "Capacity").

Starts ``bizra-node cluster`` (N nodes behind HAProxy, Redis, PostgreSQL primary +
replica behind PgBouncer, anvil), drives it with wrk through HAProxy, and measures per
scenario: requests/s; CPU seconds per request of each part (node processes and their
workers, HAProxy, Redis, PostgreSQL, PgBouncer, anvil, wrk) from /proc; Redis commands
and network bytes per request (INFO commandstats / stats); PostgreSQL rows, commits and
WAL bytes per request on the primary (pg_stat_database, pg_current_wal_lsn).

Scenarios: ``hit`` (one seeded transaction: L1 hits), ``l2hit`` (L1 off; random picks
among 2 000 addresses validated beforehand, so every request is answered from Redis),
``miss`` (random new addresses: every request is computed from upstream answers and
recorded). Each runs ``--runs`` times; the JSON has every run.

    .venv/bin/python scripts/cluster_capacity.py --out docs/data/scaling-capacity.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import redis

from bizra_node.cluster import ClusterSpec, ClusterState, down, up

TICK = os.sysconf("SC_CLK_TCK")

HIT_LUA = """
wrk.method = "POST"
wrk.path = "/api/v1/validate/transaction"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"txHash":"%s"}'
"""

MISS_LUA = """
local n = 0
setup = function(thread) n = n + 1; thread:set("tid", n) end
init = function(args) math.randomseed(os.time() * 1000 + tid * 7919) end
request = function()
  local t = {}
  for i = 1, 40 do t[i] = string.format("%x", math.random(0, 15)) end
  return wrk.format("POST", "/api/v1/validate/address",
                    {["Content-Type"] = "application/json"},
                    '{"address":"0x' .. table.concat(t) .. '"}')
end
"""


L2HIT_LUA = """
local addrs = {%s}
local n = 0
setup = function(thread) n = n + 1; thread:set("tid", n) end
init = function(args) math.randomseed(os.time() * 1000 + tid * 7919) end
request = function()
  return wrk.format("POST", "/api/v1/validate/address",
                    {["Content-Type"] = "application/json"},
                    '{"address":"' .. addrs[math.random(#addrs)] .. '"}')
end
"""

WARM_ADDRESSES = [f"0x{i:040x}" for i in range(1, 2001)]


async def _warm(url: str, addresses: list[str]) -> None:
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16)) as session:
        async def one(address: str) -> None:
            async with session.post(url + "/api/v1/validate/address",
                                    json={"address": address}) as resp:
                assert resp.status == 200, await resp.text()
        await asyncio.gather(*(one(a) for a in addresses))


def _procs() -> dict[int, tuple[int, float]]:
    """pid -> (ppid, cpu seconds) of every process."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK)
    return out


def _tree_cpu(roots: list[int], procs: dict[int, tuple[int, float]]) -> float:
    """CPU seconds of ``roots`` and all their descendants."""
    members = set(r for r in roots if r in procs)
    grew = True
    while grew:
        grew = False
        for pid, (ppid, _) in procs.items():
            if ppid in members and pid not in members:
                members.add(pid)
                grew = True
    return sum(procs[p][1] for p in members)


def _postmaster(folder: Path) -> int:
    return int((folder / "data" / "postmaster.pid").read_text().split()[0])


def cpu_snapshot(state: ClusterState) -> dict[str, float]:
    procs = _procs()
    root = state.folder
    groups = {
        "nodes": [p for p in state.node_pids if p],
        "haproxy": [state.haproxy_pid or 0],
        "redis": [state.redis_pid or 0],
        "postgres": [_postmaster(root / "pg-primary"), _postmaster(root / "pg-replica")],
        "pgbouncer": [state.pgbouncer_pid or 0],
        "anvil": [state.anvil_pid or 0],
    }
    snap = {name: _tree_cpu(roots, procs) for name, roots in groups.items()}
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    snap["wrk"] = usage.ru_utime + usage.ru_stime
    with open("/proc/stat") as f:  # the whole machine: ours and everyone else's
        ticks = [int(x) for x in f.readline().split()[1:]]
    snap["machine_busy"] = (sum(ticks) - ticks[3] - ticks[4]) / TICK  # minus idle, iowait
    snap["machine_total"] = sum(ticks) / TICK
    return snap


def redis_snapshot(state: ClusterState) -> dict[str, float]:
    client = redis.Redis(port=state.redis_port)
    try:
        stats = client.info("stats")
        commands = client.info("commandstats")
    finally:
        client.close()
    out = {"net_in": float(stats["total_net_input_bytes"]),
           "net_out": float(stats["total_net_output_bytes"])}
    for name, row in commands.items():
        out[name.removeprefix("cmdstat_")] = float(row["calls"])
    return out


async def _pg(state: ClusterState) -> dict[str, float]:
    conn = await asyncpg.connect(state.primary_dsn)
    try:
        row = await conn.fetchrow(
            "SELECT xact_commit, tup_inserted, pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') "
            "AS wal FROM pg_stat_database WHERE datname = current_database()")
        assert row is not None
        return {"commits": float(row[0]), "rows": float(row[1]), "wal_bytes": float(row[2])}
    finally:
        await conn.close()


def pg_snapshot(state: ClusterState) -> dict[str, float]:
    return asyncio.run(_pg(state))


def run_wrk(url: str, lua: str, *, duration: float, connections: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua)
    try:
        done = subprocess.run(["wrk", "-t", "2", "-c", str(connections), "-d", f"{int(duration)}s",
                               "--latency", "-s", f.name, url], capture_output=True, text=True,
                              timeout=duration + 60, check=True)
    finally:
        os.unlink(f.name)
    text = done.stdout
    total = int(re.search(r"(\d+) requests in", text).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: (.*)", text)
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    return {"requests": total, "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": errors.group(1) if errors else "",
            "p50": p50.group(1) if p50 else "", "p99": p99.group(1) if p99 else ""}


def measure(state: ClusterState, lua: str, *, duration: float,
            connections: int) -> dict[str, Any]:
    cpu0, redis0, pg0 = cpu_snapshot(state), redis_snapshot(state), pg_snapshot(state)
    started = time.monotonic()
    load = run_wrk(state.balancer_url, lua, duration=duration, connections=connections)
    cpu1 = cpu_snapshot(state)
    elapsed = time.monotonic() - started
    time.sleep(1.0)  # write-behind flushes (50 ms) and the last Redis writes land
    redis1, pg1 = redis_snapshot(state), pg_snapshot(state)
    n = load["requests"]
    machine = {k: cpu1.pop(k) - cpu0.pop(k) for k in ("machine_busy", "machine_total")}
    cpu_us = {k: round((cpu1[k] - cpu0[k]) / n * 1e6, 2) for k in cpu0}
    ours = sum(cpu1[k] - cpu0[k] for k in cpu0)
    # the check: if our parts had the whole machine, 1e6 * cores / (sum of their µs per
    # request) would be the throughput; "share" is the part of the busy machine they got
    cores = os.cpu_count() or 1
    total_us = sum(cpu_us.values())
    check = {"cluster_cpu_us_per_request": round(total_us, 1),
             "predicted_rps_whole_machine": round(cores * 1e6 / total_us, 1),
             "share_of_machine_busy": round(ours / machine["machine_busy"], 3),
             "machine_busy_fraction": round(machine["machine_busy"] / machine["machine_total"],
                                            3)}
    redis_per = {k: round((redis1.get(k, 0) - redis0.get(k, 0)) / n, 3) for k in redis1
                 if redis1.get(k, 0) != redis0.get(k, 0)}
    pg_per = {k: round((pg1[k] - pg0[k]) / n, 3) for k in pg0}
    return {"requests": n, "rps": round(n / duration, 1), "elapsed_s": round(elapsed, 2),
            "non2xx": load["non2xx"], "socket_errors": load["socket_errors"],
            "p50": load["p50"], "p99": load["p99"],
            "cpu_us_per_request": cpu_us, "redis_per_request": redis_per,
            "postgres_per_request": pg_per, "check": check,
            "node_rps_per_core": round(1e6 / cpu_us["nodes"], 1) if cpu_us["nodes"] else None}


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def stat(values: list[float]) -> dict[str, float]:
        return {"median": round(statistics.median(values), 2), "min": round(min(values), 2),
                "max": round(max(values), 2)}
    out: dict[str, Any] = {
        "rps": stat([r["rps"] for r in runs]),
        "node_rps_per_core": stat([r["node_rps_per_core"] for r in runs]),
        "cpu_us_per_request": {k: stat([r["cpu_us_per_request"][k] for r in runs])
                               for k in runs[0]["cpu_us_per_request"]},
        "postgres_per_request": {k: stat([r["postgres_per_request"][k] for r in runs])
                                 for k in runs[0]["postgres_per_request"]},
        "check": {k: stat([r["check"][k] for r in runs]) for k in runs[0]["check"]},
    }
    keys = set().union(*(r["redis_per_request"] for r in runs))
    out["redis_per_request"] = {k: stat([r["redis_per_request"].get(k, 0.0) for r in runs])
                                for k in sorted(keys)}
    return out


def scenario(name: str, spec: ClusterSpec, lua_for: Any, args: argparse.Namespace,
             warm: list[str]) -> dict[str, Any]:
    state = up(spec)
    try:
        if warm:
            asyncio.run(_warm(state.balancer_url, warm))
        lua = lua_for(state)
        run_wrk(state.balancer_url, lua, duration=2, connections=args.connections)  # warm
        runs = [measure(state, lua, duration=args.duration, connections=args.connections)
                for _ in range(args.runs)]
    finally:
        down(spec.root)
    print(f"{name}: {json.dumps(summarize(runs)['rps'])} req/s", flush=True)
    return {"runs": runs, "summary": summarize(runs)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scenarios", default="hit,l2hit,miss")
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bizra-capacity-"))

    def spec(**env: str) -> ClusterSpec:
        return ClusterSpec(root=root, nodes=args.nodes, workers=args.workers, port=0,
                           env={"LOG_LEVEL": "warning", **env})

    def hit_lua(state: ClusterState) -> str:
        seed = json.loads((state.folder / "seed.json").read_text())
        return HIT_LUA % str(seed["eip1559_tx"])

    l2hit_lua = L2HIT_LUA % ",".join(f'"{a}"' for a in WARM_ADDRESSES)
    plans: dict[str, tuple[ClusterSpec, Any, list[str]]] = {
        "hit": (spec(), hit_lua, []),
        "l2hit": (spec(L1_CACHE_SIZE="0", TTL_ADDRESS="3600"), lambda _s: l2hit_lua,
                  WARM_ADDRESSES),
        "miss": (spec(), lambda _s: MISS_LUA, []),
    }
    result: dict[str, Any] = {
        "method": {"nodes": args.nodes, "workers_per_node": args.workers,
                   "duration_s": args.duration, "connections": args.connections,
                   "runs": args.runs, "load": "wrk -t 2 through HAProxy",
                   "cpus": os.cpu_count(), "loadavg_before": os.getloadavg()},
        "scenarios": {},
    }
    try:
        for name in args.scenarios.split(","):
            env_spec, lua_for, warm = plans[name]
            result["scenarios"][name] = scenario(name, env_spec, lua_for, args, warm)
    finally:
        shutil.rmtree(root, ignore_errors=True)  # the clusters' logs (down keeps them)
    result["method"]["loadavg_after"] = os.getloadavg()
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
