"""GET /api/v1/validations: the validation history, filtered and keyset-paginated.

Query parameters: kind (transaction | block | address), subject (a tx hash, block
number or address; its kind is inferred when kind is absent), valid (true | false),
reorged (true | false: validations whose block a reorg replaced), networkId (a chain id
the node serves; ``/api/v1/{networkId}/validations`` says it in the path), from / to (ISO 8601
times; from inclusive, to exclusive; no offset means UTC), limit
(1..500, default 50), cursor (the nextCursor of the previous page).
Every malformed parameter is a 400 VALIDATION_ERROR naming the field and the reason.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import msgspec

from ..errors import StoreUnavailable, ValidationError
from ..history import KINDS, MAX_LIMIT, HistoryQuery, HistorySource, decode_cursor
from ..validation import is_uint, parse_address, parse_tx_hash, parse_uint, shown_value
from .envelope import ok_body
from .http import Request, Response
from .inputs import network_mismatch, unknown_network
from .routing import Handler, Route

__all__ = ["HistoryRoutes", "parse_history_query"]

_encode = msgspec.json.Encoder().encode
_PARAMS = frozenset({"kind", "subject", "valid", "reorged", "from", "to", "limit", "cursor",
                     "networkId"})


def _bad(field: str, reason: str, value: object, message: str | None = None) -> ValidationError:
    return ValidationError(message or f"invalid {field}: {reason}",
                           {"field": field, "reason": reason, "value": shown_value(value)})


def _subject(kind: str | None, value: str) -> tuple[str, str]:
    """(kind, canonical subject) as the recorder stores it."""
    if kind is None:
        if is_uint(value):
            kind = "block"
        elif len(value) == 66:
            kind = "transaction"
        elif len(value) == 42:
            kind = "address"
        else:
            raise _bad("subject", "not a transaction hash, block number or address", value)
    if kind == "transaction":
        return kind, parse_tx_hash(value, "subject")
    if kind == "address":
        return kind, parse_address(value, "subject")
    if not is_uint(value):
        raise _bad("subject", "a block subject is a block number", value)
    return kind, str(parse_uint(value, "subject"))


def _flag(params: dict[str, str], name: str) -> bool | None:
    if name not in params:
        return None
    text = params[name].lower()
    if text not in ("true", "false"):
        raise _bad(name, "must be true or false", params[name])
    return text == "true"


def _time(field: str, value: str) -> datetime:
    """An ISO 8601 time in UTC; one whose offset takes it out of the years 1-9999 once
    in UTC (``9999-12-31T23:59-23:59``) is refused here, not by the database driver."""
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except ValueError:
        raise _bad(field, "not an ISO 8601 time", value) from None
    except OverflowError:
        raise _bad(field, "out of range once in UTC (years 1-9999)", value) from None


def parse_history_query(query: str, served: Collection[int] | None = None) -> HistoryQuery:
    """The query of ``query``; ``served``: the networks a ``networkId`` may name (None:
    any)."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=False,
                          max_num_fields=len(_PARAMS) + 1)
    except ValueError:
        raise _bad("query", "too many parameters", None) from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name not in _PARAMS:
            raise _bad(name, "unknown parameter", value, f"unknown query parameter {name[:50]!r}")
        if name in params:
            raise _bad(name, "given more than once", value)
        params[name] = value
    kind = params.get("kind")
    if kind is not None and kind not in KINDS:
        raise _bad("kind", "must be transaction, block or address", kind)
    subject = None
    if "subject" in params:
        kind, subject = _subject(kind, params["subject"])
    valid = _flag(params, "valid")
    reorged = _flag(params, "reorged")
    since = _time("from", params["from"]) if "from" in params else None
    until = _time("to", params["to"]) if "to" in params else None
    if since is not None and until is not None and since >= until:
        raise _bad("to", "must be later than from", params["to"])
    limit = 50
    if "limit" in params:
        text = params["limit"]
        if not is_uint(text) or len(text) > 3 or not 1 <= int(text) <= MAX_LIMIT:
            raise _bad("limit", f"must be an integer from 1 to {MAX_LIMIT}", text)
        limit = int(text)
    after = decode_cursor(params["cursor"]) if "cursor" in params else None
    network = None
    if "networkId" in params:
        text = params["networkId"]
        if not is_uint(text) or len(text) > 19:
            raise _bad("networkId", "must be a chain id (a decimal integer)", text)
        network = int(text)
        if served is not None and network not in served:
            raise unknown_network(network, served)
    return HistoryQuery(kind=kind, subject=subject, valid=valid, since=since, until=until,
                        limit=limit, after=after, reorged=reorged, network_id=network)


class HistoryRoutes:
    """The history route over a source (the store's HistoryReader), or none when the
    store is off: the input is still checked, then the answer is a 503. ``networks``:
    the chain ids served; with several, each has its own path too
    (``/api/v1/{networkId}/validations``: that network's alone)."""

    def __init__(self, source: HistorySource | None,
                 networks: Collection[int] | None = None) -> None:
        self._source = source
        self._served = frozenset(networks) if networks else None
        self.routes = [Route("/api/v1/validations", ("GET",), self.list_validations,
                             scope="history")]
        for network in sorted(self._served or ()):
            self.routes.append(Route(f"/api/v1/{network}/validations", ("GET",),
                                     self._network_lister(network), scope="history"))

    async def list_validations(self, req: Request) -> Response:
        return await self._list(parse_history_query(req.query, self._served), req)

    def _network_lister(self, network: int) -> Handler:
        async def list_network(req: Request) -> Response:
            query = parse_history_query(req.query)  # any other network: a mismatch
            if query.network_id is not None and query.network_id != network:
                raise network_mismatch(query.network_id, network)
            return await self._list(replace(query, network_id=network), req)

        return list_network

    async def _list(self, query: HistoryQuery, req: Request) -> Response:
        if self._source is None:
            raise StoreUnavailable("the validation history is off on this node (DB_ENABLED)",
                                   {"reason": "store_disabled"})
        page = await self._source.query(query)
        return Response(200, ok_body(_encode(page), req.request_id))
