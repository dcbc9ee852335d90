"""UpstreamPool policy against small real HTTP upstreams (tests/support/servers.py):
which calls are retried, re-sent, hedged or left alone, and what is left behind."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import orjson
import pytest
from aiohttp import web

from bizra_node.app import upstream_config
from bizra_node.chain import UpstreamPool
from bizra_node.devnet import free_port
from bizra_node.errors import IntegrityFailure, ProofUnavailable, UpstreamUnavailable
from bizra_node.jsonrpc import Call, RpcError
from bizra_node.observability import NodeMetrics
from bizra_node.resilience import State
from tests.conftest import make_settings, split_tuning
from tests.support.servers import scripted_upstream

Answer = Callable[[Any, int], Awaitable[web.StreamResponse | None]]
"""(request document, request number starting at 1) -> response, or None to cut the
connection without one"""


class Upstream:
    """A scripted JSON-RPC upstream that records what it was sent."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.docs: list[Any] = []
        self.times: list[float] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        doc = orjson.loads(await request.read())
        self.docs.append(doc)
        self.times.append(time.monotonic())
        response = await self.answer(doc, len(self.docs))
        if response is None:  # drop the connection without answering
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        return response

    @property
    def methods(self) -> list[str]:
        out: list[str] = []
        for d in self.docs:
            out += [i["method"] for i in d] if isinstance(d, list) else [d["method"]]
        return out


def result(doc: Any, value: Callable[[dict[str, Any]], Any] = lambda i: "0x1") -> web.Response:
    def one(item: dict[str, Any]) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": item["id"], "result": value(item)}
    body = [one(i) for i in doc] if isinstance(doc, list) else one(doc)
    return web.Response(body=orjson.dumps(body), content_type="application/json")


def error(doc: Any, code: int, only: str | None = None, message: str = "e") -> web.Response:
    def one(item: dict[str, Any]) -> dict[str, Any]:
        if only is not None and item["method"] != only:
            return {"jsonrpc": "2.0", "id": item["id"], "result": "0x1"}
        return {"jsonrpc": "2.0", "id": item["id"], "error": {"code": code, "message": message}}
    body = [one(i) for i in doc] if isinstance(doc, list) else one(doc)
    return web.Response(body=orjson.dumps(body), content_type="application/json")


async def ok(doc: Any, n: int) -> web.StreamResponse:
    return result(doc)


async def call(pool: UpstreamPool, c: Call) -> Any:
    """One call through the pool's batch (its only way in)."""
    return (await pool.batch([c]))[0]


def ours(tasks: set[asyncio.Task[Any]]) -> set[asyncio.Task[Any]]:
    """Tasks of the client side (the scripted servers run in this loop too)."""
    return {t for t in tasks if not t.done()
            and "RequestHandler" not in t.get_coro().__qualname__}  # type: ignore[union-attr]


@asynccontextmanager
async def upstreams(*answers: Answer) -> AsyncIterator[list[Upstream]]:
    async with AsyncExitStack() as stack:
        ups = [Upstream(a) for a in answers]
        for u in ups:
            u.url = await stack.enter_async_context(scripted_upstream(u.handle))
        yield ups


@asynccontextmanager
async def pool_for(urls: list[str], **overrides: Any) -> AsyncIterator[UpstreamPool]:
    values: dict[str, Any] = {"head_poll_interval": 0, "hedge_enabled": False,
                              "retry_initial": 0.001, "retry_max": 0.01}  # retry_max: Tuning
    values.update(overrides)
    settings, tuning = split_tuning(values)
    pool = UpstreamPool(upstream_config(make_settings(",".join(urls), **settings), tuning),
                        NodeMetrics())
    await pool.start()
    try:
        yield pool
    finally:
        await pool.close()


async def test_transient_rpc_errors_are_asked_again_elsewhere_only_for_the_failed_calls() -> None:
    async def flaky(doc: Any, n: int) -> web.StreamResponse:
        return error(doc, -32603, only="eth_getBalance")

    async with upstreams(flaky, ok) as (a, b), pool_for([a.url, b.url]) as pool:
        calls = [Call("eth_getBalance", ("0x01", "0x5")), Call("eth_chainId")]
        assert await pool.batch(calls) == ["0x1", "0x1"]
    assert a.methods == ["eth_getBalance", "eth_chainId"]
    assert b.methods == ["eth_getBalance"]  # only the call that failed
    assert pool.metrics.upstream_retries.get((a.url, "rpc_error")) == 1


