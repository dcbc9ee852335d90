"""`bizra-node bench <scenario> [args]`: dispatch to bench/scenarios/<scenario>.py."""

from __future__ import annotations

import importlib
import pkgutil
import sys

from bench import scenarios

__all__ = ["available", "run_bench"]


def available() -> list[str]:
    return sorted(m.name.replace("_", "-") for m in pkgutil.iter_modules(scenarios.__path__))


def run_bench(scenario: str, argv: list[str]) -> int:
    name = scenario.replace("-", "_")
    if scenario.replace("_", "-") not in available():
        print(f"unknown scenario {scenario!r}; available: {', '.join(available())}",
              file=sys.stderr)
        return 2
    module = importlib.import_module(f"bench.scenarios.{name}")
    return int(module.run(argv))
