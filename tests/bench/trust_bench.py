"""Cost of the trust checks on real anvil blocks of 1, 100 and 1 000 transactions.

    .venv/bin/python -m tests.bench.trust_bench [--runs 7] [--json out.json]

Starts its own anvil (seeded by tests/support/trust_seed.py), fetches each block with
its receipts, a transaction and its receipt, and an EIP-1186 proof of the sender's
account at that block, then times each check. Every figure is microseconds of wall
time per operation: the median and range over ``--runs`` runs, each run repeating the
operation for at least ~40 ms. Also measured, to justify the hand-written parts: the
trie root builder against the ``trie`` library's HexaryTrie, the RLP encoder against
the ``rlp`` library, and sender recovery through coincurve against eth-keys.

(Lives under tests/ for now, beside the test support it seeds with; it moves into the
benchmark package when that lands.)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import rlp
from eth_hash.auto import keccak as eth_keccak
from eth_keys import KeyAPI
from eth_keys.backends import CoinCurveECCBackend

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
from tests.support.trust_seed import TrustDevnet, seed_trust, start_trust_anvil

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
    """ms to import the trust package on top of what the node already imports."""
    code = ("import time, bizra_node.validation, bizra_node.chain; t = time.perf_counter(); "
            "import bizra_node.validation.trust; print((time.perf_counter() - t) * 1000)")
    samples = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                    check=True).stdout) for _ in range(5)]
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    with start_trust_anvil() as anvil:
        devnet = TrustDevnet(anvil, seed_trust(anvil.url, big=SIZES))
        results: dict[str, Any] = {str(n): bench_block(devnet, n, args.runs) for n in SIZES}
        results["parts"] = bench_parts(devnet, args.runs)
    results["import_ms"] = import_cost()

    print(f"µs per operation, median (min..max) over {args.runs} runs\n")
    print("| check | " + " | ".join(f"{n} txs" for n in SIZES) + " |")
    print("| --- |" + " --- |" * len(SIZES))
    for name in results["1"]:
        print(f"| {name} | " + " | ".join(_fmt(results[str(n)][name]) for n in SIZES) + " |")
    print("\n| part | µs |\n| --- | --- |")
    for name, m in results["parts"].items():
        print(f"| {name} | {_fmt(m)} |")
    print(f"\nimporting bizra_node.validation.trust after the node's modules: "
          f"{results['import_ms']:.1f} ms")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