async def test_the_callers_bad_input_is_not_retried() -> None:
    async def invalid(doc: Any, n: int) -> web.StreamResponse:
        return error(doc, -32602)

    async with upstreams(invalid, ok) as (a, b), pool_for([a.url, b.url]) as pool:
        (answer,) = await pool.batch([Call("eth_getBalance", ("nonsense", "0x1"))])
    assert isinstance(answer, RpcError) and answer.code == -32602
    assert len(a.docs) == 1 and b.docs == []
    assert pool.health[0].breaker.failures == 0  # the upstream did its job


async def test_transient_errors_left_after_the_last_attempt_come_back_as_values() -> None:
    async def busy(doc: Any, n: int) -> web.StreamResponse:
        return error(doc, -32000, message="server busy, try again")

    async with upstreams(busy) as (a,), pool_for([a.url], retry_attempts=2) as pool:
        (answer,) = await pool.batch([Call("eth_getCode", ("0x01", "0x1"))])
    assert isinstance(answer, RpcError) and answer.code == -32000
    assert len(a.docs) == 2


async def test_the_callers_minus_32000_errors_are_answered_at_once() -> None:
    """"filter not found", a revert, "nonce too low": one answer, no retry, no backoff."""
    async def not_found(doc: Any, n: int) -> web.StreamResponse:
        return error(doc, -32000, message="filter not found")

    async with upstreams(not_found, ok) as (a, b), pool_for([a.url, b.url]) as pool:
        (answer,) = await pool.batch([Call("eth_getFilterChanges", ("0x1",))])
    assert isinstance(answer, RpcError) and answer.message == "filter not found"
    assert len(a.docs) == 1 and b.docs == []


@pytest.mark.parametrize(("block", "asked_again"), [("0x5", True), ("0x64", False)])
async def test_a_lagging_upstreams_unknown_block_is_asked_elsewhere(block: str,
                                                                   asked_again: bool) -> None:
    """"header not found" for a block some upstream has shown (head 0x10 here) is the
    upstream's lag: asked of the next one; above every known head it is the caller's."""
    async def lagging(doc: Any, n: int) -> web.StreamResponse:
        return error(doc, -32000, message="header not found")

    async with upstreams(lagging, ok) as (a, b), pool_for([a.url, b.url]) as pool:
        pool.heads.observe(pool.health[1].name, 0x10)
        (answer,) = await pool.batch([Call("eth_getBalance", ("0x01", block))])
    assert (answer == "0x1") is asked_again
    assert len(b.docs) == (1 if asked_again else 0)


@pytest.mark.parametrize(("block", "found"), [("0x8", True), ("0x20", False)])
async def test_a_lagging_upstreams_null_block_is_asked_elsewhere(block: str, found: bool) -> None:
    """A null block from an upstream whose head is known to be below it, while another
    upstream has shown it, means "not yet": asked of the next upstream."""
    async def behind(doc: Any, n: int) -> web.StreamResponse:
        return result(doc, lambda i: None)

    async def ahead(doc: Any, n: int) -> web.StreamResponse:
        return result(doc, lambda i: {"number": i["params"][0]})

    async with upstreams(behind, ahead) as (a, b), \
            pool_for([a.url, b.url], head_quorum=1) as pool:
        pool.heads.observe(pool.health[0].name, 0x5)
        pool.heads.observe(pool.health[1].name, 0x10)
        (answer,) = await pool.batch([Call("eth_getBlockByNumber", (block, False))])
    assert (answer is not None) is found
    assert len(b.docs) == (1 if found else 0)


async def test_a_head_far_ahead_of_the_quorum_is_not_believed() -> None:
    """With HEAD_QUORUM 2, an upstream 11 blocks ahead of the other is not believed
    until the other reaches it: the other's null for a block between is its answer."""
    async def behind(doc: Any, n: int) -> web.StreamResponse:
        return result(doc, lambda i: None)

    async def ahead(doc: Any, n: int) -> web.StreamResponse:
        return result(doc, lambda i: {"number": i["params"][0]})

    async with upstreams(behind, ahead) as (a, b), pool_for([a.url, b.url]) as pool:
        pool.heads.observe(pool.health[0].name, 0x5)
        pool.heads.observe(pool.health[1].name, 0x10)
        assert pool.vouched_head() == 0x5 and pool.head_quorum == 2
        (answer,) = await pool.batch([Call("eth_getBlockByNumber", ("0x8", False))])
        assert answer is None and len(b.docs) == 0
        pool.heads.observe(pool.health[0].name, 0x10)
        assert pool.vouched_head() == 0x10


