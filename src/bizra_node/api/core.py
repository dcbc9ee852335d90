"""Dispatch and error mapping: the one place where errors become HTTP answers.

Two lanes over one route table (routing.py). ``answer_now`` is synchronous: it
matches the route, makes its input once (``Route.parse``) and lets the route's *hit*
handler answer from memory (an L1 hit) or decline with None; no coroutine, no
deadline, no I/O, and it never reports an error (a parse error is kept for the full
path). ``dispatch`` is the full path every declined request takes: the deadline
(set here, and only here, from REQUEST_DEADLINE), upstream calls, and errors turned
into envelopes. It reuses what ``answer_now`` already did (route, input). The
adapters try the first, then the second. `bench suite` measured why: the
coroutines, the deadline scope and the input parsing cost more than the lookup
itself on a hit.

Both lanes consult the guard (guard.py: API key, scope, rate limit) before a route
that declares a scope runs: the synchronous lane answers its refusals at once or
declines when the guard must await (a key not in memory, an empty rate-limit
lease); the full path awaits it. A request the fast lane admitted is not checked
(or charged) again.

It is also where every request is measured: ``api_requests_total`` and
``api_response_time_seconds`` by route template (unknown paths share the label
``unmatched``) and status, at the cost of two ``perf_counter`` calls, two dict
updates and a bisect (~350 ns, see ``bizra-node bench observability``).
``metrics=None`` (Harness.metrics_enabled off, to measure this cost) skips even that.
The request id is put in a contextvar for the time of the request, so every log line
carries it (the fast lane logs nothing, so it skips that; it counts and times like the
full path).
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections.abc import Iterable
from time import perf_counter

from ..errors import InternalError, NodeError, RequestTimeout, ValidationError
from ..observability import NodeMetrics, Throttle, request_id_var
from ..resilience import enter_deadline, exit_deadline
from .body_timeout import BodyTimeouts
from .cors import CorsPolicy
from .envelope import bare_error_body, error_body
from .guard import DEFER, Guard
from .http import UNPARSED, Request, Response
from .routing import Handler, Route, Router

__all__ = ["Dispatcher"]

log = logging.getLogger("bizra_node.api")

_STATUS = tuple(str(i) for i in range(600))
CLIENT_GONE = 499
"""The status requests are counted under when the client left before its body arrived
(nginx's convention; nothing is answered)."""


class _ParseFailed:
    """A parse error kept by the fast lane for the full path to report."""

    __slots__ = ("error",)

    def __init__(self, error: NodeError) -> None:
        self.error = error


class Dispatcher:
    """Finds the route for a request and turns any error into an envelope."""

    def __init__(self, routes: Iterable[Route], max_body: int,
                 metrics: NodeMetrics | None = None, *, deadline: float | None = None,
                 guard: Guard | None = None, body_timeout: float | None = None,
                 cors: CorsPolicy | None = None, not_found: Handler | None = None) -> None:
        self.router = Router(routes, not_found)
        self.cors = cors if cors is not None and cors.enabled else None
        """CORS fields for answers under /rpc (RPC_CORS_ORIGINS): the adapters add them
        to every answer as it goes out (cors.py); None: no CORS."""
        self.guard = guard
        """API keys and rate limits, consulted before routes that declare a scope."""
        self._match = self.router.match
        self.max_body = max_body
        """The body limit of routes that set none (MAX_BODY_BYTES)."""
        self.deadline = deadline
        """Seconds one request may take in all (REQUEST_DEADLINE): upstream retries,
        failover and hedges below never outlive it."""
        self.body_timeouts = BodyTimeouts(body_timeout)
        """The deadline on reading bodies (HTTP_BODY_TIMEOUT), used by the adapters."""
        self._counts = metrics.api_requests.values if metrics is not None else None
        self._latency = metrics.api_latency if metrics is not None else None
        self._series: dict[tuple[str, ...], list[float]] = (
            metrics.api_latency.series if metrics is not None else {})
        self._buckets = metrics.api_latency.buckets if metrics is not None else ()
        self._failures = Throttle(1.0)
        """5xx warning lines: at most one a second per (code, message)."""
        self._debug = log.isEnabledFor(logging.DEBUG)
        """Per-request log lines only at debug level (decided once, at start)."""

    # --- routing -----------------------------------------------------------------------
    def route(self, req: Request) -> Route:
        """Match ``req`` once (the adapters call this before reading the body, to know
        its route's body limit); later calls reuse the match."""
        route = req.route
        if route is None:
            route = req.route = self.router.match(req)
        return route

    def body_limit(self, route: Route) -> int:
        return route.max_body if route.max_body is not None else self.max_body

    # --- the synchronous lane ------------------------------------------------------------
    def answer_now(self, req: Request) -> Response | None:
        """The answer without awaiting anything, when the route's hit handler has it
        (never at debug level: there every request goes the full way and gets its log
        line)."""
        if self._debug:
            return None
        route = req.route
        if route is None:
            route = req.route = self._match(req)
        hit = route.hit
        if hit is None:
            return None
        start = perf_counter()
        guard = self.guard
        if guard is not None and route.scope is not None:
            try:
                refused = guard.admit_now(req, route)
            except Exception:  # the full path checks again and reports
                return None
            if refused is not None:
                if refused is DEFER:
                    return None
                refusal = self._refused(refused, req, route)
                if self._counts is not None:
                    self._observe(route.label, refusal.status, perf_counter() - start)
                return refusal
            req.admitted = True
        if route.parse is not None and req.input is UNPARSED:
            try:
                req.input = route.parse(req)
            except NodeError as exc:
                req.input = _ParseFailed(exc)
                return None
            except Exception:  # the full path parses again and reports
                return None
        try:
            resp = hit(req)
        except Exception:  # declines: the full path answers (and reports) properly
            return None
        if resp is None:
            return None
        counts = self._counts
        if counts is not None:  # _observe, inlined: this is the hot path
            key = route.ok_key if resp.status == 200 else (route.label, _STATUS[resp.status])
            counts[key] = counts.get(key, 0) + 1
            elapsed = perf_counter() - start
            row = self._series.get(key)
            if row is None:
                self._latency.observe(elapsed, key)  # type: ignore[union-attr]
            else:
                row[bisect_left(self._buckets, elapsed)] += 1
                row[-1] += elapsed
        return resp

    # --- the full path ---------------------------------------------------------------------
    async def dispatch(self, req: Request) -> Response:
        token = request_id_var.set(req.request_id)
        route = self.route(req)
        counts = self._counts
        timed = counts is not None or self._debug
        start = perf_counter() if timed else 0.0
        deadline = enter_deadline(self.deadline) if self.deadline is not None else None
        try:
            guard = self.guard
            if guard is not None and route.scope is not None and not req.admitted:
                await guard.admit(req, route)
                req.admitted = True
            parsed = req.input
            if isinstance(parsed, _ParseFailed):
                raise parsed.error
            if route.parse is not None and parsed is UNPARSED:
                req.input = route.parse(req)
            resp = await route.handler(req)
        except NodeError as exc:
            resp = self._failed(exc, req.request_id, route)
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
                self._observe(route.label, status, elapsed)
            if self._debug:
                log.debug("request", extra={"method": req.method, "route": route.label,
                                            "status": status, "request_id": req.request_id,
                                            "duration_ms": round(elapsed * 1000, 3)})
        return resp

    def _observe(self, label: str, status: int, elapsed: float) -> None:
        counts = self._counts
        assert counts is not None
        key = (label, _STATUS[status] if status < 600 else str(status))
        counts[key] = counts.get(key, 0) + 1
        row = self._series.get(key)  # HistogramVec.observe, inlined (hot path)
        if row is None:
            self._latency.observe(elapsed, key)  # type: ignore[union-attr]
        else:
            row[bisect_left(self._buckets, elapsed)] += 1
            row[-1] += elapsed

    def _failed(self, exc: NodeError, request_id: str, route: Route | None = None) -> Response:
        if exc.http_status >= 500 and not isinstance(exc, InternalError):
            suppressed = self._failures.allow((exc.code, exc.message))
            if suppressed is not None:  # one line a second per failure, not one per request
                log.warning("request failed: %s %s", exc.code, exc.message,
                            extra={"request_id": request_id, "details": exc.details,
                                   "suppressed": suppressed})
        if route is not None and route.render_error is not None:
            return route.render_error(exc, request_id)
        return self.error(exc, request_id)

    def _refused(self, exc: NodeError, req: Request, route: Route) -> Response:
        """A guard's refusal, written the route's way (JSON-RPC for /rpc)."""
        render = route.render_error
        return render(exc, req.request_id) if render is not None else self.error(exc, req.request_id)

    @staticmethod
    def error(exc: NodeError, request_id: str) -> Response:
        """The envelope of ``exc``; when its message or details cannot be encoded (a bug:
        say so), the envelope still goes out with its code, status and request id."""
        try:
            body = error_body(exc, request_id)
        except Exception:
            log.exception("cannot encode the error %s; answered without its details", exc.code)
            body = bare_error_body(exc.code, request_id)
        resp = Response(exc.http_status, body)
        if exc.headers:
            resp.headers.extend(exc.headers)
        return resp

    def timed_out(self, route: Route, request_id: str) -> Response:
        """The answer to a body that did not arrive in time (408, counted)."""
        timeout = self.body_timeouts.timeout
        resp = self.error(RequestTimeout(f"the request body did not arrive within {timeout} s",
                                         {"reason": "body_timeout", "timeout": timeout}),
                          request_id)
        if self._counts is not None:
            self._observe(route.label, resp.status, timeout or 0.0)
        return resp

    def gone(self, route: Route) -> None:
        """Count a request whose client left before its body arrived (nothing to answer)."""
        if self._counts is not None:
            self._observe(route.label, CLIENT_GONE, 0.0)

    def crashed(self, request_id: str) -> Response:
        """The 500 envelope for an exception that escaped even the dispatcher (a bug)."""
        return self.error(InternalError("internal error"), request_id)

    def too_large(self, route: Route, request_id: str) -> Response:
        """The answer to a body over its route's limit (counted like any answer)."""
        limit = self.body_limit(route)
        exc = ValidationError(f"request body exceeds {limit} bytes",
                              {"reason": "body_too_large", "limit": limit})
        render = route.render_error
        resp = render(exc, request_id) if render is not None else self.error(exc, request_id)
        if self._counts is not None:
            self._observe(route.label, resp.status, 0.0)
        return resp
