"""The validation routes' body parser: every kind of undecodable body gets its own
reason, whatever exception type the installed msgspec raises for it."""

from __future__ import annotations

import pytest

from bizra_node.api.http import Request
from bizra_node.api.inputs import TransactionRequest, json_input
from bizra_node.errors import ValidationError

parse = json_input(TransactionRequest, network_id=31337)
HASH = "0x" + "ab" * 32


def _reason(body: bytes) -> str:
    req = Request("POST", "/api/v1/validate/transaction", "",
                  {"content-type": "application/json"}.get, body, "rid")
    with pytest.raises(ValidationError) as caught:
        parse(req)
    return str(caught.value.details["reason"])


@pytest.mark.parametrize("body", [
    b'{"txHash": "0x\xff\xfe"}',                 # inside a string (msgspec 0.23: DecodeError)
    b'{"tx\xc3Hash": "' + HASH.encode() + b'"}',  # a truncated sequence inside a key
    b'{"txHash": "' + HASH.encode() + b'"}\xff',  # after the document
    b'\xef\xbb',                                 # a cut-off byte order mark
])
def test_invalid_utf8_is_named_whatever_msgspec_raises(body: bytes) -> None:
    assert _reason(body) == "invalid_utf8"


@pytest.mark.parametrize("body", [b'{"txHash": ', b"nul", b'{"txHash" "x"}',
                                  b'{"txHash": "' + HASH.encode() + b'",}',
                                  b'{"txHash": "' + HASH.encode() + b'"} \xc3\xa9'])
def test_valid_utf8_that_is_not_json_is_malformed_json(body: bytes) -> None:
    assert _reason(body) == "malformed_json"


def test_a_good_body_parses() -> None:
    req = Request("POST", "/x", "", {"content-type": "application/json"}.get,
                  b'{"txHash": "' + HASH.encode() + b'"}', "rid")
    assert parse(req).txHash == HASH


def _network_of(parse_it: object, body: bytes) -> object:
    req = Request("POST", "/x", "", {"content-type": "application/json"}.get, body, "rid")
    return parse_it(req)  # type: ignore[operator]


def test_a_served_network_may_be_named_and_another_is_refused() -> None:
    several = json_input(TransactionRequest, 31337, served=(31337, 10))
    tx = b'"txHash": "' + HASH.encode() + b'"'
    assert _network_of(several, b"{" + tx + b', "networkId": 10}').networkId == 10  # type: ignore[attr-defined]
    assert _network_of(several, b"{" + tx + b"}").networkId is None  # type: ignore[attr-defined]
    with pytest.raises(ValidationError) as caught:
        _network_of(several, b"{" + tx + b', "networkId": 5}')
    assert caught.value.details == {"reason": "unsupported_network", "networkId": 5,
                                    "served": [10, 31337]}
    with pytest.raises(ValidationError):  # one network alone: as before
        _network_of(parse, b"{" + tx + b', "networkId": 10}')


def test_a_path_network_is_not_overridden_by_the_body() -> None:
    """/api/v1/10/... with networkId 31337: neither network answers, and the 400 says
    the two disagree (not that the node does not serve 31337: it does)."""
    pinned = json_input(TransactionRequest, 10, pinned=True)
    tx = b'"txHash": "' + HASH.encode() + b'"'
    assert _network_of(pinned, b"{" + tx + b', "networkId": 10}').networkId == 10  # type: ignore[attr-defined]
    for other in (31337, 5):
        with pytest.raises(ValidationError) as caught:
            _network_of(pinned, b"{" + tx + b', "networkId": %d}' % other)
        assert caught.value.details == {"reason": "network_mismatch", "networkId": other,
                                        "pathNetworkId": 10}
        assert "not this path's network" in caught.value.message
