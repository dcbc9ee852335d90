"""Where benchmark results go: <folder>/<scenario>-<UTC timestamp>.{json,md} plus
<scenario>-latest.{json,md}, the folder being ``BENCH_RESULTS`` when set (``bizra-node
bench --out DIR`` sets it), else bench/results/ of the checkout (``checkout``)."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from bizra_bench.checkout import find_checkout

__all__ = ["ENV_VAR", "NoResultsDir", "machine_info", "publish", "results_dir", "strict",
           "write_results"]

ENV_VAR = "BENCH_RESULTS"


class NoResultsDir(LookupError):
    """Neither ``BENCH_RESULTS`` nor a checkout: nowhere agreed to write results."""

    def __init__(self) -> None:
        super().__init__(f"no checkout here to hold bench/results/: run from a BIZRA-NODE0 "
                         f"checkout, or pass `bizra-node bench --out DIR ...` (or set {ENV_VAR})")


def results_dir() -> Path:
    """The results folder (not created here); raises NoResultsDir outside a checkout
    when ``BENCH_RESULTS`` is not set."""
    if folder := os.environ.get(ENV_VAR, ""):
        return Path(folder).resolve()
    checkout = find_checkout()
    if checkout is None:
        raise NoResultsDir
    return checkout / "bench" / "results"


def machine_info() -> dict[str, Any]:
    return {"python": platform.python_version(), "cpus": os.cpu_count(),
            "platform": platform.platform(), "when": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                    time.gmtime())}


def strict(value: Any) -> Any:
    """``value`` with every NaN or infinite float as None (JSON has no NaN: a figure
    that was not measured is null, and strict readers such as jq accept the file)."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    return value


def write_results(scenario: str, data: dict[str, Any], markdown: str) -> Path:
    folder = results_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    doc = strict({"scenario": scenario, "machine": machine_info(), **data})
    text = json.dumps(doc, indent=2, default=str, allow_nan=False)
    for name in (f"{scenario}-{stamp}", f"{scenario}-latest"):
        (folder / f"{name}.json").write_text(text)
        (folder / f"{name}.md").write_text(markdown)
    return folder / f"{scenario}-latest.md"


def publish(scenario: str, data: dict[str, Any], markdown: str) -> Path:
    """A scenario's end: its results written (:func:`write_results`), the report on
    stdout and where it was written on stderr (stdout stays the report alone)."""
    path = write_results(scenario, data, markdown)
    print(markdown)
    print(f"results: {path}", file=sys.stderr)
    return path