async def test_a_null_is_asked_of_one_more_upstream() -> None:
    """A transaction one upstream answers null (its head past the block) and another
    serves: served, and without a verify hook nobody is blamed; null from both is
    "not found", asked of two upstreams and no more."""
    tx = {"hash": "0x" + "11" * 32, "blockNumber": "0x3"}

    async def omits(doc: Any, n: int) -> web.StreamResponse:
        return result(doc, lambda i: None)

    async def has(doc: Any, n: int) -> web.StreamResponse:
        return result(doc, lambda i: tx)

    call = Call("eth_getTransactionByHash", ("0x" + "11" * 32,))
    async with upstreams(omits, has) as (a, b), pool_for([a.url, b.url]) as pool:
        for h in pool.health:
            pool.heads.observe(h.name, 0x5)
        pool.health[1].observe(1.0)  # slower: the one that omits is asked first
        (answer,) = await pool.batch([call])
        assert answer == tx and len(a.docs) == 1 and len(b.docs) == 1

        async def verified(answers: list[Any], upstream: str) -> None:
            return None

        (answer,) = await pool.batch([call], verify=verified)
        assert answer == tx
        assert pool.metrics.upstream_integrity_failures.get(
            (pool.health[0].name, "omission")) == 1
    async with upstreams(omits, omits) as (a, b), pool_for([a.url, b.url]) as pool:
        (answer,) = await pool.batch([call])
        assert answer is None and len(a.docs) + len(b.docs) == 2


async def test_send_raw_transaction_is_not_resent_after_a_5xx() -> None:
    async def unavailable(doc: Any, n: int) -> web.StreamResponse:
        return web.Response(status=503)

    async with upstreams(unavailable, ok) as (a, b), pool_for([a.url, b.url]) as pool:
        with pytest.raises(UpstreamUnavailable) as info:
            await pool.batch([Call("eth_sendRawTransaction", ("0x02f8",))])
    assert info.value.details is not None
    assert info.value.details["reason"] == "not retried: the call has effects"
    assert len(a.docs) == 1 and b.docs == []


async def test_send_raw_transaction_is_not_resent_after_a_dropped_connection() -> None:
    async def drop(doc: Any, n: int) -> web.StreamResponse | None:
        return None  # cut the socket after reading the request, before any answer

    async with upstreams(drop, ok) as (a, b), pool_for([a.url, b.url]) as pool:
        with pytest.raises(UpstreamUnavailable) as info:
            await pool.batch([Call("eth_sendRawTransaction", ("0x02f8",))])
    assert info.value.details is not None and info.value.details["kind"] == "disconnect"
    assert len(a.docs) == 1 and b.docs == []


async def test_send_raw_transaction_goes_elsewhere_when_it_never_arrived() -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    async with upstreams(ok) as (b,), pool_for([dead, b.url]) as pool:
        assert await pool.batch([Call("eth_sendRawTransaction", ("0x02f8",))]) == ["0x1"]
    assert b.methods == ["eth_sendRawTransaction"]


async def test_send_raw_transaction_is_never_hedged() -> None:
    async def slow(doc: Any, n: int) -> web.StreamResponse:
        await asyncio.sleep(0.2)
        return result(doc)

    async with upstreams(slow, ok) as (a, b), \
            pool_for([a.url, b.url], hedge_enabled=True, hedge_delay=0.01) as pool:
        assert await pool.batch([Call("eth_sendRawTransaction", ("0x02f8",))]) == ["0x1"]
    assert len(a.docs) == 1 and b.docs == []


async def test_retry_after_longer_than_the_deadline_answers_503_at_once() -> None:
    async def limited(doc: Any, n: int) -> web.StreamResponse:
        return web.Response(status=429, headers={"Retry-After": "30"})

    async with upstreams(limited) as (a,), pool_for([a.url]) as pool:
        with pytest.raises(UpstreamUnavailable) as info:
            await pool.batch([Call("eth_chainId")], timeout=2.0)
        assert info.value.details is not None and info.value.details["retryAfter"] == 30.0
        # The pause holds for later requests too: they do not reach the upstream.
        with pytest.raises(UpstreamUnavailable):
            await pool.batch([Call("eth_chainId")], timeout=2.0)
    assert len(a.docs) == 1


