"""The node as the harness starts it: the node's own application, built with the
harness's switches and constants (``bizra_node.tuning``: Harness and Tuning, which are
not settings: an operator never needs them).

``bizra-node serve --app bizra_bench.node:create_rsgi_app`` (or ``create_asgi_app``)
runs it; each worker reads what to change from ``BIZRA_BENCH_NODE``, this harness's
own variable (``node_env`` writes it): a JSON object ``{"harness": {...}, "tuning":
{...}}`` naming fields of Harness and Tuning.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from bizra_node.api import ASGIApp, RSGIApp
from bizra_node.app import Node, metrics_directory
from bizra_node.observability import configure_logging
from bizra_node.settings import load_settings
from bizra_node.tuning import TUNING, Harness

__all__ = ["ENV", "build_node", "create_asgi_app", "create_rsgi_app", "node_argv_app",
           "node_env"]

ENV = "BIZRA_BENCH_NODE"


def node_env(harness: dict[str, Any] | None = None,
             tuning: dict[str, Any] | None = None) -> dict[str, str]:
    """The environment entry that makes the harness's node use ``harness`` and ``tuning``
    (checked here, so a misspelt field fails in the harness, not in a worker)."""
    spec = {"harness": dict(harness or {}), "tuning": dict(tuning or {})}
    _options(spec)
    return {ENV: json.dumps(spec)}


def node_argv_app(interface: str) -> list[str]:
    """The `serve` arguments that run this module's factory for ``interface``."""
    return ["--app", f"bizra_bench.node:create_{interface}_app"]


def _options(spec: dict[str, Any]) -> tuple[Any, Harness]:
    unknown = set(spec) - {"harness", "tuning"}
    if unknown:
        raise ValueError(f"{ENV}: unknown keys {sorted(unknown)}")
    return (dataclasses.replace(TUNING, **spec.get("tuning", {})),
            Harness(**spec.get("harness", {})))


def build_node() -> Node:
    """The node of one worker, with the environment's settings and BIZRA_BENCH_NODE."""
    settings = load_settings(serving=True)
    configure_logging(settings.log_level, settings.log_format)
    tuning, harness = _options(json.loads(os.environ.get(ENV) or "{}"))
    return Node(settings, tuning=tuning, harness=harness, metrics_dir=metrics_directory())


def create_rsgi_app() -> RSGIApp:
    return RSGIApp(build_node())


def create_asgi_app() -> ASGIApp:
    return ASGIApp(build_node())
