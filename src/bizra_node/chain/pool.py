"""The set of upstreams the node asks: failover and retries, over hedging (hedge.py)
and probing (probe.py).

One client request is one :meth:`UpstreamPool.batch` under one deadline (set by the
API edge; background work without one is bounded by its attempts). Each attempt goes
to the healthiest upstream that can take it (breaker closed before half-open, not
lagging for 'latest' reads, lowest latency x error rate, not yet tried by this
request); a failure moves on to the next one at once, and only a second round over
the same upstreams waits (exponential backoff, full jitter). Retry-After pauses that
upstream for every request. Retries and failovers are paid from the retry budget
(~10 % of traffic); hedges from a smaller budget of their own (hedge.py).

What is never re-sent: calls with effects (eth_sendRawTransaction...) unless the
request provably never arrived, and calls whose answer is the caller's fault (a
JSON-RPC error such as invalid params, a revert or "filter not found" comes back at
once as an ``RpcError`` value; ``methods.retryable`` decides, see jsonrpc.RpcError).
Heads seen in answers (eth_blockNumber, the 'latest' block) are recorded per upstream
(lag, and which blocks some upstream has shown). Every answer's numbers are
range-checked first (bounds.py): one out of range is an integrity failure of that
upstream, as below, on every path (client calls, hedges, head polls, quorum asks).
A ``null`` for a transaction, receipt or block is asked of one more upstream
(:meth:`UpstreamPool._doubt`): two nulls are a confirmed absence; a found answer the
verify hook proves is served, and the upstream that said null is counted (check
``omission``). With a verify hook the whole batch goes to that upstream (answers are
checked as one upstream's, never merged).

A caller that can check answers passes ``verify``: an answer that lacks what the
check needs (an ``UpstreamError``, e.g. a block a lagging upstream does not have yet)
is asked of the next upstream, nobody blamed; an answer that fails the check
(``IntegrityFailure``) is counted against the upstream that gave it
(``upstream_integrity_failures_total``), that upstream is taken out of rotation (its
breaker opened when others can serve) and the calls go to the next one; when every
upstream has failed or lied, the last IntegrityFailure reaches the caller.

**Prove or ask another.** An answer the hook could prove, from an upstream that will
not give what the proof needs (``ProofUnavailable``: ``eth_getProof`` refused or
failing, the header or receipt that goes with it refused), is not served: the upstream
is counted (``upstream_integrity_failures_total{check="proof_unavailable"}``), its
``proofs_withheld`` rises (for calls with ``verify`` it then ranks after every upstream
that has not refused a proof since it last gave one that checked) and the calls go to
the next upstream (not paid from the retry budget: under load, a burst of requests that
all reached a refuser before its first refusal was counted still gets proven answers).
Only when no upstream proves does the first refusal reach the caller,
carrying that upstream's answers, for the domain to serve them labelled unverified or
refuse them (TRUST_REQUIRE).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp

from ..errors import IntegrityFailure, ProofUnavailable, UpstreamError, UpstreamUnavailable
from ..faults import Fault
from ..jsonrpc import Call, RpcError
from ..observability import NodeMetrics, UpstreamErrorLog
from ..resilience import (
    Attempt,
    CircuitBreaker,
    Deadline,
    Outcome,
    RetryBudget,
    State,
    current_deadline,
    full_jitter,
)
from .attempts import BatchAttempts
from .bounds import U64, check_answer, quantity_ok
from .config import UpstreamConfig
from .head import HeadTracker
from .health import UpstreamHealth
from .hedge import Hedging
from .methods import (
    LOOKUPS,
    found_block,
    method_label,
    named_block,
    retryable,
    unhealthy_rpc_error,
)
from .probe import Prober
from .upstream import Upstream, redact_url

__all__ = ["UpstreamPool"]

log = logging.getLogger("bizra_node.chain")

def _unique_names(urls: Sequence[str]) -> list[str]:
    names: list[str] = []
    for url in urls:
        name = redact_url(url)
        if name in names:
            name = f"{name}#{len(names) + 1}"
        names.append(name)
    return names


Verify = Callable[[list[Any], str], Awaitable[None]]
"""(answers in call order, name of the upstream that gave them) -> None; raises
IntegrityFailure when the answers fail a check."""


def _resendable(exc: UpstreamError, safe: bool) -> bool:
    """May the same calls go out again (to any upstream) after ``exc``?"""
    if safe:
        return True
    # A call with effects: only when it provably was not processed.
    status = (exc.details or {}).get("status")
    return exc.kind == "connect" or (exc.kind == "http" and status == 429)


RETRY_REASONS = ("connect", "disconnect", "timeout", "http", "malformed", "too_large",
                 "batch_refused", "rpc_error", "proof_unavailable", "not_found", "unprovable")
"""Why a call is retried: an UpstreamError's kind, or a JSON-RPC error worth retrying
(``unprovable``: a verify hook passed over a block holding a transaction type the node
cannot encode, in case another upstream gives one that proves)."""
FREE_RETRIES = frozenset({"proof_unavailable", "unprovable"})
"""Reasons to ask the next upstream that spend no retry budget: asking past them is
what keeps an unproven answer from being served when another upstream would prove it."""


class UpstreamPool:
    """Owns one aiohttp session (one keep-alive pool per worker), the upstreams and
    what is known about each."""

    def __init__(self, config: UpstreamConfig, metrics: NodeMetrics | None = None, *,
                 rng: Callable[[], float] = random.random) -> None:
        c = config
        self.config = c
        self.metrics = metrics if metrics is not None else NodeMetrics()
        self.heads = HeadTracker(c.head_lag_blocks, c.head_quorum)
        self.budget = RetryBudget(c.retry_budget_ratio, c.retry_budget_min, c.retry_budget_window)
        self.hedging = Hedging(c, self.metrics, self._send, self._hedge_partner)
        self._backoff = full_jitter(c.backoff_initial, c.backoff_multiplier, c.backoff_max, rng)
        self._session: aiohttp.ClientSession | None = None
        self._errors = UpstreamErrorLog(log)
        self.upstreams: list[Upstream] = []
        self.health: list[UpstreamHealth] = []
        self.prober = Prober(self.health, self.heads, self._send, self._observe_head,
                             timeout=c.timeout, interval=c.head_poll_interval,
                             chain_id=c.chain_id, on_wrong_chain=self._wrong_chain)
        self.names = [c.name_prefix + n for n in _unique_names(c.urls)]
        """Each upstream's name in metrics and logs (its URL without secrets)."""
        for name in self.names:  # exported at 0 from the start
            self.metrics.upstream_retries.preset(*((name, r) for r in RETRY_REASONS))

    # --- lifecycle ------------------------------------------------------------------
    async def start(self) -> None:
        c = self.config
        if not c.urls:
            raise ValueError("no upstream configured: set BIZRA_NODE_URL")
        # force_close (Harness.rpc_force_close: a new connection per call, as the system
        # this node replaces did) exists only for the 'before' baseline of `bench suite`.
        keepalive: dict[str, Any] = ({"force_close": True} if c.force_close
                                     else {"keepalive_timeout": c.keepalive})
        connector = aiohttp.TCPConnector(limit=c.pool_limit, limit_per_host=c.pool_limit,
                                         ttl_dns_cache=300, enable_cleanup_closed=True,
                                         **keepalive)
        self._session = aiohttp.ClientSession(connector=connector, auto_decompress=True,
                                              skip_auto_headers=("User-Agent",))
        self.upstreams[:] = [
            Upstream(url, self._session, timeout=c.timeout, connect_timeout=c.connect_timeout,
                     use_batch=c.batch, sequential=c.sequential, name=name,
                     max_response=c.max_response)
            for url, name in zip(c.urls, self.names, strict=True)
        ]
        self.health[:] = [
            UpstreamHealth(u, CircuitBreaker(u.name, c.breaker, listeners=(self._on_transition,)))
            for u in self.upstreams
        ]
        for h in self.health:
            self.metrics.breaker_state.set(int(State.CLOSED), (h.name,))
        self.prober.start()

    async def check_chains(self) -> None:
        """Each upstream's eth_chainId against the node's network (at start, then with
        every readiness check for those not known yet): see Prober.check_chains."""
        await self.prober.check_chains(min(self.config.timeout, 3.0))

    def _wrong_chain(self, h: UpstreamHealth, chain_id: int) -> None:
        """``h`` answered another eth_chainId than the node's network: wallets sign for
        the chain id the node announces, so nothing of another chain may be served."""
        self.metrics.upstream_integrity_failures.inc((h.name, "chain_id"))
        log.critical("upstream %s serves chain %d, not its network's %s (BIZRA_NETWORK_ID, "
                     "or chain_id of its [[networks]] table): "
                     "out of service until it serves this chain", h.name, chain_id,
                     self.config.chain_id, extra={"upstream": h.name})

    async def close(self) -> None:
        await self.prober.stop()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- the request path -----------------------------------------------------------
    async def batch(self, calls: list[Call], *, timeout: float | None = None,
                    deadline: Deadline | None = None, verify: Verify | None = None
                    ) -> list[Any]:
        """Results of ``calls`` in call order (``RpcError`` values for per-call errors).

        Runs under the tightest of ``deadline``, the request's deadline (see
        ``resilience.deadline_scope``) and ``timeout`` seconds; REQUEST_DEADLINE when
        none is given. Raises UpstreamUnavailable when no upstream can answer.
        """
        if not calls:
            return []
        dl = self._deadline(timeout, deadline)
        self.budget.on_request()
        self.hedging.budget.on_request()
        b = BatchAttempts.of(calls, proving=verify is not None)
        while True:
            h = await self._next(b.latest, b.tried, b.banned, dl, b.attempt, b.proving)
            if h is None:
                b.why = "all upstreams are unavailable (circuit open or paused)" \
                    if b.attempt == 0 else "no upstream left to try"
                break
            b.attempt += 1
            b.tried.append(h)
            try:
                winner, answers = await self._attempt(h, b.asking(), dl, b.safe, b.latest,
                                                      b.tried, b.proving)
            except UpstreamError as exc:
                if not self._failed_attempt(b, h, exc):
                    break
            else:
                again = self._take_answers(b, winner, answers)
                if verify is None:
                    if not again:
                        return b.results
                    b.todo, b.last = again, None
                    b.reason = "not_found" if any(i in b.absent for i in again) \
                        else "rpc_error"
                elif await self._verified(b, winner, again, verify):
                    return b.results
            if not self._may_retry(b, h, dl):
                break
        return await self._give_up(b, verify)

    def _failed_attempt(self, b: BatchAttempts, h: UpstreamHealth,
                        exc: UpstreamError) -> bool:
        """``h`` failed: banned for this batch unless the failure is transient; False
        when the calls must not be sent again."""
        b.last = exc
        b.reason = exc.kind
        if not exc.retryable:
            b.banned.append(h)
        if not _resendable(exc, b.safe):
            b.why = "not retried: the call has effects"
            return False
        return True

    def _take_answers(self, b: BatchAttempts, winner: UpstreamHealth,
                      answers: list[Any]) -> list[int]:
        """Keep ``winner``'s answers (heads seen on the way observed); the indices to
        ask of another upstream: transient errors, nulls from an upstream known to lag,
        and nulls to doubt."""
        calls, safe, absent = b.calls, b.safe, b.absent
        again: list[int] = []
        for i, answer in zip(b.indices(), answers, strict=True):
            if type(answer) is str and calls[i].method == "eth_blockNumber":
                self._observe_head(winner, answer)
            elif type(answer) is dict and calls[i].params[:1] == ("latest",) \
                    and calls[i].method == "eth_getBlockByNumber":
                self._observe_head(winner, answer.get("number"))
            elif safe and type(answer) is RpcError and retryable(
                    calls[i], answer, self.heads.best(self.heads.heads)):
                again.append(i)
            elif answer is None and safe and self._behind(winner, calls[i]):
                again.append(i)  # "no such block" from an upstream known to lag
            elif answer is None and safe and i not in absent \
                    and self._doubt(winner, calls[i], b.tried, b.banned):
                absent[i] = winner  # "not found": asked of one more upstream
                again.append(i)
            b.results[i] = answer
        return again

    async def _verified(self, b: BatchAttempts, winner: UpstreamHealth, again: list[int],
                        verify: Verify) -> bool:
        """Run the verify hook on ``winner``'s answers, checked as one upstream's and
        never merged with another's; True when they are the batch's answer."""
        try:
            await verify(b.results, winner.name)
        except ProofUnavailable as exc:
            exc.upstream = winner.name
            self._withheld_proof(winner, exc)
            b.banned.append(winner)
            if b.withheld is None:
                exc.answers = b.results
                b.withheld = exc
            b.last, b.reason = exc, "proof_unavailable"
        except IntegrityFailure as exc:
            exc.upstream = winner.name
            self._lied(winner, exc)
            b.banned.append(winner)
            b.last, b.reason = exc, "integrity"
            for i in [i for i, said in b.absent.items() if said is winner]:
                del b.absent[i]  # its nulls are no claim: it lied
        except UpstreamError as exc:  # it lacks what the check needs (lagging)
            exc.upstream = exc.upstream or winner.name
            b.banned.append(winner)
            b.last, b.reason = exc, exc.kind
        else:
            winner.proofs_withheld = 0
            if not again:
                if b.absent:  # found and proven here after another said null
                    self._omitted(b.calls, b.results, {
                        i: said for i, said in b.absent.items() if said is not winner})
                return True
            # checked, with errors or nulls another upstream may not have: the whole
            # batch goes to the next one; these are the answer if none does
            b.checked = b.checked or (winner.name, b.results)
            b.last = None
            b.reason = "not_found" if any(b.absent.get(i) is winner for i in again) \
                else "rpc_error"
        b.fresh_results()
        return False

    def _may_retry(self, b: BatchAttempts, h: UpstreamHealth, dl: Deadline) -> bool:
        """Whether another attempt may follow (counted under upstream_retries_total)."""
        if b.attempt >= self.config.attempts:
            b.why = "retries exhausted"
            return False
        if dl.expired:
            b.why = "deadline exceeded"
            return False
        # asking past a refused proof is free (FREE_RETRIES), and the refuser ranks
        # last for proofs from now on
        if b.reason not in FREE_RETRIES and not self.budget.try_spend():
            b.why = "retry budget exhausted"
            return False
        self.metrics.upstream_retries.inc((h.name, b.reason))
        return True

    async def _give_up(self, b: BatchAttempts, verify: Verify | None) -> list[Any]:
        """No attempt answered every call cleanly: what is served, else the error."""
        if b.todo is not None:  # every call has an answer; some are JSON-RPC errors
            return b.results
        last = b.last
        if b.checked is not None and verify is not None:  # some calls are JSON-RPC errors
            try:  # once more, so what the hook holds is about these answers
                await verify(b.checked[1], b.checked[0])
                return b.checked[1]
            except UpstreamError as exc:
                last = exc
        if b.withheld is not None:  # no upstream proves: the caller serves or refuses
            raise b.withheld
        if isinstance(last, IntegrityFailure):
            raise last
        raise self._unavailable(b.why, last)

    def _doubt(self, h: UpstreamHealth, call: Call, tried: Sequence[UpstreamHealth],
               banned: Sequence[UpstreamHealth]) -> bool:
        """Is ``h``'s null for ``call`` ("no such transaction, receipt or block") to be
        asked of one more upstream? Yes for a lookup by hash, or by a number at or below
        ``h``'s own head, when an upstream not asked yet is in service."""
        if call.method not in LOOKUPS:
            return False
        block = named_block(call)
        if isinstance(block, str):
            return False  # a tag: null is not a claim about a block that exists
        if isinstance(block, int) and block > self.heads.heads.get(h.name, -1):
            return False  # above its head: "not yet", not "no such block"
        return any(o is not h and o not in tried and o not in banned
                   and o.breaker.state is not State.OPEN for o in self.health)

    def _omitted(self, calls: list[Call], results: list[Any],
                 absent: dict[int, UpstreamHealth]) -> None:
        """Answers found (and proven by the verify hook) after another upstream said
        null: that upstream omitted them when it had their block (its own head at or
        above it) -- an integrity failure (check ``omission``). Null from both: the
        absence is confirmed, nobody is blamed."""
        for i, h in absent.items():
            block = found_block(results[i])
            if block is None or block > self.heads.heads.get(h.name, -1):
                continue  # not found twice, pending, or it had not reached the block
            exc = IntegrityFailure("omission", f"{h.name} answered null for "
                                   f"{calls[i].method}, which another upstream served "
                                   f"(block {block}, proven)")
            exc.upstream = h.name
            log.warning("upstream %s omitted an answer that exists: %s (block %d)",
                        h.name, calls[i].method, block, extra={"upstream": h.name})
            self._lied(h, exc)

    def _lied(self, h: UpstreamHealth, exc: IntegrityFailure) -> None:
        """``h`` answered something that failed a check: count it, log it (throttled) and
        take it out of rotation -- its breaker opens when another upstream can serve
        (the reset timeout's probe lets it back only to be checked again)."""
        self.metrics.upstream_integrity_failures.inc((h.name, exc.check))
        h.breaker.record(Outcome.FAILURE)
        if len(self.health) > 1 and h.breaker.state is not State.OPEN:
            h.breaker.force(State.OPEN)
        self._errors.record(exc, ("verify:" + exc.check,))

    def blame(self, name: str, exc: IntegrityFailure) -> None:
        """Count a failed check against the upstream called ``name`` (one the caller
        asked by itself, e.g. through :meth:`ask_each`), as for an answer that failed a
        verify hook: counted, logged and taken out of rotation."""
        for h in self.health:
            if h.name == name:
                exc.upstream = name
                self._lied(h, exc)
                return

    def _withheld_proof(self, h: UpstreamHealth, exc: ProofUnavailable) -> None:
        """``h`` would not give what a provable answer's proof needs: counted under
        check=proof_unavailable and ranked after the upstreams that prove (for calls
        with a verify hook) until it gives a proof that checks. Not a lie: its breaker
        is left alone and it keeps serving what is not proven."""
        self.metrics.upstream_integrity_failures.inc((h.name, exc.kind))
        h.proofs_withheld += 1
        self._errors.record(exc, ("verify:" + exc.kind,))

    def _deadline(self, timeout: float | None, deadline: Deadline | None) -> Deadline:
        dl = deadline if deadline is not None else current_deadline()
        if timeout is not None:
            dl = Deadline.after(timeout).earliest(dl)
        return dl if dl is not None else Deadline.after(self.config.worst_case)

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
                tried: Sequence[UpstreamHealth], count_rejections: bool = False,
                proving: bool = False) -> tuple[list[UpstreamHealth], float]:
        """Candidates, healthiest first, and the earliest Retry-After pause end among
        the ones skipped for one (0 when none). ``proving`` (the calls have a verify
        hook): upstreams that refused a proof since they last gave one rank last."""
        now = time.monotonic()
        health = self.health
        best = 0
        if latest and len(health) > 1:
            best = self.heads.best(h.name for h in health if h.breaker.state is not State.OPEN)
        keyed: list[tuple[bool, bool, bool, int, float, int, UpstreamHealth]] = []
        paused_until = 0.0
        for i, h in enumerate(health):
            if h in exclude or h.wrong_chain:
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
            keyed.append((h in tried, proving and h.proofs_withheld > 0, lagging, int(state),
                          h.score(), i, h))
        keyed.sort(key=lambda k: k[:6])
        return [k[-1] for k in keyed], paused_until

    async def _next(self, latest: bool, tried: list[UpstreamHealth],
                    banned: list[UpstreamHealth], dl: Deadline,
                    attempt: int, proving: bool = False) -> UpstreamHealth | None:
        """The upstream for the next attempt, with its breaker permit taken; waits a
        backoff first when every candidate has been tried already, or for the end of a
        Retry-After pause when that is all that stands in the way."""
        ranked, paused_until = self._ranked(latest, banned, tried, attempt == 0, proving)
        if not ranked and paused_until and attempt < self.config.attempts:
            wait = paused_until - time.monotonic()
            if wait >= dl.remaining():
                return None
            await asyncio.sleep(max(wait, 0.0))
            ranked, _ = self._ranked(latest, banned, tried, proving=proving)
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
                       tried: Sequence[UpstreamHealth], proving: bool = False
                       ) -> UpstreamHealth | None:
        """The healthiest upstream not in ``busy`` that takes a call now; never a
        lagging one for 'latest' reads, nor one that refused a proof for provable calls."""
        best = 0
        if latest:
            best = self.heads.best(h.name for h in self.health if h.breaker.state is not State.OPEN)
        ranked, _ = self._ranked(latest, busy, tried)
        for h in ranked:
            if (best and self.heads.lagging(h.name, best)) or (proving and h.proofs_withheld):
                continue
            if h.breaker.allow():
                return h
        return None

    # --- one attempt (maybe hedged) -------------------------------------------------------
    async def _attempt(self, h: UpstreamHealth, calls: list[Call], dl: Deadline, safe: bool,
                       latest: bool, tried: list[UpstreamHealth], proving: bool = False
                       ) -> tuple[UpstreamHealth, list[Any]]:
        timeout = dl.cap(self.config.timeout)
        if timeout <= 0:
            h.breaker.record(Outcome.IGNORED)
            raise UpstreamError("request deadline exceeded", kind="timeout", upstream=h.name)
        if (safe and self.config.hedge and len(self.health) > 1
                and self.hedging.delay(h) < timeout):
            return await self.hedging.attempt(h, calls, dl, timeout, latest, tried, proving)
        return h, await self._send(h, calls, timeout)

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
        try:
            for c, a in zip(calls, answers, strict=True):
                check_answer(c, a)
        except IntegrityFailure as exc:  # a number out of range: never read, never served
            exc.upstream = h.name
            self._count(h, calls, "integrity", None)
            self._lied(h, exc)
            raise
        # Only the upstream's own trouble counts against it (faults.py): a caller's
        # revert, out-of-gas or bad params is an answer like any other.
        sick: RpcError | None = None
        for a in answers:
            if type(a) is RpcError and unhealthy_rpc_error(a):
                sick = a
                break
        h.breaker.record(Outcome.SUCCESS if sick is None else Outcome.FAILURE)
        self._count(h, calls, None, answers, elapsed)
        if sick is not None:
            self._errors.record(UpstreamError(
                f"upstream answered JSON-RPC error {sick.code}: {sick.message[:200]}",
                kind="rpc", upstream=h.name, rpc_code=sick.code), (c.method for c in calls))
        return answers

    # --- heads ----------------------------------------------------------------------------
    def _behind(self, h: UpstreamHealth, call: Call) -> bool:
        """Does ``call`` name a block above ``h``'s known head that another upstream has
        shown? (Then ``h``'s null for it means "not yet", not "no such block".)"""
        block = named_block(call)
        if not isinstance(block, int):
            return False
        heads = self.heads
        return heads.heads.get(h.name, -1) < block <= heads.best(heads.heads)

    def _observe_head(self, h: UpstreamHealth, raw: Any) -> None:
        """Record ``h``'s head (for lag and the upstream_head_block gauge)."""
        if not quantity_ok(raw, U64):
            return
        head = int(raw, 16) if type(raw) is str else int(raw)
        self.metrics.upstream_head.set(head, (h.name,))
        self.heads.observe(h.name, head)

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
            m.upstream_calls.inc((name, label, "ok" if type(a) is not RpcError
                                  else "caller_error" if a.fault is Fault.CALLER
                                  else "rpc_error"))
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
        """Breaker state and counters, latency, head and lag per upstream; the budgets."""
        return self.prober.status(self.budget, self.hedging.budget)

    async def ping(self, timeout: float = 2.0) -> dict[str, Any]:
        """Readiness: see :meth:`Prober.ping`."""
        return await self.prober.ping(timeout)

    def in_service(self) -> list[str]:
        """The upstreams whose breaker is not open (all of them when every one is)."""
        names = [h.name for h in self.health if h.breaker.state is not State.OPEN]
        return names or [h.name for h in self.health]

    def vouched_head(self) -> int | None:
        """The highest block HEAD_QUORUM of the upstreams in service have each reached
        (see head.py); None while too few of their heads are known."""
        return self.heads.vouched(self.in_service())

    @property
    def head_quorum(self) -> int:
        """The quorum :meth:`vouched_head` asks for now (HEAD_QUORUM, capped at the
        upstreams in service): 1 means one upstream's word."""
        return min(self.config.head_quorum, len(self.in_service()))

    async def poll_heads(self) -> None:
        """Ask every upstream for its head now (what :meth:`vouched_head` goes by)."""
        await self.prober.poll_heads()

    async def ask_each(self, calls: list[Call], timeout: float = 2.0) -> dict[str, list[Any] | None]:
        """The same calls to every upstream, side by side: see :meth:`Prober.ask_each`."""
        return await self.prober.ask_each(calls, timeout)