async def test_retry_after_is_waited_out_when_the_deadline_allows() -> None:
    async def once_busy(doc: Any, n: int) -> web.StreamResponse:
        if n == 1:
            return web.Response(status=503, headers={"Retry-After": "0.3"})
        return result(doc)

    async with upstreams(once_busy) as (a,), pool_for([a.url]) as pool:
        assert await pool.batch([Call("eth_chainId")], timeout=5.0) == ["0x1"]
    assert len(a.docs) == 2
    assert a.times[1] - a.times[0] >= 0.3  # not sooner than the upstream asked


async def test_budget_caps_retries_in_a_storm() -> None:
    async def down(doc: Any, n: int) -> web.StreamResponse:
        return web.Response(status=502)

    async with upstreams(down, down) as (a, b), \
            pool_for([a.url, b.url], retry_budget_min=0.0, retry_budget_ratio=0.1,
                     cb_failure_threshold=10**6, cb_volume_threshold=10**6) as pool:
        for _ in range(60):
            with pytest.raises(UpstreamUnavailable):
                await pool.batch([Call("eth_chainId")])
    sent = len(a.docs) + len(b.docs)
    assert 60 <= sent <= 60 + 6  # 10 % of 60 first attempts
    assert pool.budget.exhausted >= 50
    assert pool.metrics.upstream_retries.total() == sent - 60


async def test_malformed_answers_fail_over() -> None:
    async def garbage(doc: Any, n: int) -> web.StreamResponse:
        return web.Response(body=b'{"jsonrpc":', content_type="application/json")

    async with upstreams(garbage, ok) as (a, b), pool_for([a.url, b.url]) as pool:
        assert await pool.batch([Call("eth_chainId"), Call("eth_gasPrice")]) == ["0x1", "0x1"]
    assert len(a.docs) == 1 and len(b.docs) == 1
    assert pool.metrics.upstream_calls.get((a.url, "eth_chainId", "malformed")) == 1


async def test_each_upstreams_head_is_recorded_as_it_answers() -> None:
    heads = iter(["0x10", "0x8", "0x11"])

    async def moving(doc: Any, n: int) -> web.StreamResponse:
        return result(doc, lambda item: next(heads))

    async with upstreams(moving) as (a,), pool_for([a.url]) as pool:
        seen = [await call(pool, Call("eth_blockNumber")) for _ in range(3)]
        assert pool.heads.heads == {a.url: 0x11}
    # the pool passes answers on as they are: the never-backwards rule is the chain
    # view's (tests/unit/validation/test_chain_view.py)
    assert seen == ["0x10", "0x8", "0x11"]
    assert pool.metrics.upstream_head.get((a.url,)) == 0x11


async def test_lagging_upstream_is_skipped_for_latest_reads() -> None:
    def chain(head: str) -> Answer:
        async def answer(doc: Any, n: int) -> web.StreamResponse:
            return result(doc, lambda item: head if item["method"] == "eth_blockNumber" else "0x5")
        return answer

    async with upstreams(chain("0x20"), chain("0x64")) as (behind, ahead), \
            pool_for([behind.url, ahead.url], head_poll_interval=0.02, head_lag_blocks=3,
                     head_quorum=1) as pool:
        while len(pool.heads.heads) < 2:
            await asyncio.sleep(0.01)
        for _ in range(10):
            assert await call(pool, Call("eth_getBalance", ("0x01", "latest"))) == "0x5"
        assert "eth_getBalance" not in behind.methods
        # A read by hash does not depend on the head: the lagging one may serve it.
        status = pool.status()
    assert status["upstreams"][behind.url]["lagBlocks"] == 0x64 - 0x20


