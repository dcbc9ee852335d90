"""GET /api/v1/validations: the validation history, filtered and keyset-paginated.

Query parameters: kind (transaction | block | address), subject (a tx hash, block
number or address; its kind is inferred when kind is absent), valid (true | false),
reorged (true | false: validations whose block a reorg replaced), from / to (ISO 8601
times; from inclusive, to exclusive; no offset means UTC), limit
(1..500, default 50), cursor (the nextCursor of the previous page).
Every malformed parameter is a 400 VALIDATION_ERROR naming the field and the reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl

import msgspec

from ..errors import StoreUnavailable, ValidationError
from ..history import KINDS, MAX_LIMIT, HistoryQuery, HistorySource, decode_cursor
from ..validation import is_uint, parse_address, parse_tx_hash, parse_uint, shown_value
from .envelope import ok_body
from .http import Request, Response
from .routing import Route

__all__ = ["HistoryRoutes", "parse_history_query"]

_encode = msgspec.json.Encoder().encode
_PARAMS = frozenset({"kind", "subject", "valid", "reorged", "from", "to", "limit", "cursor"})


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


def parse_history_query(query: str) -> HistoryQuery:
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
    return HistoryQuery(kind=kind, subject=subject, valid=valid, since=since, until=until,
                        limit=limit, after=after, reorged=reorged)


class HistoryRoutes:
    """The history route over a source (the store's HistoryReader), or none when the
    store is off: the input is still checked, then the answer is a 503."""

    def __init__(self, source: HistorySource | None) -> None:
        self._source = source
        self.routes = [Route("/api/v1/validations", ("GET",), self.list_validations,
                             scope="history")]

    async def list_validations(self, req: Request) -> Response:
        query = parse_history_query(req.query)
        if self._source is None:
            raise StoreUnavailable("the validation history is off on this node (DB_ENABLED)",
                                   {"reason": "store_disabled"})
        page = await self._source.query(query)
        return Response(200, ok_body(_encode(page), req.request_id))
