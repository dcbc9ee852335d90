"""The performance regression gate: a short run that fails only when a ratio measured
in the same run falls far below where it is, never on an absolute time.

Checked, on a seeded anvil behind the latency proxy (+50 ms), node with 2 workers:

- throughput, wrk, set up as the side-by-side check (``loadgen.OUTSIDE``:
  ``wrk -t1 -c64``, rounds of 5 s, 3 rounds, 1 s of warm-up per target, not counted),
  each round taking every target in turn (a burst of load from elsewhere hits all
  alike), the median of the rounds' ratios (the ratio of the medians is reported
  beside): L1-hit POST validate/transaction and GET transactions/{hash} against nginx
  proxy_cache (2 workers, keyed on the body) serving a cached JSON-RPC answer (when
  nginx is installed) and against the bare endpoint of the same server. A target that
  answered with errors in any round is not a measurement: its ratios are not computed
  and the gate fails;
- CPU time per request (the server's processes, master and workers, over the
  requests answered; it moves far less than req/s when wrk and the servers share 2
  cores): the same two hits against nginx's, median of the rounds' ratios;
- a hit makes no upstream call (beyond each worker's first); a miss costs a fixed
  number of upstream round trips (counted at the proxy: the batching and the cache,
  not a timing): a block by number, an address, and a transaction in a block already
  proven one each; a transaction in a block not proven yet two (the transaction names
  its block; the block and its receipts are then proven against the header).
  Requests that only ask where the head is (the head follower's polls, on its own
  clock) are counted apart by the proxy and are not a miss's;
- each miss takes at most its round trips x 1.5 one upstream round trip (medians; the
  same batches sent to the upstream directly are the unit), verification included.

Reported beside (not checked): each answer's size, each server's CPU with no load, and
with ``also`` other wrk setups measured in the same run (``bench gate
--also-previous``: the gate's earlier setup, ``wrk -t2 -c32``, 2 s rounds, no
warm-up). docs/performance.md ("The regression gate") lists how this setup differs
from others and what each difference is expected to do.

With ``outside`` (``bench gate --outside``) the side-by-side check itself runs in the
same rounds, each of its targets taking its turn beside the gate's: nginx as a user
writes it (``NginxCache(plain=True)``: keyed on the body, an access log, no upstream
keep-alive), the node with its defaults (``bizra-node serve`` given only its upstream:
workers = CPUs, no bench endpoints, LOG_LEVEL=info, embedded PostgreSQL), and its way of
comparing (each target's median, then their ratio). ``compare_outside`` puts each of its
ratios beside the gate's and says how far apart they are (reported, not checked).

The thresholds (LIMITS) are far from the figures measured (docs/performance.md, "The
regression gate": pass counts over ten runs on an idle and on a loaded machine): the
gate runs in `make test` on a shared 2-core machine, with 2 s rounds to keep it short.
The suite (`bizra-node bench suite`) measures the real figures. Without wrk,
throughput is measured by a small aiohttp closed-loop client in a process of its own
(weaker: both sides are then client-bound, so the ratio is closer to 1 and only a
gross regression shows).
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bizra_bench.loadgen import OUTSIDE, Server, WrkSetup, have_wrk, start_server, wrk
from bizra_bench.nginx import NginxCache, have_nginx
from bizra_bench.stack import ProxyProcess, start_node
from bizra_bench.watch import Watch
from bizra_bench.workload import (
    address_batch_body,
    block_batch_body,
    rpc_request,
    tx_batch_body,
    validation_request,
)
from bizra_node.devnet import Anvil, free_port, seed

__all__ = ["AGREE", "LIMITS", "OUTSIDE_TARGETS", "GateResult", "compare_outside", "judge",
           "run_gate"]

LIMITS: dict[str, tuple[str, float]] = {
    # ratio: (">=" or "<=", limit)
    "POST hit / bare GET (req/s)": (">=", 0.25),
    "GET hit / bare GET (req/s)": (">=", 0.25),
    "POST hit / nginx (req/s)": (">=", 0.10),
    "GET hit / nginx (req/s)": (">=", 0.15),
    "POST hit / nginx (CPU per request)": ("<=", 15.0),
    "GET hit / nginx (CPU per request)": ("<=", 12.0),
}
"""Each throughput and CPU-per-request ratio the gate checks, and its limit."""
MAX_MISS_RATIO = 1.5
"""Per upstream round trip a miss needs (see the module doc)."""
RATIOS = [(f"{hit} / {ref} ({what})", hit, ref, i) for hit in ("POST hit", "GET hit")
          for ref, what, i in (("bare GET", "req/s", 0), ("nginx", "req/s", 0),
                               ("nginx", "CPU per request", 1)) if not (ref == "bare GET" and i)]
"""(name, target, reference, 0: req/s or 1: CPU µs per request) of every ratio in LIMITS."""
OUTSIDE_TARGETS = {"nginx": "nginx (plain)", "POST hit": "POST hit (node defaults)",
                   "GET hit": "GET hit (node defaults)"}
"""The side-by-side check's target standing for each of the gate's (``--outside``)."""
AGREE = 0.10
"""How far apart a ratio of the gate and the side-by-side check's may be and still agree."""