async def test_hedged_read_answers_from_the_second_upstream_and_cancels_the_first() -> None:
    release = asyncio.Event()

    async def stalled(doc: Any, n: int) -> web.StreamResponse:
        await release.wait()
        return result(doc)

    before = asyncio.all_tasks()
    async with upstreams(stalled, ok) as (a, b), \
            pool_for([a.url, b.url], hedge_enabled=True, hedge_delay=0.02) as pool:
        assert await pool.batch([Call("eth_chainId")]) == ["0x1"]
        assert pool.metrics.upstream_hedges.get(("won",)) == 1
        assert len(b.docs) == 1
        assert pool.metrics.upstream_calls.get((a.url, "eth_chainId", "cancelled")) == 1
        assert [h.inflight for h in pool.health] == [0, 0]
        assert pool.health[0].breaker.failures == 0  # the loser was cancelled, not failed
        release.set()
    await asyncio.sleep(0)
    assert ours(asyncio.all_tasks() - before) == set()


async def test_cancelled_request_leaves_no_task_and_no_failure() -> None:
    started = asyncio.Event()

    async def stalled(doc: Any, n: int) -> web.StreamResponse:
        started.set()
        await release.wait()
        return result(doc)

    release = asyncio.Event()

    async with upstreams(stalled, stalled) as (a, b), \
            pool_for([a.url, b.url], hedge_enabled=True, hedge_delay=0.01) as pool:
        before = asyncio.all_tasks()
        task = asyncio.create_task(pool.batch([Call("eth_chainId")]))
        await started.wait()
        while len(b.docs) == 0:  # wait until the hedge is out too
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert ours(asyncio.all_tasks() - before) == set()
        assert [h.inflight for h in pool.health] == [0, 0]
        assert [h.breaker.failures for h in pool.health] == [0, 0]
        assert [h.breaker.state for h in pool.health] == [State.CLOSED, State.CLOSED]
        release.set()


async def test_deadline_bounds_a_stalled_upstream_and_leaves_nothing_behind() -> None:
    release = asyncio.Event()

    async def stalled(doc: Any, n: int) -> web.StreamResponse:
        await release.wait()
        return result(doc)

    async with upstreams(stalled) as (a,), pool_for([a.url], rpc_timeout=30.0) as pool:
        before = asyncio.all_tasks()
        with pytest.raises(UpstreamUnavailable) as info:
            await pool.batch([Call("eth_chainId")], timeout=0.1)
        assert info.value.details is not None and info.value.details["kind"] == "timeout"
        assert len(a.docs) == 1  # no retry past the request's deadline
        assert pool.health[0].breaker.timeouts == 1
        assert ours(asyncio.all_tasks() - before) == set()
        release.set()


async def test_open_breakers_answer_503_without_calling_anyone() -> None:
    async with upstreams(ok, ok) as (a, b), pool_for([a.url, b.url]) as pool:
        for h in pool.health:
            h.breaker.force(State.OPEN)
        with pytest.raises(UpstreamUnavailable) as info:
            await pool.batch([Call("eth_chainId")])
        assert info.value.details is not None and "circuit open" in info.value.details["reason"]
        ready = await pool.ping()
    assert a.docs == [] and b.docs == []
    assert all(not u["ok"] and u["state"] == "open" for u in ready.values())
    assert pool.metrics.breaker_state.get((a.url,)) == 2


async def test_empty_batch_and_no_upstream() -> None:
    async with upstreams(ok) as (a,), pool_for([a.url]) as pool:
        assert await pool.batch([]) == []
    with pytest.raises(ValueError):
        await UpstreamPool(upstream_config(make_settings(""))).start()


async def test_upstream_names_in_metrics_and_status_carry_no_credentials() -> None:
    async with upstreams(ok) as (a,):
        host = a.url.removeprefix("http://")
        secret_url = f"http://user:hunter2@{host}/?apikey=hunter2"
        async with pool_for([secret_url]) as pool:
            await call(pool, Call("eth_chainId"))
            labels = [k for k, _ in pool.metrics.upstream_calls.items()]
            text = repr(labels) + repr(pool.status()) + repr(await pool.ping())
    assert "hunter2" not in text and "user" not in text
    assert labels == [(f"http://{host}/", "eth_chainId", "ok")]


async def test_an_answer_failing_verification_is_asked_again_of_another_upstream() -> None:
    async def liar(doc: Any, n: int) -> web.StreamResponse:
        return result(doc, lambda item: "0xbad")

    async def check(answers: list[Any], upstream: str) -> None:
        if answers != ["0x1"]:
            raise IntegrityFailure("chain_id", f"chain id {answers[0]} is not 0x1")

    async with upstreams(liar, ok, ok) as (bad, good, _), \
            pool_for([bad.url, good.url, _.url]) as pool:
        assert await pool.batch([Call("eth_chainId")], verify=check) == ["0x1"]
        assert pool.metrics.upstream_integrity_failures.get((bad.url, "chain_id")) == 1
        assert pool.health[0].breaker.state is State.OPEN  # out of rotation
        assert await pool.batch([Call("eth_chainId")], verify=check) == ["0x1"]
    assert len(bad.docs) == 1


