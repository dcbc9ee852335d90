"""Errors are values with codes.

Every layer raises a subclass of :class:`NodeError`; the API translates it to HTTP
(and the JSON-RPC endpoint to a JSON-RPC error) in exactly one place. ``message`` and
``details`` are what a client may see, so they never carry secrets or stack traces.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AuthenticationError",
    "AuthorizationError",
    "CallRejected",
    "IntegrityFailure",
    "InternalError",
    "LimiterUnavailable",
    "MethodNotAllowed",
    "NodeError",
    "NotFoundError",
    "ProofUnavailable",
    "RateLimitError",
    "RequestTimeout",
    "StoreUnavailable",
    "Unproven",
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
    """HTTP header fields the answer carries (WWW-Authenticate, Retry-After, RateLimit,
    the ``Allow`` of a 405)."""

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


class CallRejected(NodeError):
    """An upstream refused the call itself (faults.py: the caller's fault, e.g. invalid
    params): a 400 whose ``details`` carry the upstream's JSON-RPC code and message.
    Never retried, never counted against the upstream."""

    code = "CALL_REJECTED"
    http_status = 400
    jsonrpc_code = -32602


class AuthenticationError(NodeError):
    """No API key, or one the node does not know (unknown or revoked): a 401 with a
    ``WWW-Authenticate: Bearer`` challenge."""

    code = "AUTHENTICATION_ERROR"
    http_status = 401
    jsonrpc_code = -32001

    def __init__(self, message: str, details: dict[str, Any] | None = None,
                 *, realm: str = "bizra-node") -> None:
        super().__init__(message, details)
        reason = (details or {}).get("reason")
        challenge = f'Bearer realm="{realm}"'
        if reason == "invalid_key":
            challenge += ', error="invalid_token"'
        self.headers = (("www-authenticate", challenge),)


class AuthorizationError(NodeError):
    """A known key without the scope the route needs: a 403."""

    code = "AUTHORIZATION_ERROR"
    http_status = 403
    jsonrpc_code = -32003


class RateLimitError(NodeError):
    """The caller spent its allowance: a 429 with Retry-After and the RateLimit fields
    (``headers``, made by the limiter)."""

    code = "RATE_LIMIT_EXCEEDED"
    http_status = 429
    jsonrpc_code = -32005
    retryable = True

    def __init__(self, message: str, details: dict[str, Any] | None = None,
                 *, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message, details)
        self.headers = headers


class LimiterUnavailable(NodeError):
    """The shared rate limiter (Redis) is unreachable and RATE_LIMIT_ON_REDIS_DOWN is
    ``closed``: a 503 the caller may retry after Retry-After."""

    code = "UPSTREAM_UNAVAILABLE"
    http_status = 503
    jsonrpc_code = -32603
    retryable = True

    def __init__(self, message: str, details: dict[str, Any] | None = None,
                 *, retry_after: int = 1) -> None:
        super().__init__(message, details)
        self.headers = (("retry-after", str(retry_after)),)


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
    malformed, too_large (past UPSTREAM_MAX_RESPONSE_BYTES), batch_refused, integrity.
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


class IntegrityFailure(UpstreamError):
    """An upstream's answer failed a verification check (its hash, signature, trie root or
    proof does not hold). The pool counts it against that upstream, takes the upstream
    out of rotation and asks another; when none is left the domain answers
    ``valid: false`` naming ``check`` and ``upstream``, and caches nothing."""

    def __init__(self, check: str, message: str, *, upstream: str = "") -> None:
        super().__init__(message, kind="integrity", upstream=upstream, retryable=False,
                         details={"check": check})
        self.check = check


class ProofUnavailable(UpstreamError):
    """An upstream answered a call the node can prove but would not give what the proof
    needs (``eth_getProof`` refused or failing, the block header or the receipt that goes
    with it refused): the downgrade a liar tries. The pool counts it against that
    upstream (``upstream_integrity_failures_total{check="proof_unavailable"}``), ranks
    it after the upstreams that prove for provable calls, and asks the next one; only
    when no upstream can prove does it raise this (the first refusal), with ``answers``
    (the refusing upstream's answers, in call order) for the caller to serve unproven
    or refuse (TRUST_REQUIRE). ``proven`` is what the verify hook could still prove
    about the other calls of those answers (a hook may fill it)."""

    def __init__(self, message: str, *, upstream: str = "") -> None:
        super().__init__(message, kind="proof_unavailable", upstream=upstream,
                         details={"reason": "proof_unavailable"})
        self.answers: list[Any] | None = None
        self.proven: Any = None


class Unproven(NodeError):
    """TRUST_REQUIRE=proven and no upstream would prove an answer the node can prove:
    refused instead of served unproven (a 503, -32099 over JSON-RPC)."""

    code = "UNPROVEN"
    http_status = 503
    jsonrpc_code = -32099
    retryable = True


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
