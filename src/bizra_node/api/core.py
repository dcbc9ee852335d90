"""Dispatch and error mapping: the one place where errors become HTTP answers.

Two lanes. ``answer_now`` is synchronous: a route's *fast* handler answers from
memory (an L1 hit) or declines with None; no coroutine, no deadline, no I/O, and
it never reports an error (anything unusual declines). ``dispatch`` is the full
path every declined or unknown request takes: routing, input checks, the deadline,
upstream calls, and errors turned into envelopes. The adapters try the first,
then the second. `bench suite` measured why: the coroutines, the deadline scope
and the input parsing cost more than the lookup itself on a hit.
"""

from __future__ import annotations

import logging

from ..errors import InternalError, NodeError, NotFoundError, ValidationError
from ..resilience import enter_deadline, exit_deadline
from .envelope import error_body
from .http import Request, Response
from .routes import FastHandler, Handler

__all__ = ["Dispatcher"]

log = logging.getLogger("bizra_node.api")


class Dispatcher:
    """Finds the handler for a request and turns any error into an envelope."""

    def __init__(self, table: dict[tuple[str, str], Handler],
                 prefixes: list[tuple[str, str, Handler]], max_body: int,
                 deadline: float | None = None,
                 fast: dict[tuple[str, str], FastHandler] | None = None) -> None:
        self.deadline = deadline
        """Seconds one request may take in all (REQUEST_DEADLINE): upstream retries,
        failover and hedges below never outlive it."""
        self.table = dict(table)
        self.prefixes = list(prefixes)
        self.max_body = max_body
        self._paths = {p for _, p in self.table} | {p for _, p, _ in self.prefixes}
        self.fast = dict(fast or {})
        """(method, path) -> fast handler; a path ending in "/" is a prefix whose
        last segment is the parameter."""

    def answer_now(self, req: Request) -> Response | None:
        """The answer without awaiting anything, when a fast handler has it."""
        fn = self.fast.get((req.method, req.path))
        if fn is None:
            path = req.path
            cut = path.rfind("/") + 1
            fn = self.fast.get((req.method, path[:cut]))
            if fn is None or cut == len(path):
                return None
            req.param = path[cut:]
        try:
            return fn(req)
        except Exception:  # declines: the full path answers (and reports) properly
            return None

    def add(self, method: str, path: str, handler: Handler) -> None:
        self.table[(method, path)] = handler
        self._paths.add(path)

    def resolve(self, req: Request) -> Handler:
        handler = self.table.get((req.method, req.path))
        if handler is not None:
            return handler
        path = req.path
        if len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/")
            handler = self.table.get((req.method, path))
            if handler is not None:
                return handler
        for method, prefix, h in self.prefixes:
            if path.startswith(prefix) and method == req.method:
                param = path[len(prefix):]
                if param and "/" not in param:
                    req.param = param
                    return h
        if path in self._paths or any(path.startswith(p) for _, p, _ in self.prefixes):
            raise ValidationError(f"method {req.method} is not allowed here",
                                  {"reason": "method_not_allowed"})
        raise NotFoundError(f"no route for {req.method} {path[:200]}")

    async def dispatch(self, req: Request) -> Response:
        token = enter_deadline(self.deadline) if self.deadline is not None else None
        try:
            return await self.resolve(req)(req)
        except NodeError as exc:
            return self.error(exc, req.request_id)
        except Exception:
            log.exception("unhandled error", extra={"request_id": req.request_id,
                                                    "path": req.path})
            return self.error(InternalError("internal error"), req.request_id)
        finally:
            if token is not None:
                exit_deadline(token)

    @staticmethod
    def error(exc: NodeError, request_id: str) -> Response:
        if exc.http_status >= 500 and not isinstance(exc, InternalError):
            log.warning("request failed: %s %s", exc.code, exc.message,
                        extra={"request_id": request_id, "details": exc.details})
        return Response(exc.http_status, error_body(exc, request_id))

    @staticmethod
    def too_large(max_body: int, request_id: str) -> Response:
        return Dispatcher.error(ValidationError(
            f"request body exceeds {max_body} bytes",
            {"reason": "body_too_large", "limit": max_body}), request_id)
