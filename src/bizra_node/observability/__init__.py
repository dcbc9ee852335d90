"""Metrics, logs and monitors."""

from __future__ import annotations

from .logging import JsonFormatter, configure_logging, redact

__all__ = ["JsonFormatter", "configure_logging", "redact"]
