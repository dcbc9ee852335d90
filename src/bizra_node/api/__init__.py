"""HTTP only: routing, envelopes, error mapping, adapters for RSGI and ASGI."""

from __future__ import annotations

from .asgi import ASGIApp
from .core import Dispatcher
from .envelope import error_body, ok_body, ok_parts, ok_value
from .history import HistoryRoutes, HistorySource, parse_history_query
from .http import Request, Response, new_request_id, pick_request_id
from .observe import MetricsEndpoints
from .openapi import openapi_document
from .routes import FastHandler, Handler, ReadyCheck, Routes
from .rsgi import RSGIApp

__all__ = [
    "ASGIApp",
    "Dispatcher",
    "FastHandler",
    "Handler",
    "HistoryRoutes",
    "HistorySource",
    "MetricsEndpoints",
    "RSGIApp",
    "ReadyCheck",
    "Request",
    "Response",
    "Routes",
    "error_body",
    "new_request_id",
    "ok_body",
    "ok_parts",
    "ok_value",
    "openapi_document",
    "parse_history_query",
    "pick_request_id",
]
