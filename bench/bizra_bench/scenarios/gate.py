"""`bizra-node bench gate`: the performance regression gate (bizra_bench.gate) on its
own; `make test` runs it as tests/bench/test_regression_gate.py (with 2 s rounds).

Options: --threads N, --connections N, --duration S (per wrk round), --repeats N
(rounds), --warmup S (per target, not counted): the wrk setup of the checked rounds,
by default the side-by-side check's (wrk -t1 -c64, 3 rounds of 5 s, 1 s
warm-up); --also-previous (measure the gate's earlier setup too, wrk -t2 -c32,
2 s rounds, no warm-up, and report its figures beside: what the change of setup moves);
--also T:C:D:W (any other setup, repeatable: one difference at a time);
--no-outside (by default the side-by-side check runs in the same rounds: nginx as a
user writes it, the node with its defaults, each target's median then their ratio;
each of its ratios is reported beside the gate's with how far apart they are: the two
disagree on CPU per request by a quarter to a third, nginx's access log most of it, so
both are reported; `make test` leaves it out);
--latency S (0.05); --times N (run the whole gate N times, each from a fresh devnet,
and say how many passed: how the margins were checked against noise; exit 1 when any
failed). The load average before each run is printed and kept in the results.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
from dataclasses import asdict

from bizra_bench.gate import GateResult, run_gate
from bizra_bench.loadgen import OUTSIDE, PREVIOUS_GATE, WrkSetup
from bizra_bench.results import write_results


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f} (1 min) {five:.2f} (5 min)"


def _spread(results: list[GateResult]) -> list[str]:
    """Each ratio's median and range over the runs."""
    out = []
    for name in results[0].ratios:
        values = [r.ratios[name] for r in results if name in r.ratios]
        out.append(f"  {name}: median {statistics.median(values):.3f}, "
                   f"range {min(values):.3f}-{max(values):.3f}")
    for name in results[0].outside:
        apart = [r.outside[name]["apart"] for r in results if name in r.outside]
        theirs = [r.outside[name]["outside"] for r in results if name in r.outside]
        out.append(f"  side-by-side {name}: median {statistics.median(theirs):.3f}, range "
                   f"{min(theirs):.3f}-{max(theirs):.3f}; gate apart median "
                   f"{statistics.median(apart):+.1%}, range {min(apart):+.1%} to "
                   f"{max(apart):+.1%}")
    return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bizra-node bench gate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=OUTSIDE.threads, help="wrk threads")
    p.add_argument("--connections", type=int, default=OUTSIDE.connections, help="wrk connections")
    p.add_argument("--duration", type=float, default=OUTSIDE.duration, help="s per wrk round")
    p.add_argument("--repeats", type=int, default=OUTSIDE.rounds, help="rounds")
    p.add_argument("--warmup", type=float, default=OUTSIDE.warmup,
                   help="s of load per target before the rounds, not counted")
    p.add_argument("--also-previous", action="store_true",
                   help="also measure the gate's earlier setup (wrk -t2 -c32), reported beside")
    p.add_argument("--also", action="append", default=[], type=setup_arg,
                   metavar="THREADS:CONNECTIONS:DURATION:WARMUP",
                   help="also measure this wrk setup in the same run, reported beside "
                   "(repeatable; e.g. 2:64:5:1 changes only the threads)")
    p.add_argument("--outside", action=argparse.BooleanOptionalAction, default=True,
                   help="also run the side-by-side check (nginx plain, the node with its "
                        "defaults) in the same rounds and compare its ratios with the gate's")
    p.add_argument("--latency", type=float, default=0.05)
    p.add_argument("--times", type=int, default=1, help="run the gate N times")
    return p


def setup_arg(text: str) -> WrkSetup:
    """``THREADS:CONNECTIONS:DURATION:WARMUP`` as a setup of as many rounds as the gate's."""
    try:
        threads, connections, duration, warmup = text.split(":")
        return WrkSetup(threads=int(threads), connections=int(connections),
                        duration=float(duration), warmup=float(warmup))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: THREADS:CONNECTIONS:DURATION:WARMUP, e.g. 2:64:5:1") from None


def setup_of(args: argparse.Namespace) -> WrkSetup:
    return WrkSetup(threads=args.threads, connections=args.connections, duration=args.duration,
                    rounds=args.repeats, warmup=args.warmup)


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    setup = setup_of(args)
    also = tuple(dataclasses.replace(a, rounds=setup.rounds) for a in
                 ([PREVIOUS_GATE] if args.also_previous else []) + args.also)
    results: list[GateResult] = []
    loads: list[str] = []
    for i in range(args.times):
        loads.append(_load())
        result = run_gate(setup=setup, also=also, latency=args.latency, outside=args.outside)
        results.append(result)
        print(f"run {i + 1}/{args.times} ({loads[-1]} before it)\n{result.report()}", flush=True)
    passed = sum(r.ok for r in results)
    text = "\n\n".join(f"run {i + 1} ({load}):\n{r.report()}"
                       for i, (r, load) in enumerate(zip(results, loads, strict=True)))
    summary = "\n".join([f"passed {passed} of {len(results)}", *_spread(results)])
    write_results("gate", {"ok": passed == len(results), "passed": passed, "times": len(results),
                           "setup": asdict(setup), "loads": loads,
                           "runs": [{"ok": r.ok, **asdict(r)} for r in results]},
                  f"# bench gate\n\n```\n{summary}\n\n{text}\n```\n")
    if args.times > 1:
        print(summary)
    return 0 if passed == len(results) else 1