@dataclass
class GateResult:
    tool: str
    setup: str = ""
    """The wrk setup of the checked rounds (``WrkSetup.describe``)."""
    rps: dict[str, float] = field(default_factory=dict)
    """Median req/s of the rounds, by target."""
    cpu_us: dict[str, float] = field(default_factory=dict)
    """Median server CPU µs per request of the rounds, by target."""
    rounds: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    """Every round's (req/s, CPU µs per request), by target."""
    errors: dict[str, list[int]] = field(default_factory=dict)
    """Every round's errors (socket errors, timeouts, non-2xx), by target."""
    ratios: dict[str, float] = field(default_factory=dict)
    """The checked ratios: the median of the rounds' ratios (a round's two figures are
    the closest in time), and the miss ratios."""
    ratio_of_medians: dict[str, float] = field(default_factory=dict)
    """The same throughput and CPU ratios as the ratio of the two targets' medians (how
    a side-by-side check that reports each target's median compares them)."""
    others: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    """Other wrk setups measured in the same run (reported, not checked), by their
    description: ``ratios`` (median of the rounds' ratios), each target's median
    ``rps`` and ``cpu_us``."""
    outside_rounds: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    """Every round's (req/s, CPU µs per request) of the side-by-side check's targets
    (OUTSIDE_TARGETS), measured in the gate's rounds (``--outside``)."""
    outside_errors: dict[str, list[int]] = field(default_factory=dict)
    outside: dict[str, dict[str, float]] = field(default_factory=dict)
    """By ratio name (those to nginx in RATIOS): ``gate`` (the checked figure),
    ``outside`` (the side-by-side check's: its targets' medians, then their ratio),
    ``apart`` (gate / outside - 1)."""
    answer_bytes: dict[str, int] = field(default_factory=dict)
    """Size of each target's answer body: nginx serves the upstream's JSON-RPC answer,
    the node its validation envelope."""
    idle_cpu_pct: dict[str, float] = field(default_factory=dict)
    """CPU of each server's processes (node, nginx), % of a core, over 1 s with no load
    (head following, metric flushes): part of every CPU-per-request figure."""
    counts: dict[str, int] = field(default_factory=dict)
    miss_ms: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures

    def report(self) -> str:
        lines = [f"gate ({self.tool}, {self.setup}, {self.seconds:.0f} s): "
                 f"{'ok' if self.ok else 'FAILED'}"]
        lines += [f"  {k}: {v:.0f} req/s, {self.cpu_us.get(k, float('nan')):.1f} µs CPU/request"
                  + (f", {self.answer_bytes[k]} B answers" if k in self.answer_bytes else "")
                  for k, v in self.rps.items()]
        if self.idle_cpu_pct:
            lines.append("  CPU with no load (1 s; part of each CPU per request): " + ", ".join(
                f"{k} {v:.1f} % of a core" for k, v in self.idle_cpu_pct.items()))
        lines += [f"  {k}: {v:.3f}" + (f" (ratio of medians {self.ratio_of_medians[k]:.3f})"
                                       if k in self.ratio_of_medians else "")
                  for k, v in self.ratios.items()]
        if self.outside_rounds:
            lines.append("  beside the side-by-side check (nginx plain, node defaults; its "
                         "ratio of medians; apart = gate / it - 1):")
            lines += [f"    {k}: {statistics.median(r[0] for r in v):.0f} req/s, "
                      f"{statistics.median(r[1] for r in v):.1f} µs CPU/request"
                      + (f", {self.answer_bytes[k]} B answers" if k in self.answer_bytes
                         else "")
                      + (f", errors {self.outside_errors[k]}"
                         if any(self.outside_errors.get(k, [])) else "")
                      for k, v in self.outside_rounds.items()]
            lines += [f"    {k}: gate {v['gate']:.3f}, side-by-side {v['outside']:.3f}, apart "
                      f"{v['apart']:+.1%}" + ("" if abs(v["apart"]) <= AGREE else " (> 10 %)")
                      for k, v in self.outside.items()]
        for setup, other in self.others.items():
            lines.append(f"  also measured, not checked: {setup}")
            lines += [f"    {k}: {v:.0f} req/s, {other['cpu_us'][k]:.1f} µs CPU/request"
                      for k, v in other["rps"].items()]
            lines += [f"    {k}: {v:.3f}" for k, v in other["ratios"].items()]
        lines += [f"  {k}: {v}" for k, v in self.counts.items()]
        lines += [f"  {k}: {v:.1f} ms" for k, v in self.miss_ms.items()]
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  FAILED: {f}" for f in self.failures]
        return "\n".join(lines)