async def test_when_every_upstream_lies_the_failure_names_the_check_and_an_upstream() -> None:
    async def liar(doc: Any, n: int) -> web.StreamResponse:
        return result(doc, lambda item: "0xbad")

    async def check(answers: list[Any], upstream: str) -> None:
        raise IntegrityFailure("chain_id", "not the served chain")

    async with upstreams(liar, liar) as (a, b), pool_for([a.url, b.url]) as pool:
        with pytest.raises(IntegrityFailure) as info:
            await pool.batch([Call("eth_chainId")], verify=check)
    assert info.value.check == "chain_id" and info.value.upstream in (a.url, b.url)
    assert len(a.docs) == 1 and len(b.docs) == 1


async def _needs_proof(answers: list[Any], upstream: str) -> None:
    """A hook for [eth_getBalance, eth_getProof]: a refused proof is ProofUnavailable."""
    if isinstance(answers[1], RpcError):
        raise ProofUnavailable("upstream would not give the eth_getProof")


PROVABLE = [Call("eth_getBalance", ("0x01", "0x5")), Call("eth_getProof", ("0x01", [], "0x5"))]


async def test_prove_or_ask_another_counts_the_refuser_and_asks_it_last_for_proofs() -> None:
    async def no_proofs(doc: Any, n: int) -> web.StreamResponse:
        return error(doc, -32601, only="eth_getProof")

    async with upstreams(no_proofs, ok) as (bad, good), \
            pool_for([bad.url, good.url]) as pool:
        assert await pool.batch(PROVABLE, verify=_needs_proof) == ["0x1", "0x1"]
        assert pool.metrics.upstream_integrity_failures.get(
            (bad.url, "proof_unavailable")) == 1
        assert pool.health[0].proofs_withheld == 1
        assert pool.health[0].breaker.state is State.CLOSED  # not a lie: still in rotation
        assert pool.status()["upstreams"][bad.url]["proofsWithheld"] == 1
        for _ in range(3):  # provable calls: the upstream that proves is asked first
            assert await pool.batch(PROVABLE, verify=_needs_proof) == ["0x1", "0x1"]
        assert len(bad.docs) == 1 and len(good.docs) == 4
        bad_h, good_h = pool.health
        good_h.ewma, bad_h.ewma = 1.0, 0.001  # the refuser is the fastest by far
        assert pool._ranked(False, [], [], proving=True)[0] == [good_h, bad_h]
        assert pool._ranked(False, [], [])[0] == [bad_h, good_h]  # the rest: as before
        assert pool.metrics.upstream_retries.get((bad.url, "proof_unavailable")) == 1


async def test_asking_past_a_refused_proof_is_not_paid_from_the_retry_budget() -> None:
    """A burst that reached the refuser before its first refusal was counted (here:
    every refusal, the budget empty) still gets the proven answers."""
    async def no_proofs(doc: Any, n: int) -> web.StreamResponse:
        return error(doc, -32601, only="eth_getProof")

    async with upstreams(no_proofs, ok) as (bad, good), \
            pool_for([bad.url, good.url], retry_budget_min=0.0,
                     retry_budget_ratio=0.0) as pool:
        for _ in range(5):
            pool.health[0].proofs_withheld = 0  # as if the refusal had not been seen yet
            pool.health[0].ewma, pool.health[1].ewma = 0.0001, 1.0  # the refuser first
            assert await pool.batch(PROVABLE, verify=_needs_proof) == ["0x1", "0x1"]
        assert pool.budget.exhausted == 0
    assert len(bad.docs) == 5 and len(good.docs) == 5


async def test_when_no_upstream_proves_the_first_refusal_comes_back_with_its_answers() -> None:
    async def no_proofs(doc: Any, n: int) -> web.StreamResponse:
        return error(doc, -32601, only="eth_getProof")

    async with upstreams(no_proofs, no_proofs) as (a, b), pool_for([a.url, b.url]) as pool:
        with pytest.raises(ProofUnavailable) as info:
            await pool.batch(PROVABLE, verify=_needs_proof)
        assert info.value.upstream == a.url and info.value.answers is not None
        assert info.value.answers[0] == "0x1" and isinstance(info.value.answers[1], RpcError)
        assert [h.proofs_withheld for h in pool.health] == [1, 1]
    assert len(a.docs) == 1 and len(b.docs) == 1


