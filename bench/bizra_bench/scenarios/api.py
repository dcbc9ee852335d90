"""`bizra-node bench api`: the node's validation routes next to a bare endpoint on the
same server, in the same run, plus the same lean handler on each framework/interface.

Every figure is reported with its ratio to a baseline measured in the same run, since
absolute numbers drift between runs and machines.

Options: --duration S (per run, default 5), --connections N (64), --workers N (2),
--no-frameworks (skip the framework comparison).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bizra_bench.loadgen import (
    WrkResult,
    granian_argv,
    have_wrk,
    node_argv,
    start_server,
    wrk,
)
from bizra_bench.node import node_env
from bizra_bench.results import publish
from bizra_node.devnet import Anvil, seed

FRAMEWORKS = [("rsgi", "rsgi", "bizra_bench.frameworks:rsgi_app"),
              ("raw ASGI", "asgi", "bizra_bench.frameworks:raw_asgi_app"),
              ("Starlette", "asgi", "bizra_bench.frameworks:starlette_app"),
              ("FastAPI", "asgi", "bizra_bench.frameworks:fastapi_app"),
              ("Litestar", "asgi", "bizra_bench.frameworks:litestar_app")]


def _progress(result: WrkResult) -> None:
    print(f"  {result.label:<44} {result.rps:>10.0f} req/s  p50 {result.p50_ms:6.2f} ms  "
          f"p99 {result.p99_ms:6.2f} ms  errors {result.errors + result.non_2xx}",
          file=sys.stderr)


def bench_node(upstream: str, tx_hash: str, interface: str, args: argparse.Namespace,
               extra_env: dict[str, str] | None = None) -> list[WrkResult]:
    env = {"BIZRA_NODE_URL": upstream, "DB_ENABLED": "false", "LOG_LEVEL": "warning",
           **node_env({"bench_endpoints": True}), **(extra_env or {})}
    server = start_server(node_argv(args.workers, interface), env, "/health")
    body = b'{"txHash":"' + tx_hash.encode() + b'"}'
    out = []
    try:
        run = dict(duration=args.duration, connections=args.connections)
        wrk("warm-up", server.base + "/api/v1/validate/transaction", duration=1, body=body)
        for label, path, payload in (
            (f"node {interface}: bare GET constant", "/_bench/constant", None),
            (f"node {interface}: POST validate/transaction", "/api/v1/validate/transaction", body),
            (f"node {interface}: GET transactions/{{hash}}", f"/api/v1/transactions/{tx_hash}",
             None),
        ):
            result = wrk(label, server.base + path, body=payload, watch=server.pids(), **run)
            _progress(result)
            out.append(result)
    finally:
        server.stop()
    return out


def bench_frameworks(args: argparse.Namespace) -> list[WrkResult]:
    out = []
    lean_body = b'{"txHash":"0x' + b"ab" * 32 + b'"}'
    for name, interface, target in FRAMEWORKS:
        server = start_server(granian_argv(target, interface, args.workers), {}, "/constant")
        try:
            for label, path, payload in ((f"{name}: GET constant", "/constant", None),
                                         (f"{name}: POST lean handler", "/lean", lean_body)):
                result = wrk(label, server.base + path, body=payload, duration=args.duration,
                             connections=args.connections, watch=server.pids())
                _progress(result)
                out.append(result)
        finally:
            server.stop()
    return out


def markdown(node: list[WrkResult], frameworks: list[WrkResult], args: argparse.Namespace) -> str:
    lines = [f"# bench api\n\nwrk, {args.connections} connections, {args.duration} s per run, "
             f"granian with {args.workers} workers, same machine as the load generator.\n",
             "## The node (anvil devnet upstream)\n",
             "| run | req/s | p50 ms | p99 ms | errors | x bare (same server) | server CPU % | RSS MB |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    bare: dict[str, float] = {}
    for r in node:
        iface = r.label.split(":")[0]
        if "bare" in r.label:
            bare[iface] = r.rps
        ratio = r.rps / bare[iface] if bare.get(iface) else float("nan")
        lines.append(f"| {r.label} | {r.rps:.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | "
                     f"{r.errors + r.non_2xx} | {ratio:.2f} | {r.server_cpu_pct:.0f} | "
                     f"{r.server_rss_mb:.0f} |")
    if frameworks:
        base = frameworks[0].rps or float("nan")
        lines += ["\n## Framework and interface (same lean handler)\n",
                  "| run | req/s | p50 ms | p99 ms | x RSGI constant GET |",
                  "| --- | ---: | ---: | ---: | ---: |"]
        for r in frameworks:
            lines.append(f"| {r.label} | {r.rps:.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | "
                         f"{r.rps / base:.2f} |")
    return "\n".join(lines) + "\n"


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bizra-node bench api")
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-frameworks", action="store_true")
    parser.add_argument("--interfaces", default="rsgi,asgi")
    args = parser.parse_args(argv)
    if not have_wrk():
        print("wrk is not installed: run `make bench-tools`", file=sys.stderr)
        return 2
    with Anvil() as anvil:
        manifest = seed(anvil.url)
        node: list[WrkResult] = []
        for interface in args.interfaces.split(","):
            node += bench_node(anvil.url, manifest.legacy_tx, interface, args)
    frameworks = [] if args.no_frameworks else bench_frameworks(args)
    data: dict[str, Any] = {"settings": vars(args), "node": [r.as_dict() for r in node],
                            "frameworks": [r.as_dict() for r in frameworks]}
    md = markdown(node, frameworks, args)
    publish("api", data, md)
    return 0
