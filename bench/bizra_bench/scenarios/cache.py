"""`bizra-node bench cache`: what the tiered cache costs, on real devnet answers.

- L1 get/set, ns per op (and a TieredCache.fetch L1 hit, the cache's hit path).
- L2 get/set, µs per op on loopback Redis (the machine's, under a unique prefix
  that is deleted afterwards; or --redis URL).
- Per codec and level: stored size / raw size and µs to compress / decompress,
  per payload kind (transactions, small blocks, a full block, accounts). The
  payloads are the exact bytes the cache stores: answers computed by the node
  from a seeded anvil, as msgpack entries.
- The MAC on L2 values (auth.py): µs to seal and to open (check) one stored value per
  payload kind, HMAC-SHA256 (what the node uses) against keyed BLAKE2b.
- The validation hit path in process: µs per dispatched request for an L1 hit
  against the bare /_bench/constant endpoint (no HTTP server; the HTTP req/s
  comparison is `bench api` with wrk).

Options: --quick (fewer iterations), --redis URL, --no-l2.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from bizra_bench.results import publish
from bizra_node.api import Request
from bizra_node.app import Node
from bizra_node.cache import (
    Codec,
    CodecName,
    Entry,
    EntryAuth,
    L1Cache,
    RedisL2,
    derive_key,
    encode_entry,
    l2_breaker_config,
)
from bizra_node.devnet import Anvil, rpc, seed, wait_receipt
from bizra_node.observability import NodeMetrics
from bizra_node.resilience import CircuitBreaker
from bizra_node.settings import Settings
from bizra_node.tuning import TUNING, Harness

CODECS: list[tuple[CodecName, int]] = [("raw", 0), ("zlib", 1), ("zlib", 6), ("zlib", 9),
                                 ("zstd", -1), ("zstd", 1), ("zstd", 3), ("zstd", 6),
                                 ("zstd", 9), ("zstd", 19), ("zstd-dict", 1),
                                 ("zstd-dict", 3), ("zstd-dict", 9)]


def _per_op(fn: Callable[[], Any], n: int, repeat: int = 3) -> float:
    """Best-of-``repeat`` seconds per call of ``fn`` over ``n`` calls."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best


# --- payloads ---------------------------------------------------------------------------
def _full_block(url: str, count: int) -> int:
    """Mine one block holding ``count`` transfers; returns its number."""
    accounts = rpc(url, "eth_accounts")
    rpc(url, "evm_setAutomine", [False])
    try:
        hashes = [rpc(url, "eth_sendTransaction",
                      [{"from": accounts[i % 10], "to": accounts[(i + 1) % 10],
                        "value": hex(1000 + i)}]) for i in range(count)]
        rpc(url, "evm_mine")
    finally:
        rpc(url, "evm_setAutomine", [True])
    receipt = wait_receipt(url, hashes[-1])
    return int(receipt["blockNumber"], 16)


async def _payloads(node: Node, anvil_url: str, manifest: Any, full: int) -> dict[str, list[bytes]]:
    svc, cache = node.service, node.cache
    txs = [manifest.legacy_tx, manifest.eip2930_tx, manifest.eip1559_tx, *manifest.transfers,
           manifest.deploy_tx, manifest.call_ok_tx, manifest.reverted_tx]
    out: dict[str, list[bytes]] = {"transaction": [], "block": [], "block_full": [],
                                   "account": []}

    def record(kind: str, subject: str) -> bytes:
        entry = cache.peek(kind, subject)
        assert isinstance(entry, Entry), (kind, subject)
        return encode_entry(entry)

    for tx in txs:
        await svc.transaction_answer(tx)
        out["transaction"].append(record("transaction", tx))
    for number in range(1, 12):
        await svc.block_answer(number)
        out["block"].append(record("block", str(number)))
    await svc.block_answer(full)
    out["block_full"].append(record("block", str(full)))
    for address in [*manifest.accounts[:4], manifest.contract]:
        from bizra_node.validation import parse_address
        checked = parse_address(address)
        await svc.address_answer(checked)
        out["account"].append(record("address", checked))
    return out


# --- measurements -------------------------------------------------------------------------
def _codec_row(name: CodecName, level: int, kind: str, items: list[bytes], n: int) -> dict[str, Any]:
    codec = Codec(name, level)
    raw = sum(len(p) for p in items)
    packed = [codec.compress(p) for p in items]
    stored = sum(len(codec.encode(p)) for p in items)
    comp = _per_op(lambda: [codec.compress(p) for p in items], n) / len(items)
    stored_forms = [codec.encode(p) for p in items]
    dec = _per_op(lambda: [codec.decode(c) for c in stored_forms], n) / len(items)
    return {"codec": name, "level": level, "kind": kind, "payloads": len(items),
            "raw_bytes_avg": round(raw / len(items)),
            "ratio": round(sum(len(c) for c in packed) / raw, 3),
            "stored_ratio": round(stored / raw, 3),
            "compress_us": round(comp * 1e6, 2), "decode_us": round(dec * 1e6, 2)}