def _send(url: str, body: bytes | None) -> float:
    """One request; seconds it took (raises on a non-2xx answer)."""
    return _request(url, body)[0]


def _request(url: str, body: bytes | None) -> tuple[float, int]:
    """One request: seconds it took and the size of the answer's body (raises on a
    non-2xx answer)."""
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=30) as resp:
        size = len(resp.read())
    return time.perf_counter() - t0, size


def _closed_loop(url: str, body: bytes | None, duration: float,
                 connections: int) -> tuple[float, int]:
    """req/s and errors (answers >= 400) of a closed-loop aiohttp client in a process
    of its own (no wrk)."""
    code = ("import asyncio,sys,time,aiohttp\n"
            "async def main(url,body,dur,n):\n"
            "  count=bad=0\n"
            "  async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=n)) as s:\n"
            "    end=time.monotonic()+dur\n"
            "    async def w():\n"
            "      nonlocal count,bad\n"
            "      while time.monotonic()<end:\n"
            "        if body: r=await s.post(url,data=body,headers={'content-type':'application/json'})\n"
            "        else: r=await s.get(url)\n"
            "        await r.read(); count+=1; bad+=r.status>=400\n"
            "    t0=time.monotonic(); await asyncio.gather(*(w() for _ in range(n)))\n"
            "    print(count/(time.monotonic()-t0), bad)\n"
            "b=sys.argv[2].encode() or None\n"
            "asyncio.run(main(sys.argv[1],b,float(sys.argv[3]),int(sys.argv[4])))\n")
    out = subprocess.run([sys.executable, "-c", code, url, (body or b"").decode(), str(duration),
                          str(connections)], capture_output=True, text=True, check=True,
                         timeout=duration + 60).stdout
    rps, bad = out.split()
    return float(rps), int(bad)


def _throughput(url: str, body: bytes | None, setup: WrkSetup,
                watch: list[int]) -> tuple[float, float, int]:
    """req/s, the ``watch`` processes' CPU µs per request, and errors of one round."""
    if have_wrk():
        r = wrk(url, url, duration=setup.duration, connections=setup.connections,
                threads=setup.threads, body=body, watch=watch)
        return r.rps, r.server_cpu_us_per_req, r.errors + r.non_2xx
    with Watch(watch) as w:
        rps, bad = _closed_loop(url, body, setup.duration, setup.connections)
    return rps, w.cpu_s / max(rps * setup.duration, 1.0) * 1e6, bad


def _warm(url: str, body: bytes | None, setup: WrkSetup) -> None:
    """``setup.warmup`` s of the same load, not counted."""
    if setup.warmup <= 0:
        return
    if have_wrk():
        wrk(url, url, duration=setup.warmup, connections=setup.connections,
            threads=setup.threads, body=body)
    else:
        _closed_loop(url, body, setup.warmup, setup.connections)


Targets = dict[str, tuple[str, bytes | None, list[int]]]


