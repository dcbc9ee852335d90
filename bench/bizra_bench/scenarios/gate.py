"""`bizra-node bench gate`: the performance regression gate (bizra_bench.gate) on its
own; `make test` runs it as tests/bench/test_regression_gate.py.

Options: --duration S (per wrk run, 2), --repeats N (rounds, 3), --latency S (0.05),
--times N (run the whole gate N times, each from a fresh devnet, and say how many
passed: how the margins were checked against noise; exit 1 when any failed).
"""

from __future__ import annotations

import argparse
import os
import statistics
from dataclasses import asdict

from bizra_bench.gate import GateResult, run_gate
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
    return out


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bizra-node bench gate")
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--times", type=int, default=1, help="run the gate N times")
    args = parser.parse_args(argv)
    results: list[GateResult] = []
    loads: list[str] = []
    for i in range(args.times):
        loads.append(_load())
        result = run_gate(duration=args.duration, repeats=args.repeats, latency=args.latency)
        results.append(result)
        print(f"run {i + 1}/{args.times} ({loads[-1]} before it)\n{result.report()}", flush=True)
    passed = sum(r.ok for r in results)
    text = "\n\n".join(f"run {i + 1} ({load}):\n{r.report()}"
                       for i, (r, load) in enumerate(zip(results, loads, strict=True)))
    summary = "\n".join([f"passed {passed} of {len(results)}", *_spread(results)])
    write_results("gate", {"ok": passed == len(results), "passed": passed, "times": len(results),
                           "loads": loads, "runs": [{"ok": r.ok, **asdict(r)} for r in results]},
                  f"# bench gate\n\n```\n{summary}\n\n{text}\n```\n")
    if args.times > 1:
        print(summary)
    return 0 if passed == len(results) else 1