async def test_a_proof_that_checks_lifts_the_refusals() -> None:
    async def sometimes(doc: Any, n: int) -> web.StreamResponse:
        return error(doc, -32601, only="eth_getProof") if n == 1 else result(doc)

    async with upstreams(sometimes) as (a,), pool_for([a.url]) as pool:
        with pytest.raises(ProofUnavailable):
            await pool.batch(PROVABLE, verify=_needs_proof)
        assert pool.health[0].proofs_withheld == 1
        assert await pool.batch(PROVABLE, verify=_needs_proof) == ["0x1", "0x1"]
        assert pool.health[0].proofs_withheld == 0


async def test_with_a_hook_answers_are_never_merged_across_upstreams() -> None:
    """A transient error on one call of a checked batch sends the whole batch to the
    next upstream: the hook sees one upstream's answers, and blames only it."""
    async def flaky_proof(doc: Any, n: int) -> web.StreamResponse:
        return error(doc, -32603, only="eth_getProof")

    seen: list[tuple[str, list[Any]]] = []

    async def hook(answers: list[Any], upstream: str) -> None:
        seen.append((upstream, list(answers)))
        await _needs_proof(answers, upstream)

    async with upstreams(flaky_proof, ok) as (a, b), pool_for([a.url, b.url]) as pool:
        assert await pool.batch(PROVABLE, verify=hook) == ["0x1", "0x1"]
    assert b.methods == ["eth_getBalance", "eth_getProof"]  # the whole batch
    assert [u for u, _ in seen] == [a.url, b.url]
    assert pool.metrics.upstream_integrity_failures.get((a.url, "proof_unavailable")) == 1


async def test_ask_each_puts_the_upstreams_answers_side_by_side() -> None:
    async def two(doc: Any, n: int) -> web.StreamResponse:
        return result(doc, lambda item: "0x2")

    async def down(doc: Any, n: int) -> web.StreamResponse | None:
        return None

    async with upstreams(ok, two, down) as (a, b, c), pool_for([a.url, b.url, c.url]) as pool:
        answers = await pool.ask_each([Call("eth_chainId")])
    assert answers == {a.url: ["0x1"], b.url: ["0x2"], c.url: None}


@pytest.mark.parametrize(("code", "message"), [
    (-32603, "EVM error OutOfGas"), (-32603, "EVM error InvalidFEOpcode"),
    (-32000, "nonce too low"), (3, "execution reverted: rate limited, try again"),
])
async def test_a_callers_error_is_answered_once_and_never_opens_the_breaker(
        code: int, message: str, caplog: pytest.LogCaptureFixture) -> None:
    async def halts(doc: Any, n: int) -> web.StreamResponse:
        return error(doc, code, message=message)

    async with upstreams(halts) as (a,), pool_for([a.url], cb_failure_threshold=2) as pool:
        for _ in range(6):
            assert await pool.batch([Call("eth_call", ({"to": "0x01"}, "latest"))]) \
                == [RpcError(code, message)]
        assert pool.health[0].breaker.state is State.CLOSED
        assert len(a.methods) == 6  # never asked again
        assert pool.metrics.upstream_calls.get((a.url, "eth_call", "caller_error")) == 6
    assert not [r for r in caplog.records if r.name == "bizra_node.chain"]


async def test_the_upstreams_own_error_is_logged_with_its_code(
        caplog: pytest.LogCaptureFixture) -> None:
    async def sick(doc: Any, n: int) -> web.StreamResponse:
        return error(doc, -32603, message="internal error")

    async with upstreams(sick) as (a,), pool_for([a.url], cb_failure_threshold=2) as pool:
        await pool.batch([Call("eth_getBalance", ("0x01", "latest"))])
        assert pool.health[0].breaker.state is State.OPEN
    lines = [r for r in caplog.records if getattr(r, "kind", None) == "rpc"]
    assert lines and lines[0].rpc_code == -32603  # type: ignore[attr-defined]
    assert lines[0].retryable is True  # type: ignore[attr-defined]
    assert "internal error" in lines[0].getMessage()
