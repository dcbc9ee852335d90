"""`bizra-node bench gate`: the performance regression gate (bizra_bench.gate) on its
own; `make test` runs it as tests/bench/test_regression_gate.py.

Options: --duration S (per wrk run, 2), --repeats N (3), --latency S (0.05).
"""

from __future__ import annotations

import argparse
from dataclasses import asdict

from bizra_bench.gate import run_gate
from bizra_bench.results import write_results


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bizra-node bench gate")
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args(argv)
    result = run_gate(duration=args.duration, repeats=args.repeats, latency=args.latency)
    text = result.report()
    write_results("gate", {"ok": result.ok, **asdict(result)}, f"# bench gate\n\n```\n{text}\n```\n")
    print(text)
    return 0 if result.ok else 1
