"""The set of upstreams the node asks: failover, retries, hedging and head tracking.

One client request is one :meth:`UpstreamPool.batch` under one deadline. Each
attempt goes to the healthiest upstream that can take it (breaker closed before
half-open, not lagging for 'latest' reads, lowest latency x error rate, not yet
tried by this request); a failure moves on to the next one at once, and only a
second round over the same upstreams waits (exponential backoff, full jitter).
Retry-After pauses that upstream for every request. A read that has not been
answered within the upstream's recent p95 (or HEDGE_DELAY) is also sent to the next
upstream; the first answer wins and the other call is cancelled. Every re-send is
paid from a budget: retries and failovers from the retry budget (~10 % of traffic),
hedges from a smaller one of their own, so that hedging under load never uses up
what failover needs when an upstream dies.

What is never re-sent: calls with effects (eth_sendRawTransaction...) unless the
request provably never arrived, and calls whose answer is the caller's fault (a
JSON-RPC error such as invalid params comes back as an ``RpcError`` value).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp

from ..errors import UpstreamError, UpstreamUnavailable
from ..observability import NodeMetrics, UpstreamErrorLog
from ..resilience import (
    Attempt,
    BreakerConfig,
    CircuitBreaker,
    Deadline,
    Outcome,
    RetryBudget,
    State,
    current_deadline,
    full_jitter,
)
from ..settings import Settings
from .head import HeadTracker
from .health import UpstreamHealth
from .jsonrpc import Call, RpcError
from .methods import idempotent, method_label, reads_head, unhealthy_rpc_error
from .upstream import Upstream

__all__ = ["UpstreamPool"]

log = logging.getLogger("bizra_node.chain")

_HEDGE_FALLBACK = 0.1
"""Hedge delay while an upstream has too few samples for a p95, s."""
_HEDGES_PER_SECOND = 1.0
"""Hedges always allowed, whatever the traffic (the reserve of the hedge budget)."""
_HEAD_CALL = Call("eth_blockNumber")


def _breaker_config(s: Settings) -> BreakerConfig:
    return BreakerConfig(failure_threshold=s.cb_failure_threshold, failure_rate=s.cb_failure_rate,
                         volume_threshold=s.cb_volume_threshold, window=s.cb_window,
                         window_slots=s.cb_window_size, reset_timeout=s.cb_reset_timeout,
                         half_open_probes=s.cb_half_open_probes)


def _unique_names(urls: Sequence[str]) -> list[str]:
    from .upstream import redact_url

    names: list[str] = []
    for url in urls:
        name = redact_url(url)
        if name in names:
            name = f"{name}#{len(names) + 1}"
        names.append(name)
    return names


def _resendable(exc: UpstreamError, safe: bool) -> bool:
    """May the same calls go out again (to any upstream) after ``exc``?"""
    if safe:
        return True
    # A call with effects: only when it provably was not processed.
    status = (exc.details or {}).get("status")
    return exc.kind == "connect" or (exc.kind == "http" and status == 429)


class UpstreamPool:
    """Owns one aiohttp session (one keep-alive pool per worker), the upstreams and
    what is known about each."""

    def __init__(self, settings: Settings, metrics: NodeMetrics | None = None, *,
                 rng: Callable[[], float] = random.random) -> None:
        s = settings
        self._settings = s
        self.metrics = metrics if metrics is not None else NodeMetrics()
        self.heads = HeadTracker(s.head_lag_blocks)
        self.budget = RetryBudget(s.retry_budget_ratio, s.retry_budget_min, s.retry_budget_window)
        self.hedge_budget = RetryBudget(s.hedge_budget_ratio, _HEDGES_PER_SECOND,
                                        s.retry_budget_window)
        self._backoff = full_jitter(s.retry_initial, s.retry_multiplier, s.retry_max, rng)
        self._attempts = s.retry_attempts
        self._rpc_timeout = s.rpc_timeout
        self._hedge = s.hedge_enabled
        self._session: aiohttp.ClientSession | None = None
        self._poller: asyncio.Task[None] | None = None
        self._errors = UpstreamErrorLog(log)
        self.upstreams: list[Upstream] = []
        self.health: list[UpstreamHealth] = []

    # --- lifecycle ------------------------------------------------------------------
    async def start(self) -> None:
        s = self._settings
        if not s.upstream_urls:
            raise ValueError("no upstream configured: set BIZRA_NODE_URL")
        # RPC_FORCE_CLOSE (the old system: a new connection per call) exists only for the
        # 'roadmap before' baseline of `bench suite`.
        keepalive: dict[str, Any] = ({"force_close": True} if s.rpc_force_close
                                     else {"keepalive_timeout": s.rpc_keepalive})
        connector = aiohttp.TCPConnector(limit=s.rpc_pool_limit, limit_per_host=s.rpc_pool_limit,
                                         ttl_dns_cache=300, enable_cleanup_closed=True,
                                         **keepalive)
        self._session = aiohttp.ClientSession(connector=connector, auto_decompress=True,
                                              skip_auto_headers=("User-Agent",))
        config = _breaker_config(s)
        self.upstreams = [
            Upstream(url, self._session, timeout=s.rpc_timeout, connect_timeout=s.rpc_connect_timeout,
                     use_batch=s.rpc_batch, sequential=s.rpc_sequential, name=name)
            for url, name in zip(s.upstream_urls, _unique_names(s.upstream_urls), strict=True)
        ]
        self.health = [
            UpstreamHealth(u, CircuitBreaker(u.name, config, listeners=(self._on_transition,)))
            for u in self.upstreams
        ]
        for h in self.health:
            self.metrics.breaker_state.set(int(State.CLOSED), (h.name,))
        if len(self.health) > 1 and s.head_poll_interval > 0:
            self._poller = asyncio.create_task(self._poll_heads(s.head_poll_interval),
                                               name="bizra-head-poll")

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
            self._poller = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- the request path -----------------------------------------------------------
    async def batch(self, calls: list[Call], *, timeout: float | None = None,
                    deadline: Deadline | None = None) -> list[Any]:
        """Results of ``calls`` in call order (``RpcError`` values for per-call errors).

        Runs under the tightest of ``deadline``, the request's deadline (see
        ``resilience.deadline_scope``) and ``timeout`` seconds; REQUEST_DEADLINE when
        none is given. Raises UpstreamUnavailable when no upstream can answer.
        """
        if not calls:
            return []
        dl = self._deadline(timeout, deadline)
        n = len(calls)
        safe = idempotent(calls)
        latest = reads_head(calls)
        self.budget.on_request()
        self.hedge_budget.on_request()
        results: list[Any] = [None] * n
        todo: list[int] | None = None
        """Indices still to ask for after an answer with transient JSON-RPC errors."""
        tried: list[UpstreamHealth] = []
        banned: list[UpstreamHealth] = []
        last: UpstreamError | None = None
        why = "no upstream available"
        attempt = 0
        while True:
            h = await self._next(latest, tried, banned, dl, attempt)
            if h is None:
                why = "all upstreams are unavailable (circuit open or paused)" if attempt == 0 \
                    else "no upstream left to try"
                break
            attempt += 1
            tried.append(h)
            sub = calls if todo is None else [calls[i] for i in todo]
            try:
                winner, answers = await self._attempt(h, sub, dl, safe and self._hedge, latest,
                                                      tried)
            except UpstreamError as exc:
                last = exc
                reason = exc.kind
                if not exc.retryable:
                    banned.append(h)
                if not _resendable(exc, safe):
                    why = "not retried: the call has effects"
                    break
            else:
                again: list[int] = []
                for i, answer in zip(range(n) if todo is None else todo, answers, strict=True):
                    if type(answer) is str and calls[i].method == "eth_blockNumber":
                        answer = self._observe_head(winner, answer)
                    elif safe and type(answer) is RpcError and answer.transient:
                        again.append(i)
                    results[i] = answer
                if not again:
                    return results
                todo = again
                last = None
                reason = "rpc_error"
            if attempt >= self._attempts:
                why = "retries exhausted"
                break
            if dl.expired:
                why = "deadline exceeded"
                break
            if not self.budget.try_spend():
                why = "retry budget exhausted"
                break
            self.metrics.upstream_retries.inc((h.name, reason))
        if todo is not None:  # every call has an answer; some are JSON-RPC errors
            return results
        raise self._unavailable(why, last)

    async def call(self, call: Call, *, timeout: float | None = None) -> Any:
        return (await self.batch([call], timeout=timeout))[0]

    def _deadline(self, timeout: float | None, deadline: Deadline | None) -> Deadline:
        dl = deadline if deadline is not None else current_deadline()
        if timeout is not None:
            dl = Deadline.after(timeout).earliest(dl)
        return dl if dl is not None else Deadline.after(self._settings.request_deadline)

    @staticmethod
    def _unavailable(why: str, last: UpstreamError | None) -> UpstreamUnavailable:
        details: dict[str, Any] = {"reason": why}
        if last is not None:
            details["lastError"] = last.message
            details["kind"] = last.kind
            if last.retry_after is not None:
                details["retryAfter"] = last.retry_after
        return UpstreamUnavailable("no upstream could answer", details)

    # --- choosing an upstream ---------------------------------------------------------
    def _ranked(self, latest: bool, exclude: Sequence[UpstreamHealth],
                tried: Sequence[UpstreamHealth], count_rejections: bool = False
                ) -> tuple[list[UpstreamHealth], float]:
        """Candidates, healthiest first, and the earliest Retry-After pause end among
        the ones skipped for one (0 when none)."""
        now = time.monotonic()
        health = self.health
        best = 0
        if latest and len(health) > 1:
            best = self.heads.best(h.name for h in health if h.breaker.state is not State.OPEN)
        keyed: list[tuple[bool, bool, int, float, int, UpstreamHealth]] = []
        paused_until = 0.0
        for i, h in enumerate(health):
            if h in exclude:
                continue
            if now < h.not_before:
                paused_until = h.not_before if not paused_until else min(paused_until, h.not_before)
                continue
            state = h.breaker.state
            if state is State.OPEN and h.breaker.retry_in() > 0:
                if count_rejections:
                    h.breaker.reject()
                continue
            lagging = bool(best) and self.heads.lagging(h.name, best)
            keyed.append((h in tried, lagging, int(state), h.score(), i, h))
        keyed.sort(key=lambda k: k[:5])
        return [k[-1] for k in keyed], paused_until

    async def _next(self, latest: bool, tried: list[UpstreamHealth],
                    banned: list[UpstreamHealth], dl: Deadline,
                    attempt: int) -> UpstreamHealth | None:
        """The upstream for the next attempt, with its breaker permit taken; waits a
        backoff first when every candidate has been tried already, or for the end of a
        Retry-After pause when that is all that stands in the way."""
        ranked, paused_until = self._ranked(latest, banned, tried, count_rejections=attempt == 0)
        if not ranked and paused_until and attempt < self._attempts:
            wait = paused_until - time.monotonic()
            if wait >= dl.remaining():
                return None
            await asyncio.sleep(max(wait, 0.0))
            ranked, _ = self._ranked(latest, banned, tried)
        elif ranked and ranked[0] in tried:
            wait = self._backoff(Attempt(attempt))
            if wait >= dl.remaining():
                return None
            await asyncio.sleep(wait)
        for h in ranked:
            if h.breaker.allow():
                return h
        return None

    def _hedge_partner(self, busy: Sequence[UpstreamHealth], latest: bool,
                       tried: Sequence[UpstreamHealth]) -> UpstreamHealth | None:
        """The healthiest upstream not in ``busy`` that takes a call now; never a
        lagging one for 'latest' reads."""
        best = 0
        if latest:
            best = self.heads.best(h.name for h in self.health if h.breaker.state is not State.OPEN)
        ranked, _ = self._ranked(latest, busy, tried)
        for h in ranked:
            if best and self.heads.lagging(h.name, best):
                continue
            if h.breaker.allow():
                return h
        return None

    def _hedge_delay(self, h: UpstreamHealth) -> float:
        s = self._settings
        if s.hedge_delay > 0:
            return s.hedge_delay
        p95 = h.p95()
        return max(p95 if p95 is not None else _HEDGE_FALLBACK, s.hedge_min_delay)

    # --- one attempt (maybe hedged) -------------------------------------------------------
    async def _attempt(self, h: UpstreamHealth, calls: list[Call], dl: Deadline, hedge: bool,
                       latest: bool, tried: list[UpstreamHealth]
                       ) -> tuple[UpstreamHealth, list[Any]]:
        timeout = dl.cap(self._rpc_timeout)
        if timeout <= 0:
            h.breaker.record(Outcome.IGNORED)
            raise UpstreamError("request deadline exceeded", kind="timeout", upstream=h.name)
        delay = self._hedge_delay(h) if hedge and len(self.health) > 1 else timeout
        if delay >= timeout:
            return h, await self._send(h, calls, timeout)
        primary = asyncio.create_task(self._send(h, calls, timeout))
        owners: dict[asyncio.Task[list[Any]], UpstreamHealth] = {primary: h}
        try:
            done, _ = await asyncio.wait((primary,), timeout=delay)
            if not done:
                self._launch_hedge(owners, calls, dl, latest, tried)
            pending: set[asyncio.Task[list[Any]]] = set(owners)
            error: BaseException | None = None
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    exc = task.exception()
                    if exc is None:
                        if len(owners) > 1:
                            self.metrics.upstream_hedges.inc(("lost" if task is primary else "won",))
                        return owners[task], task.result()
                    if error is None or task is primary:
                        error = exc
                    # Hedging is under way and a call failed: bring in the next upstream
                    # rather than wait on the slow one alone.
                    if len(owners) > 1 and self._launch_hedge(owners, calls, dl, latest, tried):
                        pending.add(next(reversed(owners)))
            if len(owners) > 1:
                self.metrics.upstream_hedges.inc(("failed",))
            assert error is not None
            raise error
        finally:
            left = [t for t in owners if not t.done()]
            for t in left:
                t.cancel()
            if left:
                await asyncio.wait(left)

    def _launch_hedge(self, owners: dict[asyncio.Task[list[Any]], UpstreamHealth],
                      calls: list[Call], dl: Deadline, latest: bool,
                      tried: list[UpstreamHealth]) -> bool:
        """Send ``calls`` to one more upstream (not one already asked in this
        attempt), paid from the retry budget. False when none can take it."""
        timeout = dl.cap(self._rpc_timeout)
        if timeout <= 0:
            return False
        if not self.hedge_budget.try_spend():
            return False
        partner = self._hedge_partner(list(owners.values()), latest, tried)
        if partner is None:
            self.hedge_budget.refund()
            return False
        tried.append(partner)
        self.metrics.upstream_hedges.inc(("sent",))
        owners[asyncio.create_task(self._send(partner, calls, timeout))] = partner
        return True

    async def _send(self, h: UpstreamHealth, calls: list[Call], timeout: float) -> list[Any]:
        """One round trip to ``h`` (whose breaker permit the caller holds): records the
        outcome in its breaker, its latency and the metrics."""
        started = time.perf_counter()
        h.inflight += 1
        try:
            answers = await h.upstream.batch(calls, timeout)
        except UpstreamError as exc:
            elapsed = time.perf_counter() - started
            if exc.kind == "timeout":
                h.breaker.record(Outcome.TIMEOUT)
                h.observe(elapsed)
            else:
                h.breaker.record(Outcome.FAILURE)
            if exc.retry_after:
                h.not_before = max(h.not_before, time.monotonic() + exc.retry_after)
            self._count(h, calls, exc.kind, None)
            self._warn(h, calls, exc.kind, exc.message)
            raise
        except asyncio.CancelledError:
            h.breaker.record(Outcome.IGNORED)
            h.observe(time.perf_counter() - started)  # a lower bound: it was at least this slow
            self._count(h, calls, "cancelled", None)
            raise
        except BaseException:
            h.breaker.record(Outcome.IGNORED)
            raise
        finally:
            h.inflight -= 1
        elapsed = time.perf_counter() - started
        h.observe(elapsed)
        unhealthy = False
        for a in answers:
            if type(a) is RpcError and unhealthy_rpc_error(a):
                unhealthy = True
                break
        h.breaker.record(Outcome.FAILURE if unhealthy else Outcome.SUCCESS)
        self._count(h, calls, None, answers, elapsed)
        if unhealthy:
            self._warn(h, calls, "rpc", "upstream answered with an internal/limit JSON-RPC error")
        return answers

    # --- heads ----------------------------------------------------------------------------
    def _observe_head(self, h: UpstreamHealth, raw: str) -> str:
        """Record ``h``'s head; return the head to report (never lower than before)."""
        try:
            head = int(raw, 16)
        except ValueError:
            return raw
        self.metrics.upstream_head.set(head, (h.name,))
        reported = self.heads.observe(h.name, head)
        return raw if head >= reported else hex(reported)

    async def _poll_heads(self, interval: float) -> None:
        """Keep every upstream's head (and latency) fresh even when traffic goes
        elsewhere; for an open breaker past its reset timeout this is the probe."""
        while True:
            await asyncio.gather(*(self._poll_one(h, interval) for h in self.health))
            await asyncio.sleep(interval)

    async def _poll_one(self, h: UpstreamHealth, interval: float) -> None:
        if not h.available(time.monotonic()) or not h.breaker.allow():
            return
        try:
            (raw,) = await self._send(h, [_HEAD_CALL], min(self._rpc_timeout, interval))
        except UpstreamError:
            return
        if type(raw) is str:
            self._observe_head(h, raw)

    # --- metrics and logs -----------------------------------------------------------------
    def _count(self, h: UpstreamHealth, calls: list[Call], failed: str | None,
               answers: list[Any] | None, elapsed: float = 0.0) -> None:
        m = self.metrics
        name = h.name
        if answers is None:
            for c in calls:
                m.upstream_calls.inc((name, method_label(c.method), failed or "error"))
            return
        for c, a in zip(calls, answers, strict=True):
            label = method_label(c.method)
            m.upstream_calls.inc((name, label, "rpc_error" if type(a) is RpcError else "ok"))
            m.upstream_latency.observe(elapsed, (name, label))

    def _warn(self, h: UpstreamHealth, calls: list[Call], kind: str, message: str) -> None:
        """A warning naming upstream and method(s), at most one per (upstream, method,
        kind) a second; the next line says how many it stands for."""
        self._errors.record(UpstreamError(message, kind=kind, upstream=h.name),
                            (c.method for c in calls))

    def _on_transition(self, breaker: CircuitBreaker, old: State, new: State) -> None:
        self.metrics.breaker_state.set(int(new), (breaker.name,))
        self.metrics.breaker_transitions.inc((breaker.name, new.name.lower()))
        log.log(logging.WARNING if new is State.OPEN else logging.INFO,
                "circuit breaker %s -> %s", old.name.lower(), new.name.lower(),
                extra={"upstream": breaker.name})

    # --- operations -----------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Breaker state and counters, latency, head and lag per upstream; the budget."""
        best = self.heads.best(h.name for h in self.health if h.breaker.state is not State.OPEN)
        upstreams: dict[str, Any] = {}
        for h in self.health:
            info = h.snapshot()
            info["head"] = self.heads.heads.get(h.name)
            info["lagBlocks"] = self.heads.lag(h.name, best)
            upstreams[h.name] = info
        return {"upstreams": upstreams, "reportedHead": self.heads.reported,
                "retryBudget": self.budget.snapshot(), "hedgeBudget": self.hedge_budget.snapshot()}

    async def ping(self, timeout: float = 2.0) -> dict[str, Any]:
        """Readiness: each upstream's breaker state and counters; those whose breaker
        lets a call through are asked for eth_blockNumber (concurrently)."""
        async def one(h: UpstreamHealth) -> tuple[str, dict[str, Any]]:
            info: dict[str, Any] = {"ok": False}
            if h.available(time.monotonic()) and h.breaker.allow():
                try:
                    (raw,) = await self._send(h, [_HEAD_CALL], min(timeout, self._rpc_timeout))
                    if type(raw) is str:
                        info["ok"] = True
                        info["head"] = self._observe_head(h, raw)
                except UpstreamError as exc:
                    info["error"] = exc.message
            else:
                info["error"] = "circuit open" if h.breaker.state is State.OPEN else "paused"
            info.update(h.snapshot())
            return h.name, info
        results = await asyncio.gather(*(one(h) for h in self.health))
        return dict(results)
