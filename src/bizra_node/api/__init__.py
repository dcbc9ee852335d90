"""HTTP only: routing, envelopes, error mapping, adapters for RSGI and ASGI."""

from __future__ import annotations

from .asgi import ASGIApp
from .core import Dispatcher
from .cors import CorsPolicy
from .envelope import error_body, ok_body, ok_parts, ok_value
from .guard import Guard, GuardConfig
from .history import HistoryRoutes
from .http import Request, Response
from .keepalive import Keepalive
from .observe import MetricsEndpoints
from .openapi import openapi_document, openapi_routes
from .routes import ReadyCheck, Routes, network_not_found, run_checks
from .routing import FastHandler, Handler, Route, Router
from .rpc import DEFAULT_COSTS, RpcAnswerer, RpcRoute
from .rsgi import RSGIApp
from .ws import RpcSocket, WebSocketEndpoint, WebSocketRoutes
from .ws_guard import QUERY_KEY, SocketGuard

__all__ = [
    "DEFAULT_COSTS",
    "QUERY_KEY",
    "ASGIApp",
    "CorsPolicy",
    "Dispatcher",
    "FastHandler",
    "Guard",
    "GuardConfig",
    "Handler",
    "HistoryRoutes",
    "Keepalive",
    "MetricsEndpoints",
    "RSGIApp",
    "ReadyCheck",
    "Request",
    "Response",
    "Route",
    "Router",
    "Routes",
    "RpcAnswerer",
    "RpcRoute",
    "RpcSocket",
    "SocketGuard",
    "WebSocketEndpoint",
    "WebSocketRoutes",
    "error_body",
    "network_not_found",
    "ok_body",
    "ok_parts",
    "ok_value",
    "openapi_document",
    "openapi_routes",
    "run_checks",
]
