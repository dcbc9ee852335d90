"""FastAggregateVerify over a sync committee (512 keys), by each candidate BLS library.

Chose the consensus light client's BLS library (docs/consensus.md). The candidates are
not all in the lock, so this runs in a scratch venv of its own:

    python3.11 -m venv /tmp/blsbench
    /tmp/blsbench/bin/pip install milagro-bls-binding py-arkworks-bls12381 blspy py_ecc
    /tmp/blsbench/bin/python scripts/bench_bls.py [--runs 9] [--py-ecc-runs 3]

"cold" parses the 512 compressed keys on every call (what a bytes-only API must do);
"warm" uses keys parsed once (a sync committee stays for ~27 hours, so a light client
parses its keys once per period and only adds the participants' points per update).
Prints one line per candidate: CPU time and wall time, median and range in ms.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import time
from collections.abc import Callable

DST = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"


def timed(fn: Callable[[], bool], runs: int) -> tuple[list[float], list[float]]:
    """(wall ms, CPU ms) of each run: on a shared machine the CPU time is the cost, the
    wall time adds the waits for a core."""
    wall, cpu = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        ok = fn()
        cpu.append((time.process_time() - c) * 1000)
        wall.append((time.perf_counter() - t) * 1000)
        assert ok, "verification failed"
    return wall, cpu


def report(name: str, times: tuple[list[float], list[float]]) -> None:
    wall, cpu = times
    print(f"{name:<30} CPU median {statistics.median(cpu):8.2f} ms range {min(cpu):8.2f}-"
          f"{max(cpu):8.2f} | wall median {statistics.median(wall):8.2f} ms range "
          f"{min(wall):8.2f}-{max(wall):8.2f} (n={len(cpu)})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--py-ecc-runs", type=int, default=3)
    args = parser.parse_args()

    import milagro_bls_binding as milagro

    sks = [int.from_bytes(hashlib.sha256(i.to_bytes(4, "big")).digest(), "big") % (2**250) + 1
           for i in range(512)]
    sk_bytes = [sk.to_bytes(32, "big") for sk in sks]
    pks = [milagro.SkToPk(sk) for sk in sk_bytes]
    msg = hashlib.sha256(b"signing root").digest()
    sig = milagro.Aggregate([milagro.Sign(sk, msg) for sk in sk_bytes])

    report("milagro-bls-binding (bytes)",
           timed(lambda: milagro.FastAggregateVerify(pks, msg, sig), args.runs))

    import blspy

    def blspy_cold() -> bool:
        keys = [blspy.G1Element.from_bytes(pk) for pk in pks]
        return bool(blspy.PopSchemeMPL.fast_aggregate_verify(keys, msg, blspy.G2Element.from_bytes(sig)))

    report("blspy PopSchemeMPL cold", timed(blspy_cold, args.runs))
    keys_b = [blspy.G1Element.from_bytes(pk) for pk in pks]
    report("blspy PopSchemeMPL warm", timed(
        lambda: bool(blspy.PopSchemeMPL.fast_aggregate_verify(keys_b, msg, blspy.G2Element.from_bytes(sig))),
        args.runs))

    from py_arkworks_bls12381 import GT, G1Point, G2Point

    g1_neg = -G1Point()

    def ark_verify(keys: list[G1Point]) -> bool:
        agg = keys[0]
        for k in keys[1:]:
            agg = agg + k
        s = G2Point.from_compressed_bytes(sig)
        h = G2Point.hash_to_curve(msg, DST)
        return bool(GT.pairing_check([agg, g1_neg], [h, s]))

    report("py-arkworks-bls12381 cold", timed(
        lambda: ark_verify([G1Point.from_compressed_bytes(pk) for pk in pks]), args.runs))
    keys_a = [G1Point.from_compressed_bytes(pk) for pk in pks]
    report("py-arkworks-bls12381 warm", timed(lambda: ark_verify(keys_a), args.runs))

    from py_ecc.bls import G2ProofOfPossession as py_ecc

    report("py_ecc (reference)", timed(lambda: py_ecc.FastAggregateVerify(pks, msg, sig), args.py_ecc_runs))


if __name__ == "__main__":
    main()