def _measure(targets: Targets, setup: WrkSetup) -> tuple[dict[str, list[tuple[float, float]]],
                                                         dict[str, list[int]]]:
    """Every target warmed up, then ``setup.rounds`` rounds taking each in turn."""
    for url, body, _ in targets.values():
        _warm(url, body, setup)
    rounds: dict[str, list[tuple[float, float]]] = {}
    errors: dict[str, list[int]] = {}
    for _ in range(setup.rounds):
        for name, (url, body, watch) in targets.items():
            rps, cpu, bad = _throughput(url, body, setup, watch)
            rounds.setdefault(name, []).append((rps, cpu))
            errors.setdefault(name, []).append(bad)
    return rounds, errors


def _median_ratio(rounds: dict[str, list[tuple[float, float]]], a: str, b: str,
                  i: int) -> float:
    """Median over the rounds of ``a``'s figure over ``b``'s (0: req/s, 1: CPU µs)."""
    pairs = zip(rounds[a], rounds[b], strict=True)
    return float(statistics.median(x[i] / y[i] for x, y in pairs))


def ratios_of(rounds: dict[str, list[tuple[float, float]]],
              errors: dict[str, list[int]]) -> tuple[dict[str, float], dict[str, float],
                                                     list[str]]:
    """The throughput and CPU ratios of RATIOS that ``rounds`` allow (median of the
    rounds' ratios; and as the ratio of the medians), and the targets that are no
    measurement: a target that answered with errors in any round is left out of every
    ratio (a server answering errors fast is not a fast server)."""
    failed = [f"{name} answered {sum(bad)} errors (rounds: {bad}): not a measurement"
              for name, bad in errors.items() if any(bad)]
    usable = {n for n in rounds if not any(errors.get(n, []))}
    by_round: dict[str, float] = {}
    of_medians: dict[str, float] = {}
    for name, a, b, i in RATIOS:
        if a in usable and b in usable:
            by_round[name] = _median_ratio(rounds, a, b, i)
            of_medians[name] = (statistics.median(r[i] for r in rounds[a])
                                / statistics.median(r[i] for r in rounds[b]))
    return by_round, of_medians, failed


def judge(result: GateResult) -> None:
    """Medians, ratios and the checks of the throughput part, from ``result.rounds``
    and ``result.errors`` (a pure function of them: tested with made-up rounds). A
    ratio that cannot be measured because a target failed fails the gate."""
    for name, rounds in result.rounds.items():
        result.rps[name] = statistics.median(r[0] for r in rounds)
        result.cpu_us[name] = statistics.median(r[1] for r in rounds)
    ratios, of_medians, failed = ratios_of(result.rounds, result.errors)
    result.failures += failed
    result.ratio_of_medians |= of_medians
    for name, a, b, _ in RATIOS:
        if b not in result.rounds or a not in result.rounds:
            continue  # nginx not installed: said in the notes
        if name not in ratios:
            result.failures.append(f"{name}: not measured ({a} or {b} failed)")
            continue
        value = result.ratios[name] = ratios[name]
        op, limit = LIMITS[name]
        if not (value >= limit if op == ">=" else value <= limit):
            result.failures.append(f"{name} = {value:.3f}, not {op} {limit}")


def compare_outside(result: GateResult) -> None:
    """``result.outside`` from the side-by-side check's rounds: each ratio to nginx as
    that check computes it (its targets' medians, then their ratio), beside the gate's
    checked figure (a pure function of the rounds: tested with made-up ones)."""
    out = {k: v for k, v in result.outside_rounds.items()
           if not any(result.outside_errors.get(k, []))}
    for name, a, b, i in RATIOS:
        if b != "nginx" or name not in result.ratios:
            continue
        oa, ob = OUTSIDE_TARGETS[a], OUTSIDE_TARGETS[b]
        if oa not in out or ob not in out:
            continue
        theirs = (statistics.median(r[i] for r in out[oa])
                  / statistics.median(r[i] for r in out[ob]))
        ours = result.ratios[name]
        result.outside[name] = {"gate": ours, "outside": theirs, "apart": ours / theirs - 1}


def _plain_node(upstream: str, folder: str) -> Server:
    """The node with its defaults: `bizra-node serve` told only its upstream (and where
    its embedded PostgreSQL may keep its files)."""
    argv = [str(Path(sys.executable).with_name("bizra-node")), "serve", "--port", "{port}"]
    return start_server(argv, {"BIZRA_NODE_URL": upstream, "DATA_DIR": folder}, "/health",
                        timeout=120)


