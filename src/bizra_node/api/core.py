"""Dispatch and error mapping: the one place where errors become HTTP answers.

Two lanes. ``answer_now`` is synchronous: a route's *fast* handler answers from
memory (an L1 hit) or declines with None; no coroutine, no deadline, no I/O, and
it never reports an error (anything unusual declines). ``dispatch`` is the full
path every declined or unknown request takes: routing, input checks, the deadline,
upstream calls, and errors turned into envelopes. The adapters try the first,
then the second. `bench suite` measured why: the coroutines, the deadline scope
and the input parsing cost more than the lookup itself on a hit.

It is also where every request is measured: ``api_requests_total`` and
``api_response_time_seconds`` by route template (unknown paths share the label
``unmatched``) and status, at the cost of two ``perf_counter`` calls, two dict
updates and a bisect (~350 ns, see ``bizra-node bench observability``).
``METRICS_ENABLED=false`` (``metrics=None``) skips even that. The request id is put
in a contextvar for the time of the request, so every log line carries it (the
fast lane logs nothing, so it skips that; it counts and times like the full path).
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from time import perf_counter

from ..errors import InternalError, NodeError, NotFoundError, ValidationError
from ..observability import NodeMetrics, Throttle, request_id_var
from ..resilience import enter_deadline, exit_deadline
from .envelope import error_body
from .http import Request, Response
from .routes import FastHandler, Handler

__all__ = ["UNMATCHED", "Dispatcher"]

log = logging.getLogger("bizra_node.api")

UNMATCHED = "unmatched"
"""The route label of requests that matched no route (bounded: never the raw path)."""
_STATUS = tuple(str(i) for i in range(600))


async def _not_found(req: Request) -> Response:
    raise NotFoundError(f"no route for {req.method} {req.path[:200]}")


async def _not_allowed(req: Request) -> Response:
    raise ValidationError(f"method {req.method} is not allowed here",
                          {"reason": "method_not_allowed"})


class Dispatcher:
    """Finds the handler for a request and turns any error into an envelope."""

    def __init__(self, table: dict[tuple[str, str], Handler],
                 prefixes: list[tuple[str, str, Handler]], max_body: int,
                 metrics: NodeMetrics | None = None, *, deadline: float | None = None,
                 fast: dict[tuple[str, str], FastHandler] | None = None) -> None:
        self.deadline = deadline
        """Seconds one request may take in all (REQUEST_DEADLINE): upstream retries,
        failover and hedges below never outlive it."""
        self.table = dict(table)
        self.prefixes = list(prefixes)
        self.max_body = max_body
        self._paths = {p for _, p in self.table} | {p for _, p, _ in self.prefixes}
        self._exact: dict[tuple[str, str], tuple[Handler, str]] = {
            key: (h, key[1]) for key, h in self.table.items()}
        self._templates = {prefix: prefix + "{param}" for _, prefix, _ in self.prefixes}
        self._counts = metrics.api_requests.values if metrics is not None else None
        self._latency = metrics.api_latency if metrics is not None else None
        self._series: dict[tuple[str, ...], list[float]] = (
            metrics.api_latency.series if metrics is not None else {})
        self._buckets = metrics.api_latency.buckets if metrics is not None else ()
        self._failures = Throttle(1.0)
        """5xx warning lines: at most one a second per (code, message)."""
        self._debug = log.isEnabledFor(logging.DEBUG)
        """Per-request log lines only at debug level (decided once, at start)."""
        self._fast: dict[tuple[str, str], tuple[FastHandler, str, tuple[str, str]]] = {}
        """(method, path) -> (fast handler, route label, its metric key for a 200); a
        path ending in "/" is a prefix whose last segment is the parameter."""
        for (method, path), fn in (fast or {}).items():
            label = path + "{param}" if path.endswith("/") else path
            self._fast[(method, path)] = (fn, label, (label, "200"))

    def answer_now(self, req: Request) -> Response | None:
        """The answer without awaiting anything, when a fast handler has it (never at
        debug level: there every request goes the full way and gets its log line)."""
        if self._debug:
            return None
        method, path = req.method, req.path
        entry = self._fast.get((method, path))
        if entry is None:
            cut = path.rfind("/") + 1
            if cut == len(path):
                return None
            entry = self._fast.get((method, path[:cut]))
            if entry is None:
                return None
            req.param = path[cut:]
        start = perf_counter()
        try:
            resp = entry[0](req)
        except Exception:  # declines: the full path answers (and reports) properly
            return None
        if resp is None:
            return None
        counts = self._counts
        if counts is not None:  # _observe, inlined: this is the hot path
            key = entry[2] if resp.status == 200 else (entry[1], _STATUS[resp.status])
            counts[key] = counts.get(key, 0) + 1
            elapsed = perf_counter() - start
            row = self._series.get(key)
            if row is None:
                self._latency.observe(elapsed, key)  # type: ignore[union-attr]
            else:
                row[bisect_left(self._buckets, elapsed)] += 1
                row[-1] += elapsed
        return resp

    def _observe(self, route: str, status: int, elapsed: float) -> None:
        counts = self._counts
        assert counts is not None
        key = (route, _STATUS[status] if status < 600 else str(status))
        counts[key] = counts.get(key, 0) + 1
        row = self._series.get(key)  # HistogramVec.observe, inlined (hot path)
        if row is None:
            self._latency.observe(elapsed, key)  # type: ignore[union-attr]
        else:
            row[bisect_left(self._buckets, elapsed)] += 1
            row[-1] += elapsed

    def add(self, method: str, path: str, handler: Handler) -> None:
        self.table[(method, path)] = handler
        self._exact[(method, path)] = (handler, path)
        self._paths.add(path)

    def match(self, req: Request) -> tuple[Handler, str]:
        """The handler and the route label; unknown routes get a handler that raises."""
        entry = self._exact.get((req.method, req.path))
        if entry is not None:
            return entry
        path = req.path
        if len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/")
            entry = self._exact.get((req.method, path))
            if entry is not None:
                return entry
        for method, prefix, h in self.prefixes:
            if path.startswith(prefix) and method == req.method:
                param = path[len(prefix):]
                if param and "/" not in param:
                    req.param = param
                    return h, self._templates[prefix]
        if path in self._paths:
            return _not_allowed, path
        for _, prefix, _ in self.prefixes:
            if path.startswith(prefix):
                return _not_allowed, self._templates[prefix]
        return _not_found, UNMATCHED

    def resolve(self, req: Request) -> Handler:
        return self.match(req)[0]

    async def dispatch(self, req: Request) -> Response:
        token = request_id_var.set(req.request_id)
        handler, route = self.match(req)
        counts = self._counts
        timed = counts is not None or self._debug
        start = perf_counter() if timed else 0.0
        deadline = enter_deadline(self.deadline) if self.deadline is not None else None
        try:
            resp = await handler(req)
        except NodeError as exc:
            resp = self._failed(exc, req.request_id)
        except Exception:
            log.exception("unhandled error", extra={"path": req.path[:200]})
            resp = self.error(InternalError("internal error"), req.request_id)
        finally:
            if deadline is not None:
                exit_deadline(deadline)
            request_id_var.reset(token)
        if timed:
            elapsed = perf_counter() - start
            status = resp.status
            if counts is not None:
                self._observe(route, status, elapsed)
            if self._debug:
                log.debug("request", extra={"method": req.method, "route": route,
                                            "status": status, "request_id": req.request_id,
                                            "duration_ms": round(elapsed * 1000, 3)})
        return resp

    def _failed(self, exc: NodeError, request_id: str) -> Response:
        if exc.http_status >= 500 and not isinstance(exc, InternalError):
            suppressed = self._failures.allow((exc.code, exc.message))
            if suppressed is not None:  # one line a second per failure, not one per request
                log.warning("request failed: %s %s", exc.code, exc.message,
                            extra={"request_id": request_id, "details": exc.details,
                                   "suppressed": suppressed})
        return self.error(exc, request_id)

    @staticmethod
    def error(exc: NodeError, request_id: str) -> Response:
        return Response(exc.http_status, error_body(exc, request_id))

    @staticmethod
    def too_large(max_body: int, request_id: str) -> Response:
        return Dispatcher.error(ValidationError(
            f"request body exceeds {max_body} bytes",
            {"reason": "body_too_large", "limit": max_body}), request_id)
