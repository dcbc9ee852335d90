"""What proven, complete logs cost (logs.py): ``python -m bizra_bench.scenarios.trust_logs``.

1. Per block (``block_costs``): a real anvil block with 1, 100 and 1 000 logs (one
   emitting transaction each), its full JSON and receipts fetched once; then, in
   process, the CPU time of what a miss does with them: the header hash, the
   transactions and receipts roots rebuilt (``prove_block``), the logs with their
   positions (``block_logs``) and the filter applied. Median of 5 runs.
2. The bloom (``bloom_skip``): synthetic blocks of n logs (a random address and three
   random topics each, as busy mainnet blocks have a few hundred) and a filter on one
   address and one topic that no block has: the share of blocks the bloom lets the
   node skip (a bloom never skips a block that has a match).
3. A range miss (``range_miss``): a node (granian, one worker) behind the fault proxy
   at 50 ms upstream latency, anvil with 200 blocks of which every 10th has a log of
   the filtered contract: the HTTP requests the proxy received (upstream round trips;
   concurrent batches each count) and the miss latency, against the upstream's own
   eth_getLogs over the same range (one round trip, nothing proven).
"""

from __future__ import annotations

import json
import os
import statistics
import time
import urllib.request
from typing import Any

from bizra_bench.stack import ProxyProcess, start_node
from bizra_node.devnet import Anvil
from bizra_node.devnet.seed import rpc, wait_receipt
from bizra_node.validation.logs import LogFilter, block_logs, log_matches, may_match
from bizra_node.validation.trust import prove_block

__all__ = ["block_costs", "bloom_skip", "range_miss"]

_EMITTER = ("6060356000526040356020356000356020" + "6000" + "a3" + "00")
_INIT = "0x60" + f"{len(_EMITTER) // 2:02x}" + "80600b6000396000f3" + _EMITTER


def _deploy(url: str) -> str:
    sender = rpc(url, "eth_accounts")[0]
    tx = rpc(url, "eth_sendTransaction", [{"from": sender, "data": _INIT, "gas": hex(200_000)}])
    return str(wait_receipt(url, tx)["contractAddress"])


def _emit(url: str, to: str, sender: str, k: int) -> str:
    data = "0x" + "".join(f"{v:064x}" for v in (1, k, 7, k))
    return str(rpc(url, "eth_sendTransaction", [{"from": sender, "to": to, "data": data,
                                                 "gas": hex(60_000)}]))


def block_costs(sizes: tuple[int, ...] = (1, 100, 1000)) -> dict[int, dict[str, float]]:
    anvil = Anvil().start()
    try:
        url = anvil.url
        emitter = _deploy(url)
        accounts = rpc(url, "eth_accounts")
        rpc(url, "evm_setAutomine", [False])
        out: dict[int, dict[str, float]] = {}
        for n in sizes:
            last = ""
            for k in range(n):
                last = _emit(url, emitter, accounts[k % len(accounts)], k)
            rpc(url, "evm_mine", [])
            receipt = wait_receipt(url, last)
            block = rpc(url, "eth_getBlockByHash", [receipt["blockHash"], True])
            receipts = rpc(url, "eth_getBlockReceipts", [receipt["blockHash"]])
            f = LogFilter.parse({"address": emitter, "topics": [None, "0x" + f"{3:064x}"]})
            runs = []
            for _ in range(5):
                start = time.perf_counter()
                proven = prove_block(block, receipts)
                logs = block_logs(proven)
                matched = [e for a, t, e in logs if log_matches(f, a, t)]
                runs.append(time.perf_counter() - start)
            assert len(logs) == n and len(matched) == (1 if n > 3 else 0)
            start = time.perf_counter()
            for _ in range(1000):
                may_match(proven.header.logs_bloom, f.bloom_terms())
            bloom_us = (time.perf_counter() - start) * 1000
            out[n] = {"prove_and_filter_ms": statistics.median(runs) * 1000,
                      "per_log_us": statistics.median(runs) * 1e6 / n,
                      "bloom_test_us": bloom_us,
                      "receipts_json_kb": len(json.dumps(receipts)) / 1024}
        return out
    finally:
        anvil.stop()


def bloom_skip(sizes: tuple[int, ...] = (10, 100, 200, 400), blocks: int = 2000
               ) -> dict[int, float]:
    from bizra_node.validation.trust.bloom import bloom_add

    f = LogFilter.parse({"address": "0x" + "ab" * 20, "topics": ["0x" + "cd" * 32]})
    terms = f.bloom_terms()
    out: dict[int, float] = {}
    for n in sizes:
        skipped = 0
        for _ in range(blocks):
            bloom = bytearray(256)
            for _ in range(n):
                bloom_add(bloom, os.urandom(20))
                for _ in range(3):
                    bloom_add(bloom, os.urandom(32))
            skipped += not may_match(bytes(bloom), terms)
        out[n] = skipped / blocks
    return out


def _post(url: str, body: dict[str, Any]) -> tuple[float, Any, str]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    start = time.perf_counter()
    with urllib.request.urlopen(req, timeout=60) as resp:
        doc = json.loads(resp.read())
        said = resp.headers.get("X-Verification", "")
    return time.perf_counter() - start, doc, said


def range_miss(latency: float = 0.05, blocks: int = 200) -> dict[str, Any]:
    anvil = Anvil().start()
    proxy = None
    try:
        url = anvil.url
        emitter, other = _deploy(url), _deploy(url)
        accounts = rpc(url, "eth_accounts")
        last = ""
        for k in range(blocks):
            last = _emit(url, emitter if k % 10 == 0 else other, accounts[1], k)
        wait_receipt(url, last)
        head = int(rpc(url, "eth_blockNumber"), 16)
        proxy = ProxyProcess(url, latency).start()
        node, _ = start_node(proxy.url, workers=1, extra={
            "HEAD_FOLLOW_WS": "off", "HEAD_FOLLOW_INTERVAL": "0", "TTL_HEAD": "600"},
            tuning={"anchor_refresh": 600.0})
        try:
            rpc_url = node.base + "/rpc"
            _post(rpc_url, {"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance",
                            "params": [accounts[0], "latest"]})  # the anchor, linked
            criteria = {"fromBlock": hex(max(head - blocks + 1, 0)), "toBlock": hex(head),
                        "address": emitter}
            body = {"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [criteria]}
            proxy.reset()
            miss, doc, said = _post(rpc_url, body)
            stats = proxy.stats()
            hit, _, _ = _post(rpc_url, body)
            after = proxy.stats()
            direct, honest, _ = _post(proxy.url, body)
            if "result" not in doc or doc.get("result") != honest.get("result"):
                raise RuntimeError(f"the node answered {str(doc)[:400]}, the upstream {str(honest)[:300]}")
            return {"blocks": min(blocks, head + 1), "logs": len(doc["result"]), "miss_ms": miss * 1000,
                    "round_trips": stats["received"], "calls": stats["calls"],
                    "repeat_ms": hit * 1000, "repeat_round_trips":
                        after["received"] - stats["received"],
                    "direct_ms": direct * 1000, "x_verification": said}
        finally:
            node.stop()
    finally:
        if proxy is not None:
            proxy.stop()
        anvil.stop()


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps({"block_costs": block_costs(), "bloom_skip": bloom_skip(),
                      "range_miss": range_miss()}, indent=1))
