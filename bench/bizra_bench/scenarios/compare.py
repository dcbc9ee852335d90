"""`bizra-node bench compare --base REF`: the hit path of this checkout against the
node of another commit, in the same run, on the same upstream.

The other commit's ``src/`` is exported with ``git archive`` into a temporary folder
and run with it first on PYTHONPATH (same virtualenv, same dependencies); "this
checkout" is the node installed in the virtualenv, which `make setup` installs from the
checkout's src/ in editable mode (a wheel install measures the wheel). Both nodes
run side by side, with nginx proxy_cache on POST (when installed) as the reference
of the suite's goals; wrk rounds take each target in turn (best of each kept, and the
median of per-round ratios to nginx), then the paced generator measures each at a
constant rate. Every figure comes with its ratio to the base, which is what a change
is judged by.

Options: --base REF (default main), --duration S (wrk, 5), --repeat N (3),
--rate R (1000), --paced-duration S (15), --latency S (upstream, 0.05).
"""

from __future__ import annotations

import argparse
import io
import math
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from bizra_bench.checkout import find_checkout
from bizra_bench.loadgen import Server, have_wrk
from bizra_bench.measure import Recorder
from bizra_bench.nginx import NginxCache, have_nginx
from bizra_bench.report import round_ratio
from bizra_bench.results import publish
from bizra_bench.stack import ProxyProcess, start_node
from bizra_bench.workload import rpc_request, validation_request
from bizra_node.devnet import Anvil, free_port, seed


