"""`bizra-node bench [--out DIR] <scenario> [args]`: dispatch to
``bizra_bench.scenarios.<scenario>``. The node's CLI finds ``run_bench`` through the
``bizra_node.plugins`` entry point ``bench`` (bench/pyproject.toml)."""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from pathlib import Path

from bizra_bench import scenarios
from bizra_bench.results import ENV_VAR, NoResultsDir, results_dir

__all__ = ["available", "run_bench"]


def available() -> list[str]:
    return sorted(m.name.replace("_", "-") for m in pkgutil.iter_modules(scenarios.__path__))


def run_bench(scenario: str, argv: list[str], out: str | None = None) -> int:
    """Run one scenario; ``out``: the results folder (else ``BENCH_RESULTS``, else the
    checkout's bench/results/). It is settled before the run, so that a long run never
    ends with nowhere to write, and handed down through ``BENCH_RESULTS`` so that the
    scenarios the suite runs in processes of their own write there too."""
    name = scenario.replace("-", "_")
    if scenario.replace("_", "-") not in available():
        print(f"unknown scenario {scenario!r}; available: {', '.join(available())}",
              file=sys.stderr)
        return 2
    if out:
        os.environ[ENV_VAR] = str(Path(out).resolve())
    if not {"-h", "--help"} & set(argv):
        try:
            results_dir()
        except NoResultsDir as exc:
            print(f"bizra-node bench: {exc}", file=sys.stderr)
            return 2
    module = importlib.import_module(f"bizra_bench.scenarios.{name}")
    return int(module.run(argv))
