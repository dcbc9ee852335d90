"""Metrics, logs and monitors."""

from __future__ import annotations

from .logging import JsonFormatter, configure_logging, redact
from .metrics import NodeMetrics
from .stats import CounterVec, GaugeVec, HistogramVec

__all__ = [
    "CounterVec",
    "GaugeVec",
    "HistogramVec",
    "JsonFormatter",
    "NodeMetrics",
    "configure_logging",
    "redact",
]
