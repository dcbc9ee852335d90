"""Errors are values with codes.

Every layer raises a subclass of :class:`NodeError`; the API translates it to HTTP
(and the JSON-RPC endpoint to a JSON-RPC error) in exactly one place. ``message`` and
``details`` are what a client may see, so they never carry secrets or stack traces.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "InternalError",
    "MethodNotAllowed",
    "NodeError",
    "NotFoundError",
    "RequestTimeout",
    "StoreUnavailable",
    "UpstreamError",
    "UpstreamUnavailable",
    "ValidationError",
]


class NodeError(Exception):
    """Base of every error the node reports to a client."""

    code: ClassVar[str] = "INTERNAL_ERROR"
    http_status: ClassVar[int] = 500
    jsonrpc_code: ClassVar[int] = -32603
    retryable: bool = False
    """Whether trying again later may succeed (instance attribute for upstream errors)."""
    headers: tuple[tuple[str, str], ...] = ()
    """HTTP headers the error's answer carries (``Allow`` of a 405)."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            out["details"] = self.details
        return out


class ValidationError(NodeError):
    """The caller's input is malformed: never retried, always a 400."""

    code = "VALIDATION_ERROR"
    http_status = 400
    jsonrpc_code = -32602


class MethodNotAllowed(NodeError):
    """The path exists, with other methods: a 405 naming them in ``Allow``."""

    code = "METHOD_NOT_ALLOWED"
    http_status = 405
    jsonrpc_code = -32601

    def __init__(self, method: str, allowed: tuple[str, ...]) -> None:
        super().__init__(f"method {method[:20]} is not allowed here",
                         {"reason": "method_not_allowed", "allowed": list(allowed)})
        self.headers = (("allow", ", ".join(allowed)),)


class NotFoundError(NodeError):
    code = "NOT_FOUND"
    http_status = 404
    jsonrpc_code = -32601


class RequestTimeout(NodeError):
    """The request's body did not arrive within HTTP_BODY_TIMEOUT: a 408."""

    code = "REQUEST_TIMEOUT"
    http_status = 408
    jsonrpc_code = -32600


class UpstreamError(NodeError):
    """One upstream failed one call.

    ``kind`` classifies the failure for retry and breaker decisions:
    connect (never sent), disconnect (dropped after sending), timeout, http,
    malformed, batch_refused.
    """

    code = "UPSTREAM_UNAVAILABLE"
    http_status = 503
    jsonrpc_code = -32603

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        upstream: str = "",
        retryable: bool = True,
        rpc_code: int | None = None,
        retry_after: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details)
        self.kind = kind
        self.upstream = upstream
        self.rpc_code = rpc_code
        self.retry_after = retry_after
        self.retryable = retryable


class UpstreamUnavailable(NodeError):
    """No upstream could answer: a 503 for the client."""

    code = "UPSTREAM_UNAVAILABLE"
    http_status = 503
    jsonrpc_code = -32603
    retryable = True


class StoreUnavailable(NodeError):
    """The database cannot answer (or the store is off): a 503, retryable."""

    code = "UPSTREAM_UNAVAILABLE"
    http_status = 503
    jsonrpc_code = -32603
    retryable = True


class InternalError(NodeError):
    code = "INTERNAL_ERROR"
    http_status = 500
