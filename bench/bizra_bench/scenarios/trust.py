"""`bizra-node bench trust`: what verification costs.

1. The checks on real anvil blocks of 1, 100 and 1 000 transactions (``--runs``).
2. Misses with full verification through the node at 50 ms upstream latency
   (``--miss-rounds`` fresh nodes of one worker): each kind of miss against the same
   batches sent to the upstream directly, as the regression gate measures them.
3. /rpc with proofs (trust_rpc.py): round trips and latency of each proven method's
   miss (``--rpc-rounds`` fresh nodes), and the hit path under wrk, against another
   source tree's node with ``--baseline-src``.

    bizra-node bench trust [--runs 7] [--miss-rounds 3] [--skip-misses]
                           [--rpc-rounds 3] [--skip-rpc] [--baseline-src DIR]

Starts its own anvil (seeded by bizra_bench/trust_seed.py), fetches each block with
its receipts, a transaction and its receipt, and an EIP-1186 proof of the sender's
account at that block, then times each check. Every figure is microseconds of wall
time per operation: the median and range over ``--runs`` runs, each run repeating the
operation for at least ~40 ms. Also measured, to justify the hand-written parts: the
trie root builder against the ``trie`` library's HexaryTrie, the RLP encoder against
the ``rlp`` library, and sender recovery through coincurve against eth-keys.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import rlp
from eth_hash.auto import keccak as eth_keccak
from eth_keys.backends.coincurve import CoinCurveECCBackend
from eth_keys.main import KeyAPI

from bizra_bench.results import publish
from bizra_bench.scenarios.trust_rpc import rpc_hits, rpc_markdown, rpc_misses
from bizra_bench.trust_seed import TrustDevnet, seed_trust, start_trust_anvil
from bizra_node.validation.trust import (
    decode_receipt,
    decode_transaction,
    ordered_trie_root,
    prove_block,
    prove_transaction,
    recover_address,
    reference_trie_root,
    verify_account_proof,
    verify_header,
    verify_transaction,
)
from bizra_node.validation.trust._keccak import keccak
from bizra_node.validation.trust._rlp import encode

CHAIN = 31337
SIZES = (1, 100, 1000)


def measure(op: Callable[[], Any], runs: int, min_seconds: float = 0.04) -> dict[str, float]:
    """µs per call: median, min and max over ``runs`` runs of >= ``min_seconds`` each."""
    op()  # warm up (first-use imports, caches)
    start = time.perf_counter()
    op()
    once = max(time.perf_counter() - start, 1e-7)
    reps = max(1, int(min_seconds / once))
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for _ in range(reps):
            op()
        samples.append((time.perf_counter() - t0) / reps * 1e6)
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples),
            "reps": reps}


def _fmt(m: dict[str, float]) -> str:
    def f(x: float) -> str:
        return f"{x:,.1f}" if x < 100 else f"{x:,.0f}"
    return f"{f(m['median'])} ({f(m['min'])}..{f(m['max'])})"


def bench_block(devnet: TrustDevnet, size: int, runs: int) -> dict[str, dict[str, float]]:
    number = devnet.manifest.big_blocks[size]
    block = devnet.block(number)
    receipts = devnet.call("eth_getBlockReceipts", hex(number))
    txs = block["transactions"]
    tx = txs[len(txs) // 2]
    receipt = devnet.call("eth_getTransactionReceipt", tx["hash"])
    header = verify_header(block)
    proof = devnet.call("eth_getProof", tx["from"], [], hex(number))
    address = bytes.fromhex(tx["from"][2:])
    proven = prove_block(block, receipts)
    tx_encodings = [decode_transaction(t).encoding for t in txs]
    receipt_encodings = [decode_receipt(r).encoding for r in receipts]

    def every_tx() -> None:
        for t in txs:
            verify_transaction(t, CHAIN)

    out = {
        "tx hash + sender (one tx)": measure(lambda: verify_transaction(tx, CHAIN), runs),
        "tx hash + sender (every tx, per tx)": {
            k: v / size if k != "reps" else v for k, v in measure(every_tx, runs).items()},
        "header hash": measure(lambda: verify_header(block), runs),
        "tx trie (decode + root)": measure(
            lambda: ordered_trie_root([decode_transaction(t).encoding for t in txs]), runs),
        "receipt trie (decode + root)": measure(
            lambda: ordered_trie_root([decode_receipt(r).encoding for r in receipts]), runs),
        "tx trie root only": measure(lambda: ordered_trie_root(tx_encodings), runs),
        "tx trie root only, HexaryTrie": measure(lambda: reference_trie_root(tx_encodings),
                                                 max(3, runs // 2)),
        "receipt trie root only, HexaryTrie": measure(
            lambda: reference_trie_root(receipt_encodings), max(3, runs // 2)),
        "prove_block (header + tx, withdrawal, receipt tries)": measure(
            lambda: prove_block(block, receipts), runs),
        "prove_transaction on a proven block": measure(
            lambda: prove_transaction(tx, proven, CHAIN, receipt_json=receipt), runs),
        "account proof": measure(
            lambda: verify_account_proof(header.state_root, proof, address), runs),
    }
    return out


def bench_parts(devnet: TrustDevnet, runs: int) -> dict[str, dict[str, float]]:
    tx = devnet.call("eth_getTransactionByHash", devnet.manifest.txs["set_code"])
    signed = decode_transaction(tx)
    items = [*signed.unsigned, signed.y_parity, signed.r, signed.s]
    msg = signed.signing_hash
    keys = KeyAPI(CoinCurveECCBackend)

    def eth_keys_recover() -> bytes:
        sig = keys.Signature(vrs=(signed.y_parity, signed.r, signed.s))
        return bytes(sig.recover_public_key_from_msg_hash(msg).to_canonical_address())

    assert eth_keys_recover() == recover_address(msg, signed.y_parity, signed.r, signed.s)
    node = signed.encoding[:100]
    return {
        "keccak of 100 bytes, safe-pysha3 direct": measure(lambda: keccak(node), runs),
        "keccak of 100 bytes, eth-hash auto (pycryptodome)": measure(lambda: eth_keccak(node), runs),
        "RLP encode a set-code tx, ours": measure(lambda: encode(items), runs),
        "RLP encode a set-code tx, rlp library": measure(lambda: rlp.encode(items), runs),
        "recover sender, coincurve": measure(
            lambda: recover_address(msg, signed.y_parity, signed.r, signed.s), runs),
        "recover sender, eth-keys (coincurve backend)": measure(eth_keys_recover, runs),
    }


def import_cost() -> float:
    """ms to import the trust package (coincurve, safe-pysha3, trie) on top of the rest of
    the node's modules (paid once per worker, at start)."""
    code = ("import time, bizra_node.cache, bizra_node.chain; "
            "t = time.perf_counter(); import bizra_node.validation.trust; "
            "print((time.perf_counter() - t) * 1000)")
    samples = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                    check=True).stdout) for _ in range(5)]
    return statistics.median(samples)


