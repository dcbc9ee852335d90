"""Dispatch and error mapping: the one place where errors become HTTP answers."""

from __future__ import annotations

import logging

from ..errors import InternalError, NodeError, NotFoundError, ValidationError
from ..resilience import deadline_scope
from .envelope import error_body
from .http import Request, Response
from .routes import Handler

__all__ = ["Dispatcher"]

log = logging.getLogger("bizra_node.api")


class Dispatcher:
    """Finds the handler for a request and turns any error into an envelope."""

    def __init__(self, table: dict[tuple[str, str], Handler],
                 prefixes: list[tuple[str, str, Handler]], max_body: int,
                 deadline: float | None = None) -> None:
        self.deadline = deadline
        """Seconds one request may take in all (REQUEST_DEADLINE): upstream retries,
        failover and hedges below never outlive it."""
        self.table = dict(table)
        self.prefixes = list(prefixes)
        self.max_body = max_body
        self._paths = {p for _, p in self.table} | {p for _, p, _ in self.prefixes}

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
        try:
            with deadline_scope(self.deadline):
                return await self.resolve(req)(req)
        except NodeError as exc:
            return self.error(exc, req.request_id)
        except Exception:
            log.exception("unhandled error", extra={"request_id": req.request_id,
                                                    "path": req.path})
            return self.error(InternalError("internal error"), req.request_id)

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