def run_gate(*, setup: WrkSetup = OUTSIDE, also: tuple[WrkSetup, ...] = (),
             latency: float = 0.05, workers: int = 2, outside: bool = False) -> GateResult:
    """The gate with its throughput rounds as ``setup`` says (checked against LIMITS),
    then as each of ``also`` says (reported beside, not checked); with ``outside``, the
    side-by-side check's targets in the same rounds (compared, not checked)."""
    started = time.monotonic()
    result = GateResult("wrk" if have_wrk() else "aiohttp closed loop", setup.describe())
    anvil = Anvil().start()
    proxy = node = nginx = plain_nginx = plain_node = None
    folder = tempfile.mkdtemp(prefix="bizra-gate-")
    try:
        m = seed(anvil.url)
        proxy = ProxyProcess(anvil.url, latency).start()
        node, _ = start_node(proxy.url, workers=workers)
        hot = m.legacy_tx
        post, get = validation_request("transaction", hot), validation_request("transaction", hot, "get")
        _send(node.base + post.path, post.body)
        _send(node.base + get.path, None)
        targets: Targets = {}
        if have_nginx():
            nginx = NginxCache(f"127.0.0.1:{anvil.port}", free_port(), workers=workers).start()
            rpc = rpc_request(hot)
            for _ in range(3):
                _send(nginx.base + "/", rpc.body)
            targets["nginx"] = (nginx.base + "/", rpc.body, nginx.pids())
        else:
            result.notes.append("nginx is not installed (make bench-tools): its ratios unchecked")
        proxy.reset()
        pids = node.pids()
        targets |= {"bare GET": (node.base + "/_bench/constant", None, pids),
                    "POST hit": (node.base + post.path, post.body, pids),
                    "GET hit": (node.base + get.path, None, pids)}
        if outside and nginx is not None:
            plain_nginx = NginxCache(f"127.0.0.1:{anvil.port}", free_port(), workers=workers,
                                     plain=True).start()
            plain_node = _plain_node(anvil.url, folder)
            for _ in range(3):
                _send(plain_nginx.base + "/", rpc.body)
                _send(plain_node.base + post.path, post.body)
                _send(plain_node.base + get.path, None)
            plain_pids = plain_node.pids()
            targets |= {OUTSIDE_TARGETS["nginx"]: (plain_nginx.base + "/", rpc.body,
                                                   plain_nginx.pids()),
                        OUTSIDE_TARGETS["POST hit"]: (plain_node.base + post.path, post.body,
                                                      plain_pids),
                        OUTSIDE_TARGETS["GET hit"]: (plain_node.base + get.path, None,
                                                     plain_pids)}
        elif outside:
            result.notes.append("--outside needs nginx (make bench-tools): not measured")
        result.answer_bytes = {name: _request(url, body)[1]
                               for name, (url, body, _) in targets.items()}
        for name, watch in (("nginx", targets.get("nginx", ("", None, []))[2]), ("node", pids)):
            if watch:
                with Watch(watch) as idle:
                    time.sleep(1.0)
                result.idle_cpu_pct[name] = idle.cpu_pct
        result.rounds, result.errors = _measure(targets, setup)
        for name in OUTSIDE_TARGETS.values():
            if name in result.rounds:
                result.outside_rounds[name] = result.rounds.pop(name)
                result.outside_errors[name] = result.errors.pop(name)
                targets.pop(name)
        for stopped in (plain_nginx, plain_node):
            if stopped is not None:
                stopped.stop()
        plain_nginx = plain_node = None
        for other in also:
            rounds, errors = _measure(targets, other)
            ratios, _, failed = ratios_of(rounds, errors)
            result.others[other.describe()] = {
                "ratios": ratios,
                "rps": {k: statistics.median(r[0] for r in v) for k, v in rounds.items()},
                "cpu_us": {k: statistics.median(r[1] for r in v) for k, v in rounds.items()}}
            result.notes += [f"{other.describe()}: {f}" for f in failed]
        calls = proxy.stats()["calls"]
        result.counts["upstream validations during the hit runs"] = int(
            calls.get("eth_getTransactionByHash", 0))
        if nginx is not None:
            nginx.stop()
            nginx = None
        # misses: keys never asked before, one at a time, then the same batches direct; on
        # a node of one worker, so that "a block proven before" means proven by the worker
        # that answers (each worker keeps its own proofs)
        node.stop()
        node, _ = start_node(proxy.url, workers=1)
        _misses(result, node.base, proxy, m)
    finally:
        for server in (nginx, plain_nginx, plain_node):
            if server is not None:
                server.stop()
        shutil.rmtree(folder, ignore_errors=True)
        if node is not None:
            node.stop()
        if proxy is not None:
            proxy.stop()
        anvil.stop()
    judge(result)
    compare_outside(result)
    # each worker has an L1 of its own: the warm-up may have reached only one of them
    if result.counts["upstream validations during the hit runs"] > workers:
        result.failures.append("L1 hits went upstream")
    for kind, trips in MISS_TRIPS.items():
        ratio = result.miss_ms[f"{kind}: node"] / result.miss_ms[f"{kind}: upstream direct"]
        result.ratios[f"{kind} miss / upstream round trip"] = ratio
        if ratio > trips * MAX_MISS_RATIO:
            result.failures.append(f"{kind} miss / upstream round trip = {ratio:.2f} > "
                                   f"{trips} x {MAX_MISS_RATIO}")
        counted = result.counts[f"{kind}: upstream round trips per miss"]
        if counted != trips:
            result.failures.append(f"a {kind} miss took {counted} upstream round trips, "
                                   f"not {trips}")
    result.seconds = time.monotonic() - started
    return result


