"""How a WebSocket message the guard refused is answered: one error per call, with its
id (clients match answers by id), none for notifications, id null for what is not
JSON-RPC."""

from __future__ import annotations

import orjson

from bizra_node.api.rpc import parse_rpc
from bizra_node.api.ws import _refusal
from bizra_node.errors import RateLimitError

LIMITED = RateLimitError("rate limit exceeded", {"reason": "rate_limited"})


def answer(text: str) -> object:
    out = _refusal(parse_rpc(text), LIMITED)
    return None if out is None else orjson.loads(out)


def test_a_single_call_gets_its_id() -> None:
    got = answer('{"jsonrpc":"2.0","id":"a","method":"eth_chainId"}')
    assert got == {"jsonrpc": "2.0", "id": "a", "error": {
        "code": -32005, "message": "rate limit exceeded", "data": {"reason": "rate_limited"}}}
    # decoded as a plain dict (an extra member): the same
    assert answer('{"jsonrpc":"2.0","id":7,"method":"eth_chainId","x":1}')["id"] == 7  # type: ignore[index]


def test_notifications_are_not_answered() -> None:
    assert answer('{"jsonrpc":"2.0","method":"eth_chainId"}') is None
    assert answer('{"jsonrpc":"2.0","method":"eth_chainId","x":1}') is None
    assert answer('[{"jsonrpc":"2.0","method":"eth_chainId"}]') is None


def test_a_batch_gets_one_error_per_call_with_an_id() -> None:
    got = answer('[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"},'
                 '{"jsonrpc":"2.0","id":null,"method":"c"},3]')
    assert [a["id"] for a in got] == [1, None, None]  # type: ignore[union-attr, index]


def test_what_is_not_json_rpc_gets_id_null() -> None:
    for text in ("{nope", "[]", "42", '{"jsonrpc":"2.0","id":true,"method":"x"}'):
        got = answer(text)
        assert isinstance(got, dict) and got["id"] is None, text
