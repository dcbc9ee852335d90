"""`bizra-node bench balancer-cache`: what the balancer's cache of final answers
(bizra_node.cluster.haproxy, as `cluster up` writes it) gains on a GET hit.

One node (the harness's, --workers, 2) against a seeded anvil; in front of it two
HAProxies with `cluster up`'s config, one with the cache (64 MB) and one without
(``cache_mb=0``), and the node itself. ``GET /api/v1/transactions/{hash}`` of a final
transaction, loaded as the side-by-side check loads (wrk -t1 -c64, 3 rounds of 5 s,
1 s warm-up per target; --duration S, --rounds N), each target in turn every round:
req/s and CPU per request of the node's processes plus the HAProxy in front (median and
range of the rounds), and the cache's gain (median of the rounds' ratios).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bizra_bench.loadgen import OUTSIDE, have_wrk, wrk
from bizra_bench.results import publish
from bizra_bench.stack import start_node
from bizra_bench.workload import validation_request
from bizra_node.cluster.haproxy import haproxy_binary, render_config, server_states
from bizra_node.devnet import Anvil, free_port, seed

__all__ = ["gains", "run"]

Round = tuple[float, float, int]
"""req/s, CPU µs per request (node + the HAProxy in front), errors."""


def gains(rounds: dict[str, list[Round]]) -> dict[str, Any]:
    """Median and range of each target's figures, and the cache's gain over HAProxy
    without it (median of the rounds' ratios: req/s, and CPU per request). A round in
    which either HAProxy answered errors is left out of the gain (a server answering
    errors is no measurement); ``gain.rounds`` says how many were used."""
    out: dict[str, Any] = {}
    for name, rows in rounds.items():
        out[name] = {"req/s": _spread([r[0] for r in rows]),
                     "cpu_us_per_request": _spread([r[1] for r in rows]),
                     "errors": [r[2] for r in rows]}
    cached, plain = rounds.get("haproxy, cache"), rounds.get("haproxy, no cache")
    if cached and plain:
        pairs = [(c, p) for c, p in zip(cached, plain, strict=True) if not c[2] and not p[2]]
        if pairs:
            out["gain"] = {"req/s": statistics.median(c[0] / p[0] for c, p in pairs),
                           "cpu per request": statistics.median(c[1] / p[1] for c, p in pairs),
                           "rounds": len(pairs)}
    return out


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _markdown(data: dict[str, Any]) -> str:
    lines = [f"# The balancer's cache on a GET hit ({data['setup']}; node: "
             f"{data['workers']} workers; load {data['load']})", "",
             "| target | req/s, median (range) | CPU µs per request, median (range) | errors |",
             "| --- | ---: | ---: | --- |"]
    for name, t in data["targets"].items():
        if name == "gain":
            continue
        rps, cpu = t["req/s"], t["cpu_us_per_request"]
        lines.append(f"| {name} | {rps['median']:.0f} ({rps['min']:.0f}-{rps['max']:.0f}) | "
                     f"{cpu['median']:.1f} ({cpu['min']:.1f}-{cpu['max']:.1f}) | "
                     f"{t['errors']} |")
    if "gain" in data["targets"]:
        g = data["targets"]["gain"]
        lines += ["", f"Cache over no cache: {g['req/s']:.2f}x the req/s, "
                      f"{g['cpu per request']:.3f}x the CPU per request (median of "
                      f"{g['rounds']} rounds without errors)."]
    return "\n".join(lines) + "\n"


class _HAProxy:
    """HAProxy with `cluster up`'s config in front of one node, in the foreground."""

    def __init__(self, node_port: int, folder: Path, cache_mb: int) -> None:
        binary = haproxy_binary()
        assert binary is not None
        self.port, self.stats = free_port(), free_port()
        config = folder / f"haproxy-{cache_mb}.cfg"
        config.write_text(render_config(port=self.port, stats_port=self.stats,
                                        node_ports=[node_port],
                                        pidfile=folder / f"haproxy-{cache_mb}.pid",
                                        cache_mb=cache_mb))
        self.proc = subprocess.Popen([binary, "-db", "-f", str(config)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while True:
            try:
                if server_states(self.stats, timeout=0.5) == {"node1": "UP"}:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError("haproxy did not see the node UP")
            time.sleep(0.1)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def _get(url: str) -> dict[str, str]:
    with urllib.request.urlopen(url, timeout=30) as resp:
        resp.read()
        return {k.lower(): v for k, v in resp.headers.items()}


def _main(args: argparse.Namespace) -> int:
    setup = dataclasses.replace(OUTSIDE, duration=args.duration, rounds=args.rounds)
    anvil = Anvil().start()
    node = cached = plain = None
    try:
        with tempfile.TemporaryDirectory(prefix="bizra-lb-cache-") as name:
            m = seed(anvil.url)
            node, _ = start_node(anvil.url, workers=args.workers)
            node_port = int(node.base.rsplit(":", 1)[1])
            cached = _HAProxy(node_port, Path(name), 64)
            plain = _HAProxy(node_port, Path(name), 0)
            path = validation_request("transaction", m.legacy_tx, "get").path
            for _ in range(4):
                _get(node.base + path)
            _get(cached.base + path)
            if _get(cached.base + path).get("x-cache") != "HIT":
                print("the cached HAProxy did not answer from its cache")
                return 1
            node_pids = node.pids()
            targets = {"haproxy, cache": (cached.base + path, [*node_pids, cached.proc.pid]),
                       "haproxy, no cache": (plain.base + path, [*node_pids, plain.proc.pid]),
                       "node direct": (node.base + path, node_pids)}
            load = "{:.2f} / {:.2f} / {:.2f}".format(*os.getloadavg())
            for url, _ in targets.values():
                wrk(url, url, duration=setup.warmup, connections=setup.connections,
                    threads=setup.threads)
            rounds: dict[str, list[Round]] = {k: [] for k in targets}
            for _ in range(setup.rounds):
                for key, (url, watch) in targets.items():
                    r = wrk(key, url, duration=setup.duration, connections=setup.connections,
                            threads=setup.threads, watch=watch)
                    rounds[key].append((r.rps, r.server_cpu_us_per_req, r.errors + r.non_2xx))
            load += " before, {:.2f} / {:.2f} / {:.2f} after".format(*os.getloadavg())
    finally:
        for server in (cached, plain, node):
            if server is not None:
                server.stop()
        anvil.stop()
    data = {"setup": setup.describe(), "workers": args.workers, "load": load,
            "rounds": rounds, "targets": gains(rounds)}
    md = _markdown(data)
    publish("balancer-cache", data, md)
    return 0


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bizra-node bench balancer-cache", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2, help="the node's granian workers")
    parser.add_argument("--duration", type=float, default=OUTSIDE.duration,
                        help="s per wrk round")
    parser.add_argument("--rounds", type=int, default=OUTSIDE.rounds)
    args = parser.parse_args(argv)
    if not have_wrk() or haproxy_binary() is None:
        print("needs wrk and haproxy (make bench-tools, make haproxy)")
        return 2
    return _main(args)