def _codec_table(payloads: dict[str, list[bytes]], n: int) -> list[dict[str, Any]]:
    return [_codec_row(name, level, kind, items, n)
            for name, level in CODECS for kind, items in payloads.items()]


def _auth_rows(payloads: dict[str, list[bytes]], n: int) -> list[dict[str, Any]]:
    """The MAC's cost per stored value (codec-encoded, as Redis holds it)."""
    import hashlib

    key = derive_key(os.urandom(32).hex())
    auth = EntryAuth(key)
    redis_key = "bizra:v2:31337:transaction:0x" + "ab" * 32
    rows = []
    large = {"synthetic_170k": [b"raw:" + os.urandom(170_000)]}  # a large block's size
    for kind, items in {**payloads, **large}.items():
        stored = ([Codec("zstd-dict", 1).encode(p) for p in items] if kind not in large
                  else items)
        sealed = [auth.seal(redis_key, s) for s in stored]

        def blake(stored: list[bytes] = stored) -> None:
            for s in stored:
                mac = hashlib.blake2b(key=key, digest_size=16)
                mac.update(redis_key.encode())
                mac.update(s)
                mac.digest()

        def seal_all(stored: list[bytes] = stored) -> None:
            for s in stored:
                auth.seal(redis_key, s)

        def open_all(sealed: list[bytes] = sealed) -> None:
            for s in sealed:
                auth.open(redis_key, s)

        seal = _per_op(seal_all, n) / len(stored)
        check = _per_op(open_all, n) / len(stored)
        rows.append({"kind": kind, "stored_bytes_avg": round(sum(map(len, stored)) / len(stored)),
                     "hmac_sha256_seal_us": round(seal * 1e6, 2),
                     "hmac_sha256_open_us": round(check * 1e6, 2),
                     "blake2b_keyed_us": round(_per_op(blake, n) / len(stored) * 1e6, 2)})
    return rows


def _l1_numbers(n: int, sample: Entry) -> dict[str, float]:
    l1: L1Cache[tuple[str, str], Entry] = L1Cache(10_000, 256 * 1024 * 1024,
                                                  metrics=NodeMetrics())
    keys = [("transaction", f"0x{i:064x}") for i in range(10_000)]
    it = iter(range(10**12))

    def do_set() -> None:
        i = next(it) % 10_000
        l1.set(keys[i], sample, sample.size, 300.0)

    set_s = _per_op(do_set, n)
    hot = keys[123]
    l1.set(hot, sample, sample.size, 300.0)
    get_s = _per_op(lambda: l1.get(hot), n)
    miss = ("transaction", "0x" + "f" * 64)
    miss_s = _per_op(lambda: l1.get(miss), n)
    return {"l1_set_ns": round(set_s * 1e9, 1), "l1_get_hit_ns": round(get_s * 1e9, 1),
            "l1_get_miss_ns": round(miss_s * 1e9, 1)}


async def _fetch_hit_ns(node: Node, tx: str, n: int) -> float:
    cache, svc = node.cache, node.service

    async def compute(subject: str) -> Entry:
        raise AssertionError("should be a hit")

    await svc.transaction_answer(tx)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(n):
            await cache.fetch("transaction", tx, compute, None)
        best = min(best, (time.perf_counter() - t0) / n)
    return round(best * 1e9, 1)


async def _hit_path_us(node: Node, tx: str, n: int) -> dict[str, float]:
    """Dispatch in process (no HTTP), as the adapters do (the synchronous lane, then
    the full path): a cached validation vs the bare endpoint."""
    disp = node.dispatcher
    body = b'{"txHash":"' + tx.encode() + b'"}'
    headers = {"content-type": "application/json"}

    def req(method: str, path: str, payload: bytes) -> Request:
        return Request(method, path, "", headers.get, payload, "bench-request-id")

    await disp.dispatch(req("POST", "/api/v1/validate/transaction", body))
    out = {}
    for label, method, path, payload in (
            ("constant", "GET", "/_bench/constant", b""),
            ("validate_tx_hit", "POST", "/api/v1/validate/transaction", body),
            ("get_tx_hit", "GET", f"/api/v1/transactions/{tx}", b"")):
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(n):
                r = req(method, path, payload)
                resp = disp.answer_now(r) or await disp.dispatch(r)
            best = min(best, (time.perf_counter() - t0) / n)
            assert resp.status == 200, resp.body[:200]
        out[f"{label}_us"] = round(best * 1e6, 2)
    out["hit_over_constant"] = round(out["validate_tx_hit_us"] / out["constant_us"], 2)
    return out