def misses(rounds: int, latency: float = 0.05) -> dict[str, dict[str, float]]:
    """Each kind of miss / one upstream round trip, median (min..max) over ``rounds``
    fresh nodes (so every key is a miss and no block is proven yet)."""
    from bizra_bench.gate import MISS_TRIPS, GateResult, _misses
    from bizra_bench.scenarios.trust_rpc import proxied_devnet
    from bizra_bench.stack import start_node

    ratios: dict[str, list[float]] = {kind: [] for kind in MISS_TRIPS}
    with proxied_devnet(latency) as (manifest, proxy):
        for _ in range(rounds):
            node, _prefix = start_node(proxy.url, workers=1)
            try:
                result = GateResult("trust")
                _misses(result, node.base, proxy, manifest)
            finally:
                node.stop()
            for kind in MISS_TRIPS:
                ratios[kind].append(result.miss_ms[f"{kind}: node"]
                                    / result.miss_ms[f"{kind}: upstream direct"])
    return {kind: {"median": statistics.median(v), "min": min(v), "max": max(v),
                   "round_trips": MISS_TRIPS[kind]} for kind, v in ratios.items()}


def _markdown(results: dict[str, Any], runs: int) -> str:
    lines = [f"# bench trust\n\nµs per operation, median (min..max) over {runs} runs\n",
             "| check | " + " | ".join(f"{n} txs" for n in SIZES) + " |",
             "| --- |" + " --- |" * len(SIZES)]
    for name in results["1"]:
        lines.append(f"| {name} | " + " | ".join(_fmt(results[str(n)][name]) for n in SIZES)
                     + " |")
    lines += ["", "| part | µs |", "| --- | --- |"]
    lines += [f"| {name} | {_fmt(m)} |" for name, m in results["parts"].items()]
    lines.append(f"\nimporting bizra_node.validation.trust on top of the node's other modules: "
                 f"{results['import_ms']:.1f} ms")
    if results.get("misses"):
        lines += ["", "## Misses with full verification, 50 ms upstream latency", "",
                  "| miss | upstream round trips | x one round trip, median (min..max) |",
                  "| --- | ---: | --- |"]
        for kind, m in results["misses"].items():
            lines.append(f"| {kind} | {m['round_trips']} | {m['median']:.2f} "
                         f"({m['min']:.2f}..{m['max']:.2f}) |")
    return "\n".join(lines) + "\n"


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bizra-node bench trust")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--miss-rounds", type=int, default=3)
    parser.add_argument("--skip-misses", action="store_true")
    parser.add_argument("--rpc-rounds", type=int, default=3)
    parser.add_argument("--skip-rpc", action="store_true")
    parser.add_argument("--skip-blocks", action="store_true",
                        help="only the misses and /rpc (no per-check timings)")
    parser.add_argument("--baseline-src", default="",
                        help="a source tree (its src/) whose node's /rpc hit is measured too")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    if not args.skip_blocks:
        with start_trust_anvil() as anvil:
            devnet = TrustDevnet(anvil, seed_trust(anvil.url, big=SIZES))
            results.update({str(n): bench_block(devnet, n, args.runs) for n in SIZES})
            results["parts"] = bench_parts(devnet, args.runs)
        results["import_ms"] = import_cost()
    if not args.skip_misses:
        results["misses"] = misses(args.miss_rounds)
    if not args.skip_rpc:
        results["rpc_misses"] = rpc_misses(args.rpc_rounds)
        results["rpc_hits"] = rpc_hits(baseline_src=args.baseline_src)
    md = (_markdown(results, args.runs) if not args.skip_blocks else "# bench trust\n") + \
        rpc_markdown(results.get("rpc_misses", {}), results.get("rpc_hits", {}))
    publish("trust", results, md)
    return 0
