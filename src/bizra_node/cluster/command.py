"""``bizra-node cluster up | down | status | restart NODE``: the arguments and what each
does."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["add_cluster_parser", "run_cluster_command"]


def add_cluster_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "cluster", help="a local cluster: N nodes behind HAProxy, Redis, PostgreSQL + replica, "
                        "PgBouncer, devnet (no containers)")
    parser.add_argument("action", choices=["up", "down", "status", "restart"])
    parser.add_argument("node", nargs="?", default="",
                        help="restart: the node (node2, or 2) to stop, whatever is left of it "
                             "included, and start again")
    parser.add_argument("--nodes", type=int, default=3, help="node processes (up)")
    parser.add_argument("--workers", type=int, default=1, help="granian workers per node (up)")
    parser.add_argument("--port", type=int, default=8090,
                        help="the balancer's port (up; 0 = a free one)")
    parser.add_argument("--upstream", default="",
                        help="BIZRA_NODE_URL for the nodes (up; default: a seeded anvil devnet)")
    parser.add_argument("--balancer-cache", type=int, default=64, metavar="MB",
                        help="up: HAProxy's cache of final GET answers (Cache-Control "
                             "immutable), MB of RAM, 1..4095; 0 = none")
    parser.add_argument("--dir", default=".cluster", help="state, data and logs folder")
    return parser


def run_cluster_command(args: argparse.Namespace) -> int:
    from .local import ClusterAlreadyUp, ClusterSpec, down, status, up

    root = Path(args.dir)
    if args.action == "restart":
        return _restart(root, args.node)
    if args.action == "up":
        if (not 1 <= args.nodes <= 32 or not 1 <= args.workers <= 64
                or not 0 <= args.balancer_cache <= 4095):
            print("--nodes must be 1..32, --workers 1..64, --balancer-cache 0..4095",
                  file=sys.stderr)
            return 2
        spec = ClusterSpec(root=root, nodes=args.nodes, workers=args.workers, port=args.port,
                           upstream=args.upstream, balancer_cache_mb=args.balancer_cache)
        try:
            started = time.monotonic()
            state = up(spec, log=lambda m: print(
                f"cluster: {m} ({time.monotonic() - started:.1f} s)", file=sys.stderr))
        except ClusterAlreadyUp as exc:
            print(str(exc), file=sys.stderr)
            return 1
        except (RuntimeError, TimeoutError, OSError) as exc:
            print(f"cluster up failed (everything started was stopped; logs in "
                  f"{root / 'logs'}): {exc}", file=sys.stderr)
            return 1
        print(f"cluster up: balancer {state.balancer_url} -> {', '.join(state.node_urls)}",
              file=sys.stderr)
        print(json.dumps(status(root), indent=2))
        return 0
    if args.action == "down":
        stopped = down(root)
        print("cluster down" if stopped else f"no cluster under {root}", file=sys.stderr)
        return 0
    found = status(root)
    if found is None:
        print(f"no cluster under {root}", file=sys.stderr)
        return 1
    print(json.dumps(found, indent=2))
    return 0


def _restart(root: Path, name: str) -> int:
    """Stop node NAME (its leftovers too) and start it again; start the keeper again if
    it is not running."""
    from .local import load, start_keeper
    from .nodes import node_index, restart_node
    from .procs import alive

    state = load(root.resolve())
    if state is None or not state.running():
        print(f"no cluster under {root}", file=sys.stderr)
        return 1
    if not name:
        print("which node? `bizra-node cluster restart node2`", file=sys.stderr)
        return 2
    try:
        i = node_index(name, len(state.node_ports))
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        pid = restart_node(state, i, by="command")
    except (RuntimeError, TimeoutError, OSError) as exc:
        print(f"node{i + 1} did not come back (logs in {root / 'logs'}): {exc}", file=sys.stderr)
        return 1
    print(f"cluster: node{i + 1} restarted, pid {pid}, ready in "
          f"{time.monotonic() - started:.1f} s", file=sys.stderr)
    if state.keeper_pid and not alive(state.keeper_pid):
        print(f"cluster: the keeper was not running; started again, pid "
              f"{start_keeper(state)}", file=sys.stderr)
    return 0
