"""The performance regression gate: a short run (about 30 s) that fails only when a
ratio measured in the same run falls far below where it is, never on an absolute time.

Checked, on a seeded anvil behind the latency proxy (+50 ms), node with 2 workers:

- L1-hit POST validate/transaction >= 0.25x the bare endpoint of the same server
  (measured ~0.65x), GET transactions/{hash} likewise (~0.9x): wrk, best of a few
  rounds taking each target in turn, so a burst of load from elsewhere hits all alike;
- a hit makes no upstream call (beyond each worker's first); a miss costs a fixed
  number of upstream round trips (counted at the proxy: the batching and the cache,
  not a timing): a block by number, an address, and a transaction in a block already
  proven one each; a transaction in a block not proven yet two (the transaction names
  its block; the block and its receipts are then proven against the header);
- each miss takes at most its round trips x 1.5 one upstream round trip (medians; the
  same batches sent to the upstream directly are the unit), verification included.

The thresholds are generous on purpose: the gate runs in `make test` on a shared
2-core machine. The suite (`bizra-node bench suite`) measures the real figures.
Without wrk, throughput is measured by a small aiohttp closed-loop client in a
process of its own (weaker: both sides are then client-bound, so the ratio is
closer to 1 and only a gross regression shows).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from bizra_bench.loadgen import have_wrk, wrk
from bizra_bench.stack import ProxyProcess, start_node
from bizra_bench.workload import (
    address_batch_body,
    block_batch_body,
    tx_batch_body,
    validation_request,
)
from bizra_node.devnet import Anvil, seed

__all__ = ["GateResult", "run_gate"]

MIN_HIT_RATIO = 0.25
MAX_MISS_RATIO = 1.5
"""Per upstream round trip a miss needs (see the module doc)."""


@dataclass
class GateResult:
    tool: str
    rps: dict[str, float] = field(default_factory=dict)
    ratios: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    miss_ms: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures

    def report(self) -> str:
        lines = [f"gate ({self.tool}, {self.seconds:.0f} s): {'ok' if self.ok else 'FAILED'}"]
        lines += [f"  {k}: {v:.0f} req/s" for k, v in self.rps.items()]
        lines += [f"  {k}: {v:.3f}" for k, v in self.ratios.items()]
        lines += [f"  {k}: {v}" for k, v in self.counts.items()]
        lines += [f"  {k}: {v:.1f} ms" for k, v in self.miss_ms.items()]
        lines += [f"  FAILED: {f}" for f in self.failures]
        return "\n".join(lines)


def _send(url: str, body: bytes | None) -> float:
    """One request; seconds it took (raises on a non-2xx answer)."""
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=30) as resp:
        resp.read()
    return time.perf_counter() - t0


def _closed_loop(url: str, body: bytes | None, duration: float, connections: int) -> float:
    """req/s of a closed-loop aiohttp client in a process of its own (no wrk)."""
    code = ("import asyncio,sys,time,aiohttp\n"
            "async def main(url,body,dur,n):\n"
            "  count=0\n"
            "  async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=n)) as s:\n"
            "    end=time.monotonic()+dur\n"
            "    async def w():\n"
            "      nonlocal count\n"
            "      while time.monotonic()<end:\n"
            "        if body: r=await s.post(url,data=body,headers={'content-type':'application/json'})\n"
            "        else: r=await s.get(url)\n"
            "        await r.read(); count+=1\n"
            "    t0=time.monotonic(); await asyncio.gather(*(w() for _ in range(n)))\n"
            "    print(count/(time.monotonic()-t0))\n"
            "b=sys.argv[2].encode() or None\n"
            "asyncio.run(main(sys.argv[1],b,float(sys.argv[3]),int(sys.argv[4])))\n")
    out = subprocess.run([sys.executable, "-c", code, url, (body or b"").decode(), str(duration),
                          str(connections)], capture_output=True, text=True, check=True,
                         timeout=duration + 60).stdout
    return float(out.strip())


def _throughput(url: str, body: bytes | None, duration: float, connections: int) -> float:
    if have_wrk():
        return wrk(url, url, duration=duration, connections=connections, body=body).rps
    return _closed_loop(url, body, duration, connections)


def run_gate(*, duration: float = 2.0, repeats: int = 3, latency: float = 0.05,
             workers: int = 2, connections: int = 32) -> GateResult:
    started = time.monotonic()
    result = GateResult("wrk" if have_wrk() else "aiohttp closed loop")
    anvil = Anvil().start()
    proxy = node = None
    try:
        m = seed(anvil.url)
        proxy = ProxyProcess(anvil.url, latency).start()
        node, _ = start_node(proxy.url, workers=workers)
        hot = m.legacy_tx
        post, get = validation_request("transaction", hot), validation_request("transaction", hot, "get")
        _send(node.base + post.path, post.body)
        _send(node.base + get.path, None)
        proxy.reset()
        targets = {"bare GET": (node.base + "/_bench/constant", None),
                   "POST hit": (node.base + post.path, post.body),
                   "GET hit": (node.base + get.path, None)}
        for _ in range(repeats):
            for name, (url, body) in targets.items():
                rps = _throughput(url, body, duration, connections)
                result.rps[name] = max(result.rps.get(name, 0.0), rps)
        calls = proxy.stats()["calls"]
        result.counts["upstream validations during the hit runs"] = int(
            calls.get("eth_getTransactionByHash", 0))
        # misses: keys never asked before, one at a time, then the same batches direct; on
        # a node of one worker, so that "a block proven before" means proven by the worker
        # that answers (each worker keeps its own proofs)
        node.stop()
        node, _ = start_node(proxy.url, workers=1)
        _misses(result, node.base, proxy, m)
    finally:
        if node is not None:
            node.stop()
        if proxy is not None:
            proxy.stop()
        anvil.stop()
    bare = result.rps["bare GET"]
    result.ratios = {"POST hit / bare GET": result.rps["POST hit"] / bare,
                     "GET hit / bare GET": result.rps["GET hit"] / bare}
    for name in ("POST hit / bare GET", "GET hit / bare GET"):
        if result.ratios[name] < MIN_HIT_RATIO:
            result.failures.append(f"{name} = {result.ratios[name]:.3f} < {MIN_HIT_RATIO}")
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
        result.counts[f"{kind}: upstream round trips per miss"] = round(
            int(proxy.stats()["received"]) / len(keys))

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
