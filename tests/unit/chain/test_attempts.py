"""One batch's state across attempts: what the next attempt asks, fresh answers per
verified attempt."""

from __future__ import annotations

from bizra_node.chain.attempts import BatchAttempts
from bizra_node.jsonrpc import Call

CALLS = [Call("eth_blockNumber"), Call("eth_getBalance", ("0x" + "11" * 20, "latest")),
         Call("eth_sendRawTransaction", ("0x00",))]


def test_a_batch_starts_with_every_call_and_no_answers() -> None:
    b = BatchAttempts.of(CALLS[:2], proving=False)
    assert b.asking() == CALLS[:2] and list(b.indices()) == [0, 1]
    assert b.results == [None, None] and b.safe and b.latest
    assert b.attempt == 0 and b.tried == [] and b.banned == [] and b.absent == {}


def test_after_transient_errors_only_those_calls_are_asked_again() -> None:
    b = BatchAttempts.of(CALLS[:2], proving=False)
    b.results[0] = "0x5"
    b.todo = [1]
    assert b.asking() == [CALLS[1]] and list(b.indices()) == [1]


def test_a_call_with_effects_is_not_safe_to_resend() -> None:
    assert not BatchAttempts.of(CALLS, proving=True).safe


def test_each_verified_attempt_is_checked_on_its_own_answers() -> None:
    b = BatchAttempts.of(CALLS[:2], proving=True)
    b.results[0] = "0x5"
    kept = b.results
    b.fresh_results()
    assert b.results == [None, None] and kept == ["0x5", None]
