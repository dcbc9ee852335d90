"""Metrics, logs and monitors."""

from __future__ import annotations

from .exporter import (
    CONTENT_TYPE,
    Exporter,
    MultiprocWriter,
    family_name,
    prepare_directory,
    remove_directory,
    sweep_dead,
    vectors,
)
from .logging import (
    JsonFormatter,
    RequestIdFilter,
    Throttle,
    UpstreamErrorLog,
    configure_logging,
    redact,
    request_id_var,
)
from .memory import MemoryGuard, Trimmable, cgroup_memory_limit, read_rss
from .metrics import NodeMetrics, SupervisorMetrics
from .stats import CounterVec, GaugeVec, HistogramVec
from .summary import summarize

__all__ = [
    "CONTENT_TYPE",
    "CounterVec",
    "Exporter",
    "GaugeVec",
    "HistogramVec",
    "JsonFormatter",
    "MemoryGuard",
    "MultiprocWriter",
    "NodeMetrics",
    "RequestIdFilter",
    "SupervisorMetrics",
    "Throttle",
    "Trimmable",
    "UpstreamErrorLog",
    "cgroup_memory_limit",
    "configure_logging",
    "family_name",
    "prepare_directory",
    "read_rss",
    "redact",
    "remove_directory",
    "request_id_var",
    "summarize",
    "sweep_dead",
    "vectors",
]
