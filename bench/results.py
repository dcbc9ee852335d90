"""Where benchmark results go: bench/results/<scenario>-<UTC timestamp>.{json,md}
plus <scenario>-latest.{json,md}."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

__all__ = ["RESULTS_DIR", "machine_info", "write_results"]

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine_info() -> dict[str, Any]:
    return {"python": platform.python_version(), "cpus": os.cpu_count(),
            "platform": platform.platform(), "when": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                    time.gmtime())}


def write_results(scenario: str, data: dict[str, Any], markdown: str) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    doc = {"scenario": scenario, "machine": machine_info(), **data}
    for name in (f"{scenario}-{stamp}", f"{scenario}-latest"):
        (RESULTS_DIR / f"{name}.json").write_text(json.dumps(doc, indent=2, default=str))
        (RESULTS_DIR / f"{name}.md").write_text(markdown)
    return RESULTS_DIR / f"{scenario}-latest.md"