MISS_TRIPS = {"transaction (block not proven yet)": 2, "transaction (block proven)": 1,
              "block": 1, "address": 1}
"""The upstream round trips each kind of miss needs."""


def _misses(result: GateResult, base: str, proxy: ProxyProcess, m: Any) -> None:
    """Each kind of miss on keys never asked before, one at a time (median ms and round
    trips per miss), then the same first batches sent to the upstream directly."""
    txs = [m.eip2930_tx, m.eip1559_tx, *m.transfers, m.deploy_tx, m.call_ok_tx, m.reverted_tx]
    cold, warm = txs[:len(txs) // 2], txs[len(txs) // 2:]
    head = int(_rpc(proxy.url, "eth_blockNumber"), 16)
    warm_blocks = [int(_rpc(proxy.url, "eth_getTransactionByHash", tx)["blockNumber"], 16)
                   for tx in warm]
    blocks = [n for n in range(head - 8, head + 1) if n not in warm_blocks][:6]
    addresses = m.accounts[1:7]

    def node(kind: str, keys: list[Any], requests: list[tuple[str, bytes]]) -> None:
        proxy.reset()
        ms = [_send(base + path, body) * 1000 for path, body in requests]
        result.miss_ms[f"{kind}: node"] = statistics.median(ms)
        stats = proxy.stats()
        result.counts[f"{kind}: head-only requests (not counted)"] = int(stats["headOnly"])
        result.counts[f"{kind}: upstream round trips per miss"] = round(
            (int(stats["received"]) - int(stats["headOnly"])) / len(keys))

    def post(kind: str, key: Any) -> tuple[str, bytes]:
        req = validation_request(kind, key)
        return req.path, req.body or b""

    node("transaction (block not proven yet)", cold, [post("transaction", k) for k in cold])
    node("block", blocks, [post("block", n) for n in blocks])
    for n in warm_blocks:  # prove the warm transactions' blocks (a block validation does)
        _send(base + post("block", n)[0], post("block", n)[1])
    node("transaction (block proven)", warm, [post("transaction", k) for k in warm])
    node("address", addresses, [post("address", a) for a in addresses])
    for kind, bodies in (("transaction (block not proven yet)", [tx_batch_body(k) for k in cold]),
                         ("transaction (block proven)", [tx_batch_body(k) for k in warm]),
                         ("block", [block_batch_body(n) for n in blocks]),
                         ("address", [address_batch_body(a, head) for a in addresses])):
        result.miss_ms[f"{kind}: upstream direct"] = statistics.median(
            _send(proxy.url, b) * 1000 for b in bodies)


def _rpc(url: str, method: str, *params: Any) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                       "params": list(params)}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())["result"]