async def _l2_numbers(url: str, payloads: dict[str, list[bytes]], n: int) -> dict[str, Any]:
    metrics = NodeMetrics()
    l2 = RedisL2(url, timeout=1.0, metrics=metrics,
                 breaker=CircuitBreaker("redis", l2_breaker_config(3, 5.0)))
    prefix = f"bizra-bench:{os.getpid()}:{os.urandom(4).hex()}:"
    codec = Codec("zstd", 3)
    results: dict[str, Any] = {"redis": url.split("@")[-1], "prefix": prefix}
    written: list[str] = []
    try:
        if not (await l2.ping())["up"]:
            return {"skipped": "redis not answering", **results}
        for kind in ("transaction", "block_full"):
            value = codec.encode(payloads[kind][0])
            key = prefix + kind
            written.append(key)
            set_lat, get_lat = [], []
            for _ in range(n):
                t0 = time.perf_counter()
                await l2.set(key, value, 60)
                t1 = time.perf_counter()
                got = await l2.get(key)
                t2 = time.perf_counter()
                assert got == value
                set_lat.append(t1 - t0)
                get_lat.append(t2 - t1)
            results[kind] = {
                "stored_bytes": len(value),
                "set_us_median": round(statistics.median(set_lat) * 1e6, 1),
                "get_us_median": round(statistics.median(get_lat) * 1e6, 1),
                "get_us_p99": round(sorted(get_lat)[int(len(get_lat) * 0.99)] * 1e6, 1)}
        # concurrency 64: throughput of gets
        key = written[0]
        t0 = time.perf_counter()
        rounds = max(n // 64, 5)
        for _ in range(rounds):
            await asyncio.gather(*(l2.get(key) for _ in range(64)))
        results["get_concurrent64_per_s"] = round(rounds * 64 / (time.perf_counter() - t0))
        results["errors"] = {k[0]: v for k, v in metrics.cache_l2_errors.items()}
    finally:
        await l2.delete(*written)
        await l2.close()
    return results


def _markdown(data: dict[str, Any]) -> str:
    lines = ["# bench cache", "", f"payloads: {data['payload_counts']}", "",
             "## L1 (ns per op)", ""]
    lines += [f"- {k}: {v}" for k, v in data["l1"].items()]
    lines += ["", "## Hit path in process (µs per dispatched request, no HTTP)", ""]
    lines += [f"- {k}: {v}" for k, v in data["hit_path"].items()]
    lines += ["", "## MAC on L2 values (µs per stored value)", "",
              "| kind | stored avg B | HMAC-SHA256 seal | HMAC-SHA256 open | keyed BLAKE2b |",
              "|---|---|---|---|---|"]
    for r in data["auth"]:
        lines.append(f"| {r['kind']} | {r['stored_bytes_avg']} | {r['hmac_sha256_seal_us']} | "
                     f"{r['hmac_sha256_open_us']} | {r['blake2b_keyed_us']} |")
    lines += ["", "## L2 Redis on loopback", ""]
    for k, v in data["l2"].items():
        lines.append(f"- {k}: {v}")
    lines += ["", "## Codecs (ratio = compressed/raw; stored_ratio applies the 10 % rule)", "",
              "| codec | level | kind | n | raw avg B | ratio | stored | compress µs | "
              "decode µs |", "|---|---|---|---|---|---|---|---|---|"]
    for r in data["codecs"]:
        lines.append(f"| {r['codec']} | {r['level']} | {r['kind']} | {r['payloads']} | "
                     f"{r['raw_bytes_avg']} | {r['ratio']} | {r['stored_ratio']} | "
                     f"{r['compress_us']} | {r['decode_us']} |")
    lines += ["", f"chosen default: {data['default_codec']}", ""]
    return "\n".join(lines)


async def _main(args: argparse.Namespace) -> int:
    n = 2_000 if args.quick else 20_000
    anvil = Anvil().start()
    try:
        manifest = seed(anvil.url)
        full = _full_block(anvil.url, 60 if args.quick else 200)
        settings = Settings(_env_file=None, bizra_node_url=anvil.url, db_enabled=False,  # type: ignore[call-arg]
                            redis_url="", log_level="warning")
        node = Node(settings, harness=Harness(bench_endpoints=True))
        await node.start()
        try:
            payloads = await _payloads(node, anvil.url, manifest, full)
            tx_entry = node.cache.peek("transaction", manifest.legacy_tx)
            assert tx_entry is not None
            data: dict[str, Any] = {
                "payload_counts": {k: len(v) for k, v in payloads.items()},
                "l1": _l1_numbers(n * 5, tx_entry),
            }
            data["l1"]["tiered_fetch_l1_hit_ns"] = await _fetch_hit_ns(
                node, manifest.legacy_tx, n * 2)
            data["hit_path"] = await _hit_path_us(node, manifest.legacy_tx, n)
        finally:
            await node.stop()
        data["codecs"] = _codec_table(payloads, max(n // 100, 20))
        data["auth"] = _auth_rows(payloads, max(n // 20, 50))
        data["l2"] = ({"skipped": "--no-l2"} if args.no_l2
                      else await _l2_numbers(args.redis, payloads, max(n // 10, 200)))
        data["default_codec"] = f"{TUNING.cache_codec} level {TUNING.cache_codec_level}"
    finally:
        anvil.stop()
    publish("cache", data, _markdown(data))
    return 0


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bizra-node bench cache", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0",
                        help="Redis for the L2 numbers (keys under a unique prefix)")
    parser.add_argument("--no-l2", action="store_true", help="skip the Redis measurements")
    return asyncio.run(_main(parser.parse_args(argv)))