def export_src(checkout: Path, ref: str) -> Path:
    """``src/`` of ``ref`` in a temporary folder (the caller removes it)."""
    folder = Path(tempfile.mkdtemp(prefix="bizra-base-"))
    data = subprocess.run(["git", "archive", "--format=tar", ref, "src"], cwd=checkout,
                          capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def _warm(server: Server, tx: str) -> None:
    for req in (validation_request("transaction", tx), validation_request("transaction", tx, "get"),
                rpc_request(tx), rpc_request(tx)):
        r = urllib.request.Request(server.base + req.path, data=req.body,
                                   headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(r, timeout=30) as resp:
            resp.read()


def run(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="bizra-node bench compare", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", default="main")
    p.add_argument("--duration", type=float, default=5)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--rate", type=float, default=1000)
    p.add_argument("--paced-duration", type=float, default=15)
    p.add_argument("--latency", type=float, default=0.05)
    args = p.parse_args(argv)
    if not have_wrk():
        print("wrk is not installed: run `make bench-tools`", file=sys.stderr)
        return 2
    checkout = find_checkout()
    if checkout is None:
        print("bench compare needs a BIZRA-NODE0 git checkout: run it from one", file=sys.stderr)
        return 2
    base_rev = subprocess.run(["git", "rev-parse", "--short", args.base], cwd=checkout,
                              capture_output=True, text=True, check=True).stdout.strip()
    head_rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=checkout,
                              capture_output=True, text=True, check=True).stdout.strip()
    folder = export_src(checkout, args.base)
    targets = ("bare GET", "POST hit", "GET hit", "rpc hit")
    rec = Recorder(2 * len(targets) * (args.repeat + 1) + 1 + (args.repeat if have_nginx() else 0))
    anvil = Anvil().start()
    proxy: ProxyProcess | None = None
    nginx: NginxCache | None = None
    nodes: dict[str, Server] = {}
    try:
        rec.begin(f"devnet, proxy +{args.latency * 1000:g} ms, node {head_rev} (this checkout) "
                  f"and node {base_rev} ({args.base})")
        manifest = seed(anvil.url)
        proxy = ProxyProcess(anvil.url, args.latency).start()
        nodes["this"], _ = start_node(proxy.url, workers=args.workers)
        nodes["base"], _ = start_node(proxy.url, workers=args.workers, own_app=False,
                                      extra={"PYTHONPATH": str(folder / "src")})
        tx = manifest.legacy_tx
        post = validation_request("transaction", tx)
        get = validation_request("transaction", tx, "get")
        for server in nodes.values():
            _warm(server, tx)
        rpc = rpc_request(tx)
        if have_nginx():
            nginx = NginxCache(f"127.0.0.1:{anvil.port}", free_port(), workers=args.workers).start()
            for _ in range(2):
                with urllib.request.urlopen(urllib.request.Request(
                        nginx.base + "/", data=rpc.body,
                        headers={"Content-Type": "application/json"}), timeout=30) as resp:
                    resp.read()
        for _ in range(args.repeat):
            if nginx is not None:
                rec.wrk("nginx", "nginx proxy_cache, POST JSON-RPC (cached)", nginx.base + "/",
                        body=rpc.body, watch=nginx.pids(), duration=args.duration,
                        connections=args.connections)
            for name, server in nodes.items():
                w = dict(watch=server.pids(), duration=args.duration, connections=args.connections)
                rec.wrk(f"{name}.bare GET", f"{name}: bare GET", server.base + "/_bench/constant", **w)
                rec.wrk(f"{name}.POST hit", f"{name}: POST validate/transaction (L1 hit)",
                        server.base + post.path, body=post.body, **w)
                rec.wrk(f"{name}.GET hit", f"{name}: GET transactions/{{hash}} (L1 hit)",
                        server.base + get.path, **w)
                rec.wrk(f"{name}.rpc hit", f"{name}: POST /rpc eth_getTransactionByHash (L1 hit)",
                        server.base + rpc.path, body=rpc.body, **w)
        for name, server in nodes.items():
            pw = dict(watch=server.pids(), rate=args.rate, duration=args.paced_duration)
            rec.paced(f"{name}.paced.bare GET", f"{name}: bare GET", server.base + "/_bench/constant",
                      **pw)
            rec.paced(f"{name}.paced.POST hit", f"{name}: POST hit", server.base + post.path,
                      body=post.body, **pw)
            rec.paced(f"{name}.paced.GET hit", f"{name}: GET hit", server.base + get.path, **pw)
            rec.paced(f"{name}.paced.rpc hit", f"{name}: rpc hit", server.base + rpc.path,
                      body=rpc.body, **pw)
    finally:
        if nginx is not None:
            nginx.stop()
        for server in nodes.values():
            server.stop()
        if proxy is not None:
            proxy.stop()
        anvil.stop()
        shutil.rmtree(folder, ignore_errors=True)
    runs = {k: r.as_dict() for k, r in rec.runs.items()}
    md = _markdown(runs, targets, args, base_rev, head_rev)
    publish("compare", {"base": args.base, "base_rev": base_rev, "head_rev": head_rev,
                        "settings": vars(args), "runs": runs}, md)
    return 0


def _markdown(runs: dict[str, Any], targets: tuple[str, ...], args: argparse.Namespace,
              base_rev: str, head_rev: str) -> str:
    def val(key: str, field: str) -> float:
        v = runs.get(key, {}).get(field)
        return float(v) if v is not None else math.nan

    lines = [f"# bench compare: {head_rev} (this checkout) against {base_rev} ({args.base})", "",
             f"wrk {args.connections} connections, {args.repeat} rounds x {args.duration:g} s "
             f"(best of each); paced {args.rate:g} req/s x {args.paced_duration:g} s.", "",
             "| target | base req/s | this req/s | this/base | base p99 ms (paced) | "
             "this p99 ms (paced) | base mean ms | this mean ms |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for t in targets:
        b, n = val(f"base.{t}", "rps"), val(f"this.{t}", "rps")
        lines.append(f"| {t} | {b:.0f} | {n:.0f} | {n / b:.2f} | "
                     f"{val(f'base.paced.{t}', 'p99_ms'):.2f} | {val(f'this.paced.{t}', 'p99_ms'):.2f} | "
                     f"{val(f'base.paced.{t}', 'mean_ms'):.2f} | {val(f'this.paced.{t}', 'mean_ms'):.2f} |")
    for who in ("base", "this"):
        ratios = [f"{t} / bare GET = {round_ratio(runs, f'{who}.{t}', f'{who}.bare GET'):.2f}"
                  for t in targets[1:]]
        if "rpc hit" in targets:
            ratios.append("rpc hit / POST hit = "
                          f"{round_ratio(runs, f'{who}.rpc hit', f'{who}.POST hit'):.2f}")
        if "nginx" in runs:
            ratios += [f"{t} / nginx = {round_ratio(runs, f'{who}.{t}', 'nginx'):.3f}"
                       for t in targets]
        lines.append(f"\n{who}: " + ", ".join(ratios))
    if "nginx" in runs:
        lines.append(f"\nnginx proxy_cache: {val('nginx', 'rps'):.0f} req/s (best); ratios are "
                     "medians of the rounds' ratios")
    return "\n".join(lines) + "\n"
