"""too_deep(): nesting outside string literals, checked without decoding; and what it
costs a normal body (a microbenchmark with a loose bound; the numbers are in
docs/security.md)."""

from __future__ import annotations

import time

import pytest

from bizra_node.api.depth import MAX_JSON_DEPTH, too_deep
from bizra_node.api.rpc import parse_rpc

NORMAL = (b'{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":'
          b'["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266","latest"]}')


def levels(n: int) -> bytes:
    return b"[" * n + b"]" * n


@pytest.mark.parametrize(("body", "deep"), [
    (NORMAL, False),
    (levels(MAX_JSON_DEPTH), False),
    (levels(MAX_JSON_DEPTH + 1), True),
    (b'{"a":' * 65 + b"1" + b"}" * 65, True),
    (b"[{" * 33 + b"}]" * 33, True),  # 66 levels, mixed
    (b"[" + b"[]," * 1000 + b"[]]", False),  # many brackets, shallow
    (b'["' + b"[" * 10_000 + b'"]', False),  # brackets inside a string nest nothing
    (b'["\\"' + b"[" * 100 + b'"]', False),  # an escaped quote does not end the string
    (b'["\\\\"' + levels(100) + b"]", True),  # an escaped backslash does
    (levels(100_000), True),
    ("[" * 65 + "]" * 65, True),  # a WebSocket text message
    ("é" + "[" * 10 + "]" * 10, False),
])
def test_too_deep(body: bytes | str, deep: bool) -> None:
    assert too_deep(body) is deep


def test_parse_rpc_never_decodes_a_deep_body() -> None:
    from bizra_node.api.rpc import TOO_DEEP
    assert parse_rpc(levels(1_000_000)) is TOO_DEEP
    assert parse_rpc(NORMAL) is not TOO_DEEP


def test_a_normal_body_costs_little() -> None:
    def per_call(fn: object, n: int = 20_000) -> float:
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(n):
                fn(NORMAL)  # type: ignore[operator]
            best = min(best, (time.perf_counter() - start) / n)
        return best
    check = per_call(too_deep)
    assert check < 2e-6, f"too_deep costs {check * 1e9:.0f} ns on a normal body"
    worst = time.perf_counter()
    assert too_deep(levels(2_500_000))  # 5 MB, the body limit: stops at level 65
    assert time.perf_counter() - worst < 0.5


def test_agrees_with_a_decoder_on_random_documents() -> None:
    """Random documents whose strings hold brackets, quotes and backslashes: too_deep
    says what the decoded document's depth says."""
    import random

    import orjson

    rng = random.Random(7)
    alphabet = '[]{}"\\ab,:'

    def text() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(6)))

    def doc(levels: int) -> object:
        """A document exactly ``levels`` deep, with strings beside each level."""
        if levels == 0:
            return text()
        inner = doc(levels - 1)
        if rng.random() < 0.5:
            return [text(), inner, text()][rng.randrange(2):]
        return {text(): text(), "k" + text(): inner}

    for _ in range(300):
        depth = rng.randrange(MAX_JSON_DEPTH - 3, MAX_JSON_DEPTH + 4)
        body = orjson.dumps(doc(depth))
        assert too_deep(body) is (depth > MAX_JSON_DEPTH), (depth, body[:80])
