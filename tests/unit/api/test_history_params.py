"""GET /api/v1/validations query parsing: every kind of bad filter is a 400
VALIDATION_ERROR naming the field and reason (checked before the store is asked)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from bizra_node.api.history import parse_history_query
from bizra_node.app import Node
from bizra_node.errors import ValidationError
from bizra_node.history import encode_cursor
from tests.conftest import make_settings, running_node

TX = "0x" + "ab" * 32
ADDR_LOWER = "0x" + "c0ffee" * 6 + "c0ff"
NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing answers


def test_defaults() -> None:
    q = parse_history_query("")
    assert (q.kind, q.subject, q.valid, q.since, q.until, q.limit, q.after) == (
        None, None, None, None, None, 50, None)


def test_all_filters() -> None:
    cursor = encode_cursor(1_700_000_000_000_000, b"\x01" * 16)
    q = parse_history_query(
        f"kind=transaction&subject={TX.upper().replace('0X', '0x')}&valid=false"
        f"&from=2024-01-01T00:00:00Z&to=2024-02-01&limit=500&cursor={cursor}&reorged=true")
    assert q.kind == "transaction" and q.subject == TX and q.valid is False
    assert q.reorged is True
    assert q.since == datetime(2024, 1, 1, tzinfo=UTC)
    assert q.until == datetime(2024, 2, 1, tzinfo=UTC)
    assert q.limit == 500 and q.after == (1_700_000_000_000_000, b"\x01" * 16)


@pytest.mark.parametrize(("query", "kind", "subject"), [
    (f"subject={TX}", "transaction", TX),
    ("subject=42", "block", "42"),
    (f"subject={ADDR_LOWER}", "address", None),
    ("kind=block&subject=0007", "block", "7"),
])
def test_subject_kind_is_inferred_and_canonical(query: str, kind: str, subject: str | None) -> None:
    q = parse_history_query(query)
    assert q.kind == kind
    if subject is not None:
        assert q.subject == subject
    else:
        assert q.subject is not None and q.subject.lower() == ADDR_LOWER


@pytest.mark.parametrize(("query", "field", "reason"), [
    ("kind=receipt", "kind", "must be transaction, block or address"),
    ("subject=hello", "subject", "not a transaction hash, block number or address"),
    ("kind=transaction&subject=0x12", "subject", "must be 0x followed by 64 hex digits (got 2)"),
    ("kind=address&subject=" + "0x" + "zz" * 20, "subject", "contains non-hex characters"),
    ("kind=block&subject=latest", "subject", "a block subject is a block number"),
    ("valid=yes", "valid", "must be true or false"),
    ("reorged=1", "reorged", "must be true or false"),
    ("reorged=true&reorged=false", "reorged", "given more than once"),
    ("from=yesterday", "from", "not an ISO 8601 time"),
    ("to=2024-13-01", "to", "not an ISO 8601 time"),
    ("from=2024-02-01&to=2024-01-01", "to", "must be later than from"),
    ("limit=0", "limit", "must be an integer from 1 to 500"),
    ("limit=501", "limit", "must be an integer from 1 to 500"),
    ("limit=ten", "limit", "must be an integer from 1 to 500"),
    ("cursor=!!!", "cursor", "malformed"),
    ("cursor=AAAA", "cursor", "malformed"),
    ("sort=asc", "sort", "unknown parameter"),
    ("kind=block&kind=address", "kind", "given more than once"),
])
def test_bad_filters(query: str, field: str, reason: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_history_query(query)
    assert info.value.details is not None
    assert info.value.details["field"] == field
    assert info.value.details["reason"] == reason


@pytest.fixture
async def node_client() -> AsyncIterator[tuple[Node, httpx.AsyncClient]]:
    """A node whose upstream is never asked (nothing listens there): these answers come
    before any upstream call."""
    async with running_node(make_settings(NOWHERE)) as pair:
        yield pair


async def test_bad_filter_is_a_400_envelope(node_client: tuple[Node, httpx.AsyncClient]) -> None:
    _, client = node_client
    resp = await client.get("/api/v1/validations", params={"limit": "9999"})
    assert resp.status_code == 400
    body = resp.json()
    assert body["success"] is False
    assert body["error"]["code"] == "VALIDATION_ERROR"
    assert body["error"]["details"]["field"] == "limit"
    assert body["meta"]["requestId"]


async def test_store_off_is_a_503(node_client: tuple[Node, httpx.AsyncClient]) -> None:
    _, client = node_client
    resp = await client.get("/api/v1/validations")
    assert resp.status_code == 503
    assert resp.json()["error"]["details"]["reason"] == "store_disabled"


def test_network_filter() -> None:
    assert parse_history_query("networkId=10").network_id == 10
    assert parse_history_query("").network_id is None
    assert parse_history_query("networkId=10", served={10, 31337}).network_id == 10
    with pytest.raises(ValidationError) as caught:
        parse_history_query("networkId=5", served={10, 31337})
    assert caught.value.details["reason"] == "unsupported_network"
    for bad in ("ten", "-1", "1" * 20, ""):
        with pytest.raises(ValidationError) as caught:
            parse_history_query(f"networkId={bad}")
        assert caught.value.details["field"] == "networkId"
